package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// BenchmarkTraitChange measures what recording trait changes costs a
// resolution that changes a known profile. Each iteration creates two
// profiles, then times a call that sets a trait on one (the profile's update
// plus one trait change row, in the same round trip) and the baseline, a
// call that links a new identifier to the other (the profile's update plus
// one identifier row); it reports the ratio of their total times as
// trait/link.
func BenchmarkTraitChange(b *testing.B) {
	g := profile.NewGraph(postgres.New(pgtest.NewPool(b, "profile", migrations.FS)), profile.Options{})
	ctx := context.Background()
	resolve := func(req profile.Request) time.Duration {
		start := time.Now()
		if _, err := g.Resolve(ctx, req); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var trait, link time.Duration
	for i := 0; b.Loop(); i++ {
		a := profile.Identifier{Type: "user_id", Value: fmt.Sprint("a-", i)}
		c := profile.Identifier{Type: "user_id", Value: fmt.Sprint("b-", i)}
		resolve(profile.Request{Identifiers: []profile.Identifier{a}})
		resolve(profile.Request{Identifiers: []profile.Identifier{c}})
		trait += resolve(profile.Request{Identifiers: []profile.Identifier{a}, Traits: map[string]any{"plan": "gold"}, Source: fmt.Sprint("m-", i)})
		link += resolve(profile.Request{Identifiers: []profile.Identifier{c, {Type: "cart_id", Value: fmt.Sprint("c-", i)}}})
	}
	b.ReportMetric(float64(trait)/float64(link), "trait/link")
	b.ReportMetric(float64(trait.Microseconds())/float64(b.N), "trait-us/op")
	b.ReportMetric(float64(link.Microseconds())/float64(b.N), "link-us/op")
}
