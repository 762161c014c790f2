// Command profile runs the Barista profile service: `profile [flags]`
// serves, `profile migrate [flags]` applies its migrations. Besides the
// flags every service takes, `--rules FILE` (env BARISTA_PROFILE_RULES)
// names a YAML or JSON file of merge rules.
package main

import (
	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/profile/service"
)

func main() { app.Main(service.Spec) }
