// Command barista is the command-line client of the Barista suite and its
// single-process development server (`barista dev`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/barista-cdp/barista/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
