package match_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/pkg/storegen"
	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// storegenPopulation resolves the events of a generated store through the
// identity graph, recording each event's signals as the event service
// does, and returns the resulting profiles as records with the person each
// belongs to (by the generator's truth).
func storegenPopulation(t testing.TB, customers int) population {
	t.Helper()
	ctx := context.Background()
	gen, err := storegen.New(storegen.Config{Customers: customers, Seed: 7,
		Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	graph := profile.NewGraph(memory.New(), profile.Options{})
	m := match.New(graph, graph.MatchStore(), match.Options{})
	personOf := map[string]int{}
	for i := range customers {
		truth, err := gen.Customer(i, func(ev *eventv1.Event) error {
			var req profile.Request
			for _, id := range ev.GetIdentifiers() {
				norm, err := ident.Normalize(id)
				if err != nil {
					continue
				}
				req.Identifiers = append(req.Identifiers, profile.Identifier{Type: norm.GetType(), Value: norm.GetValue()})
			}
			if len(req.Identifiers) == 0 {
				return nil
			}
			if ev.GetType() == eventv1.EventType_EVENT_TYPE_IDENTIFY {
				req.Traits = ev.GetTraits().AsMap()
			}
			req.ObserveTime = ev.GetTimestamp().AsTime()
			res, err := graph.Resolve(ctx, req)
			if err != nil {
				return nil // blocked values are the rules' business, not matching's
			}
			c := ev.GetContext().AsMap()
			o := match.Observation{}
			o.IP, _ = c["ip"].(string)
			o.UserAgent, _ = c["userAgent"].(string)
			if d, ok := c["device"].(map[string]any); ok {
				o.Fingerprint, _ = d["fingerprint"].(string)
			}
			return m.Observe(ctx, res.Profile, o)
		})
		require.NoError(t, err)
		for _, id := range truth.Identifiers {
			personOf[id] = i
		}
	}
	var pop population
	after := ""
	for {
		page, next, err := graph.List(ctx, after, 1000)
		require.NoError(t, err)
		for _, p := range page {
			r := match.Record{ID: p.ID}
			for _, id := range p.Identifiers {
				switch id.Type {
				case ident.UserID:
					r.UserID = id.Value
				case ident.Email:
					r.Emails = append(r.Emails, id.Value)
				}
			}
			sigs, err := graph.MatchStore().MatchSignals(ctx, []string{p.ID})
			require.NoError(t, err)
			if len(sigs) == 1 {
				s := sigs[0]
				r.Fingerprint, r.IP, r.UserAgent, r.Name, r.Postcode = s.Fingerprint, s.IP, s.UserAgent, s.Name, s.Postcode
			}
			person, ok := personOf[p.Identifiers[0].String()]
			require.True(t, ok, "identifier %s is in no customer's truth", p.Identifiers[0])
			pop.records = append(pop.records, r)
			pop.person = append(pop.person, person)
		}
		if next == "" {
			return pop
		}
		after = next
	}
}

// TestQualityStoregen measures matching on the generated store, whose
// probabilistic-only links (same IP and user agent; name and postcode on an
// anonymous identify) are the pairs that identity rules cannot join. It
// reports the numbers and checks that automatic merges stay precise and that
// review finds some of the links, mostly right: the generator's signals
// differ from the synthetic population's (no fingerprint on web browsers,
// latest IP only), so its recall is reported, not held to a floor.
func TestQualityStoregen(t *testing.T) {
	if testing.Short() {
		t.Skip("resolves a generated store's events")
	}
	pop := storegenPopulation(t, 600)
	th := match.DefaultThresholds()
	th.AutoMerge = true
	pairs := match.Link(pop.records, match.DefaultModel(), th, match.DefaultMaxBlock)
	auto, reviewed, queue := pop.evaluate(pairs)
	ceiling := pop.ceiling(pairs)
	t.Logf("storegen: %d profiles after rule-based resolution, %d pairs to find, %d candidate pairs, blocking ceiling recall %.3f",
		len(pop.records), pop.truePairs(), len(pairs), ceiling.recall())
	t.Logf("  automatic merges:   %s", auto)
	t.Logf("  automatic + review: %s (review queue %d pairs, %.3f of them true)", reviewed, queue, reviewPrecision(auto, reviewed, queue))
	require.Positive(t, pop.truePairs(), "the generated store must leave pairs for matching")
	require.GreaterOrEqual(t, auto.precision(), floorAutoPrecision, "precision of automatic merges")
	// The generator's links carry weak evidence only, so they land in review:
	// the queue must find some of them, and be mostly right.
	require.Positive(t, queue, "the generated store's links reach the review queue")
	require.Positive(t, reviewed.correct, "review finds some of the generated store's links")
	require.GreaterOrEqual(t, reviewPrecision(auto, reviewed, queue), floorReviewPrecision, "share of true matches in the review queue")
}
