package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/profile/internal/postgres"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/internal/storetest"
	"github.com/barista-cdp/barista/services/profile/migrations"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) profile.Store {
		return postgres.New(pgtest.NewPool(t, "profile", migrations.FS))
	})
}

// BenchmarkResolve measures resolutions against Postgres: "new" creates a
// profile per call (the locking path), "known" resolves an existing visitor
// (the lock-free path most events take).
func BenchmarkResolve(b *testing.B) {
	g := profile.NewGraph(postgres.New(pgtest.NewPool(b, "profile", migrations.FS)), profile.Options{})
	ctx := context.Background()
	b.Run("new", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_, err := g.Resolve(ctx, profile.Request{Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: fmt.Sprint("new-", i)}}})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("known", func(b *testing.B) {
		known := profile.Request{Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: "known"}, {Type: "user_id", Value: "42"}}}
		if _, err := g.Resolve(ctx, known); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := g.Resolve(ctx, known); err != nil {
				b.Fatal(err)
			}
		}
	})
}
