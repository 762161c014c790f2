package pg_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/pkg/pgtest"
)

func TestSpanName(t *testing.T) {
	require.Equal(t, "InsertEvents", pg.SpanName("-- name: InsertEvents :exec\nINSERT INTO event.events ..."))
	require.Equal(t, "SELECT", pg.SpanName("  select * from x where email = $1"))
	require.Equal(t, "query", pg.SpanName("   "))
}

var migrations = fstest.MapFS{
	"00001_init.sql": {Data: []byte(`-- +goose Up
CREATE TABLE demo.things (id bigint PRIMARY KEY);
-- +goose Down
DROP TABLE demo.things;
`)},
	"00002_more.sql": {Data: []byte(`-- +goose Up
ALTER TABLE demo.things ADD COLUMN name text;
-- +goose Down
ALTER TABLE demo.things DROP COLUMN name;
`)},
}

// TestMigrateConcurrently starts several migrators at once, as replicas
// starting together do: the advisory lock lets exactly one apply each version.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	pool, err := pg.Connect(ctx, pgtest.NewDatabase(t), 8)
	require.NoError(t, err)
	defer pool.Close()

	var g errgroup.Group
	for range 4 {
		g.Go(func() error { return pg.Migrate(ctx, pool, "demo", migrations) })
	}
	require.NoError(t, g.Wait())

	var versions int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM demo.goose_db_version WHERE version_id > 0`).Scan(&versions))
	require.Equal(t, 2, versions)
	_, err = pool.Exec(ctx, `INSERT INTO demo.things (id, name) VALUES (1, 'x')`)
	require.NoError(t, err)

	// Applying again is a no-op.
	require.NoError(t, pg.Migrate(ctx, pool, "demo", migrations))
}

func TestInTxRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t, "demo", migrations)
	boom := context.Canceled
	err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO demo.things (id) VALUES (1)`); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM demo.things`).Scan(&n))
	require.Zero(t, n)
}
