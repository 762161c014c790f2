package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/profile/internal/postgres"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/migrations"
)

// oneByOne is a profile.Store without ResolveMany: the Graph applies each
// resolution in a transaction of its own.
type oneByOne struct{ profile.Store }

func newVisitors(prefix string, n int) []profile.Request {
	reqs := make([]profile.Request, n)
	for i := range reqs {
		reqs[i] = profile.Request{Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: fmt.Sprintf("%s-%d", prefix, i)}}}
	}
	return reqs
}

// TestResolveManyIsolatesEntangledCalls checks that ResolveMany applies
// independent calls together and leaves out, with ErrEntangled, a call
// whose holder an earlier call of the transaction holds, and, with its own
// error, a call whose decision fails, without failing the others.
func TestResolveManyIsolatesEntangledCalls(t *testing.T) {
	ctx := context.Background()
	store := postgres.New(pgtest.NewPool(t, "profile", migrations.FS))
	g := profile.NewGraph(store, profile.Options{})
	known, err := g.Resolve(ctx, profile.Request{Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: "a"}, {Type: "user_id", Value: "u"}}})
	require.NoError(t, err)

	now := time.Now().UTC().Truncate(time.Microsecond)
	create := func(id string, ids ...profile.Identifier) func([]profile.Profile) (profile.Change, error) {
		return func(holders []profile.Profile) (profile.Change, error) {
			if len(holders) > 0 {
				return profile.Change{}, nil
			}
			return profile.Change{Create: &profile.Profile{ID: id, Identifiers: ids, CreateTime: now, UpdateTime: now}, ObserveTime: now}, nil
		}
	}
	x := profile.Identifier{Type: "anonymous_id", Value: "x"}
	y := profile.Identifier{Type: "anonymous_id", Value: "y"}
	a := profile.Identifier{Type: "anonymous_id", Value: "a"}
	u := profile.Identifier{Type: "user_id", Value: "u"}
	failed := fmt.Errorf("no")
	errs, err := store.ResolveMany(ctx, []profile.ResolveCall{
		{IDs: []profile.Identifier{x}, Decide: create("01900000-0000-7000-8000-000000000001", x)},
		{IDs: []profile.Identifier{a}, Decide: func(h []profile.Profile) (profile.Change, error) {
			require.Len(t, h, 1)
			require.Equal(t, known.Profile.ID, h[0].ID)
			return profile.Change{}, nil
		}},
		{IDs: []profile.Identifier{u}, Decide: func([]profile.Profile) (profile.Change, error) {
			t.Error("an entangled call is decided")
			return profile.Change{}, nil
		}},
		{IDs: []profile.Identifier{y}, Decide: func([]profile.Profile) (profile.Change, error) { return profile.Change{}, failed }},
	})
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil, profile.ErrEntangled, failed}, errs)
	got, err := g.Lookup(ctx, x)
	require.NoError(t, err)
	require.Equal(t, "01900000-0000-7000-8000-000000000001", got.ID)
	_, err = g.Lookup(ctx, y)
	require.Error(t, err)
}

// TestResolveBatchTogetherMatchesOneByOne checks that a batch of new
// visitors, a returning one and two requests joining profiles resolves to
// the same profiles, identifiers and merges whether the store applies
// unrelated resolutions together or one by one.
func TestResolveBatchTogetherMatchesOneByOne(t *testing.T) {
	ctx := context.Background()
	batch := append(newVisitors("v", 30),
		profile.Request{Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: "v-3"}, {Type: "user_id", Value: "u-3"}}},
		profile.Request{Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: "v-4"}, {Type: "anonymous_id", Value: "v-5"}}},
		profile.Request{Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: "v-7"}}, Traits: map[string]any{"plan": "gold"}},
	)
	shape := func(store profile.Store) []string {
		g := profile.NewGraph(store, profile.Options{})
		out, err := g.ResolveBatch(ctx, batch)
		require.NoError(t, err)
		var got []string
		for i, r := range out {
			require.NoError(t, r.Err, "request %d", i)
			p, err := g.Lookup(ctx, batch[i].Identifiers[0])
			require.NoError(t, err)
			got = append(got, fmt.Sprintf("%d: %d ids, %v, merged %d", i, len(p.Identifiers), p.Traits, len(r.Resolution.Merged)))
		}
		return got
	}
	together := shape(postgres.New(pgtest.NewPool(t, "profile", migrations.FS)))
	alone := shape(oneByOne{postgres.New(pgtest.NewPool(t, "profile", migrations.FS))})
	require.Equal(t, alone, together)
}

// BenchmarkResolveNewVisitors measures a ResolveBatch of 500 new visitors,
// each creating a profile, with the unrelated resolutions applied in one
// transaction (together) and, as the same-run baseline, in one transaction
// each (alone); it reports both rates and together/alone.
func BenchmarkResolveNewVisitors(b *testing.B) {
	ctx := context.Background()
	together := profile.NewGraph(postgres.New(pgtest.NewPool(b, "profile", migrations.FS)), profile.Options{})
	alone := profile.NewGraph(oneByOne{postgres.New(pgtest.NewPool(b, "profile", migrations.FS))}, profile.Options{})
	const n = 500
	var togetherTime, aloneTime time.Duration
	for i := 0; b.Loop(); i++ {
		for _, run := range []struct {
			g    *profile.Graph
			took *time.Duration
		}{{together, &togetherTime}, {alone, &aloneTime}} {
			start := time.Now()
			out, err := run.g.ResolveBatch(ctx, newVisitors(fmt.Sprint("b", i), n))
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range out {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			*run.took += time.Since(start)
		}
	}
	total := float64(b.N * n)
	b.ReportMetric(total/togetherTime.Seconds(), "together-resolutions/s")
	b.ReportMetric(total/aloneTime.Seconds(), "alone-resolutions/s")
	b.ReportMetric(aloneTime.Seconds()/togetherTime.Seconds(), "together/alone")
}
