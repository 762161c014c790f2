// Command metrics runs the Barista metrics service: per-segment KPIs over
// time, fed by the segment service's membership changes and the event
// service's log.
package main

import (
	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/metrics/service"
)

func main() { app.Main(service.Spec) }
