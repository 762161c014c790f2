// Command segment runs the Barista segment service.
package main

import (
	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/segment/service"
)

func main() { app.Main(service.Spec) }
