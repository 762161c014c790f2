// Package pg connects Barista services to Postgres through pgx/v5, traced with
// otelpgx, and applies each service's embedded goose migrations to its own
// schema under an advisory lock.
package pg

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// Connect opens a pool to url with tracing. maxConns caps the pool when
// positive. The pool is pinged before it is returned.
func Connect(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithSpanNameFunc(SpanName))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres at %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

var queryName = regexp.MustCompile(`^\s*-- name: (\w+)`)

// SpanName names a query's span after its "-- name: X" comment, the way
// sqlc labels queries, or else after its first keyword. Parameters never
// appear in span names.
func SpanName(stmt string) string {
	if m := queryName.FindStringSubmatch(stmt); m != nil {
		return m[1]
	}
	if f := strings.Fields(stmt); len(f) > 0 {
		return strings.ToUpper(f[0])
	}
	return "query"
}

// Migrate applies the goose migrations in fsys to schema, creating the
// schema when needed and recording versions in schema.goose_db_version. A
// session advisory lock keyed by the schema serializes concurrent migrators
// (replicas starting together), so Migrate is safe to run from every replica.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, fsys fs.FS) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	defer conn.Release()
	key := lockKey("barista.migrate." + schema)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("migrate %s: take lock: %w", schema, err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx ended.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("migrate %s: create schema: %w", schema, err)
	}
	store, err := database.NewStore(database.DialectPostgres, schema+".goose_db_version")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectCustom, db, fsys, goose.WithStore(store), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	return nil
}

func lockKey(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}

// InTx runs fn in a transaction that is committed when fn returns nil and
// rolled back otherwise.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}
