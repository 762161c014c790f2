// Package migrations holds the metrics service's goose migrations for the
// "metrics" schema, embedded in the binary.
package migrations

import "embed"

// FS holds the migrations, applied in file-name order by pg.Migrate.
//
//go:embed *.sql
var FS embed.FS
