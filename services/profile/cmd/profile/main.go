// Command profile runs the Barista profile service: `profile [flags]`
// serves, `profile migrate [flags]` applies its migrations.
package main

import (
	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/profile/service"
)

func main() { app.Main(service.Spec) }
