// Command event runs the Barista event service: the append-only event log.
//
// Beside the flags every service takes, it reads --normalization FILE (or
// the environment variable BARISTA_EVENT_NORMALIZATION): the normalization
// rules, JSON or YAML.
package main

import (
	"fmt"
	"os"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/event/service"
)

func main() {
	args, err := service.NormalizationFlag(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "event: %v\n", err)
		os.Exit(2)
	}
	os.Args = append(os.Args[:1], args...)
	app.Main(service.Spec)
}
