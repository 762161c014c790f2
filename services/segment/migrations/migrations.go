// Package migrations holds the goose migrations of the segment schema.
package migrations

import "embed"

// FS holds the migrations, applied by pg.Migrate to the "segment" schema.
//
//go:embed *.sql
var FS embed.FS
