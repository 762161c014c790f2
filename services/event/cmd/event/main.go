// Command event runs the Barista event service: the append-only event log,
// its gRPC API and the Segment-compatible HTTP API.
package main

import (
	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/event/service"
)

func main() { app.Main(service.Spec) }
