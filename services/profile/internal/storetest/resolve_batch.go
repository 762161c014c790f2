package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// runResolveBatch runs the conformance tests of Graph.ResolveBatch, which
// compare a batch with the same requests resolved one by one on a second
// store, under the default rules (limits, blocked values, shared devices).
func runResolveBatch(t *testing.T, newStore func(t *testing.T) profile.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, newGraph func(t *testing.T) (*profile.Graph, *countingStore))
	}{
		{"ResolveBatchEqualsOneByOne", testResolveBatchEqualsOneByOne},
		{"ResolveBatchKnownWritesNothing", testResolveBatchKnownWritesNothing},
		{"ResolveBatchItemErrors", testResolveBatchItemErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, func(t *testing.T) (*profile.Graph, *countingStore) {
				store := &countingStore{Store: newStore(t)}
				clock := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
				return profile.NewGraph(store, profile.Options{Now: clock.now, Policy: profile.DefaultPolicy()}), store
			})
		})
	}
}

// countingStore counts the calls that may write.
type countingStore struct {
	profile.Store
	resolves atomic.Int64
	holders  atomic.Int64
}

func (s *countingStore) Resolve(ctx context.Context, ids []profile.Identifier, decide func([]profile.Profile) (profile.Change, error)) error {
	s.resolves.Add(1)
	return s.Store.Resolve(ctx, ids, decide)
}

func (s *countingStore) Holders(ctx context.Context, ids []profile.Identifier) ([]profile.Profile, error) {
	s.holders.Add(1)
	return s.Store.Holders(ctx, ids)
}

// batchRequest is a request with identifiers in text form, seen at minute
// minute of the test's day.
func batchRequest(minute int, traits map[string]any, identifiers ...string) profile.Request {
	return profile.Request{
		Identifiers: ids(identifiers...),
		Traits:      traits,
		ObserveTime: time.Date(2026, 3, 1, 10, minute, 0, 0, time.UTC),
	}
}

// outcome is a BatchResult in a form that two stores can agree on: profile
// ids renamed in order of appearance and the clock's times left out.
type outcome struct {
	Err         string
	Profile     string
	Created     bool
	Merged      []string
	Ignored     []string
	Identifiers []string
	Shared      []string
	Traits      map[string]any
	Links       map[string]time.Time
}

// renamer names profile ids p1, p2, ... in order of first appearance.
type renamer map[string]string

func (r renamer) name(id string) string {
	if _, ok := r[id]; !ok {
		r[id] = fmt.Sprintf("p%d", len(r)+1)
	}
	return r[id]
}

func (r renamer) outcome(res profile.Resolution, err error) outcome {
	if err != nil {
		code := "error"
		var invalid *apierror.InvalidError
		if errors.As(err, &invalid) {
			code = "invalid"
		}
		return outcome{Err: code + ": " + err.Error()}
	}
	o := outcome{Profile: r.name(res.Profile.ID), Created: res.Created, Identifiers: texts(res.Profile.Identifiers),
		Shared: texts(res.Profile.Shared()), Traits: res.Profile.Traits, Links: map[string]time.Time{}}
	for _, m := range res.Merged {
		o.Merged = append(o.Merged, r.name(m))
	}
	for _, ig := range res.Ignored {
		o.Ignored = append(o.Ignored, ig.Rule+" "+ig.Identifier.String())
	}
	for id, l := range res.Profile.Links {
		o.Links[id.String()] = l.ObserveTime
	}
	return o
}

// state is every live profile and its merges of a graph, renamed, sorted:
// unrelated profiles that a batch creates in parallel may be created in
// another order than one by one.
func (r renamer) state(t *testing.T, g *profile.Graph) []string {
	t.Helper()
	var out []string
	for _, p := range listAll(t, g) {
		line := fmt.Sprintf("%s %v shared=%v traits=%v", r.name(p.ID), texts(p.Identifiers), texts(p.Shared()), p.Traits)
		merges, err := g.Merges(context.Background(), p.ID)
		require.NoError(t, err)
		for _, m := range merges {
			line += fmt.Sprintf("; merge %s<-%s %s %v %v", r.name(m.Survivor), r.name(m.Merged), m.Rule, texts(m.Trigger), texts(m.Identifiers))
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

// testResolveBatchEqualsOneByOne resolves one batch that creates, links,
// merges, sets traits, hits limits, blocked values and shared devices, and
// repeats identifiers across its requests, and the same requests one by one
// on another store: each result and the final graph are the same.
func testResolveBatchEqualsOneByOne(t *testing.T, newGraph func(t *testing.T) (*profile.Graph, *countingStore)) {
	ctx := context.Background()
	before := []profile.Request{
		batchRequest(0, map[string]any{"plan": "gold"}, "user_id:old", "anonymous_id:old"),
		batchRequest(1, nil, "anonymous_id:lonely"),
		batchRequest(2, nil, "user_id:u9", "device_id:family-tablet"),
	}
	reqs := []profile.Request{
		batchRequest(10, nil, "anonymous_id:a1"),
		batchRequest(11, nil, "anonymous_id:a1"),
		batchRequest(12, map[string]any{"plan": "free"}, "anonymous_id:a2"),
		batchRequest(13, nil, "user_id:old"),
		batchRequest(14, nil, "user_id:u1", "anonymous_id:a1"),
		batchRequest(15, nil, "anonymous_id:old"),
		batchRequest(16, nil, "user_id:u1", "anonymous_id:a2"),
		batchRequest(17, nil, "user_id:0"),
		batchRequest(18, nil, "user_id:u2", "anonymous_id:a1"),
		batchRequest(19, map[string]any{"plan": "silver", "age": 40.0}, "anonymous_id:a1"),
		batchRequest(20, nil),
		batchRequest(21, nil, "user_id:u1", "device_id:family-tablet"),
		batchRequest(22, nil, "anonymous_id:lonely", "email:ana@example.com", "anonymous_id:lonely"),
		batchRequest(23, nil, "device_id:family-tablet"),
		batchRequest(24, map[string]any{"plan": "gold"}, "user_id:old"),
		batchRequest(25, nil, "anonymous_id:new-1", "user_id:0"),
		batchRequest(26, nil, "anonymous_id:lonely"),
	}
	for i := 1; i <= 6; i++ {
		reqs = append(reqs, batchRequest(30+i, nil, "user_id:u1", fmt.Sprintf("anonymous_id:many-%d", i)))
	}

	batch, _ := newGraph(t)
	single, _ := newGraph(t)
	for _, g := range []*profile.Graph{batch, single} {
		for _, req := range before {
			_, err := g.Resolve(ctx, req)
			require.NoError(t, err)
		}
	}
	// Name the profiles made before the batch alike on both stores.
	batchNames, singleNames := renamer{}, renamer{}
	require.Equal(t, singleNames.state(t, single), batchNames.state(t, batch))
	results, err := batch.ResolveBatch(ctx, reqs)
	require.NoError(t, err)
	require.Len(t, results, len(reqs))

	for i, req := range reqs {
		res, err := single.Resolve(ctx, req)
		want := singleNames.outcome(res, err)
		got := batchNames.outcome(results[i].Resolution, results[i].Err)
		require.Equal(t, want, got, "request %d %v", i, texts(req.Identifiers))
	}
	require.Equal(t, singleNames.state(t, single), batchNames.state(t, batch))
}

// testResolveBatchKnownWritesNothing resolves a batch of known visitors'
// identifiers: one snapshot read answers all of it, nothing is written, and
// the answers are the stored profiles.
func testResolveBatchKnownWritesNothing(t *testing.T, newGraph func(t *testing.T) (*profile.Graph, *countingStore)) {
	ctx := context.Background()
	g, store := newGraph(t)
	var reqs []profile.Request
	for i := range 50 {
		req := batchRequest(i%60, map[string]any{"n": float64(i % 5)}, fmt.Sprintf("user_id:u%d", i%5), fmt.Sprintf("anonymous_id:a%d", i%5))
		if i < 5 {
			_, err := g.Resolve(ctx, req)
			require.NoError(t, err)
		}
		reqs = append(reqs, req)
	}
	store.resolves.Store(0)
	store.holders.Store(0)
	results, err := g.ResolveBatch(ctx, reqs)
	require.NoError(t, err)
	require.Zero(t, store.resolves.Load(), "known identifiers with unchanged traits write nothing")
	require.Equal(t, int64(1), store.holders.Load(), "one snapshot read for the batch")
	for i, r := range results {
		require.NoError(t, r.Err)
		require.False(t, r.Resolution.Created)
		require.Equal(t, lookup(t, g, fmt.Sprintf("user_id:u%d", i%5)), r.Resolution.Profile)
	}

	// A request that changes a profile sends it, and the later requests on
	// that profile, through the store's Resolve; the others stay read-only.
	reqs[10].Traits = map[string]any{"n": 99.0}
	store.resolves.Store(0)
	results, err = g.ResolveBatch(ctx, reqs)
	require.NoError(t, err)
	require.Equal(t, int64(2), store.resolves.Load(), "only the change and the next request on its profile, which undoes it, write")
	require.Equal(t, map[string]any{"n": 99.0}, results[10].Resolution.Profile.Traits)
	require.Equal(t, map[string]any{"n": 0.0}, results[15].Resolution.Profile.Traits, "a later request sets the traits back, after the change")
	require.Equal(t, map[string]any{"n": 0.0}, lookup(t, g, "user_id:u0").Traits)
}

// testResolveBatchItemErrors checks that bad requests fail alone and that a
// batch over the limit fails as a whole.
func testResolveBatchItemErrors(t *testing.T, newGraph func(t *testing.T) (*profile.Graph, *countingStore)) {
	ctx := context.Background()
	g, _ := newGraph(t)
	results, err := g.ResolveBatch(ctx, []profile.Request{
		batchRequest(1, nil, "user_id:0"),
		batchRequest(2, nil, "anonymous_id:ok"),
		batchRequest(3, nil),
		batchRequest(4, nil, "anonymous_id:ok", "email:test@example.com"),
	})
	require.NoError(t, err)
	var invalid *apierror.InvalidError
	require.ErrorAs(t, results[0].Err, &invalid)
	require.Equal(t, "identifiers[0]", invalid.Violations[0].Field)
	require.NoError(t, results[1].Err)
	require.True(t, results[1].Resolution.Created)
	require.ErrorAs(t, results[2].Err, &invalid)
	require.NoError(t, results[3].Err)
	require.Equal(t, results[1].Resolution.Profile.ID, results[3].Resolution.Profile.ID)
	require.Equal(t, []string{"blocked email:test@example.com"}, renamer{}.outcome(results[3].Resolution, nil).Ignored)

	_, err = g.ResolveBatch(ctx, make([]profile.Request, profile.MaxResolveBatch+1))
	require.ErrorAs(t, err, &invalid)
}
