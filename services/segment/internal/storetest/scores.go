package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func testScores(t *testing.T, s segment.Store) {
	ctx := context.Background()
	st, err := s.StoreStatistics(ctx)
	require.NoError(t, err)
	require.Zero(t, st, "no statistics before the first refresh")
	got, err := s.ProfileScores(ctx, []string{"profiles/a"})
	require.NoError(t, err)
	require.Empty(t, got)

	a := condition.RFM{Recency: 5, Frequency: 4, Monetary: 3, RecencyDays: 2, Orders: 7, Revenue: 350.25}
	b := condition.RFM{Recency: 1, Frequency: 1, Monetary: 1, RecencyDays: 300, Orders: 1, Revenue: 9.5}
	stats := condition.StoreStatistics{AverageOrderValue: 51.5, P25: 10, P50: 40.5, P75: 60, P90: 99.9, P99: 200, Orders: 8, Customers: 2}
	replace := func(scores map[string]condition.RFM) []string {
		t.Helper()
		var changed []string
		require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
			var err error
			changed, err = tx.ReplaceScores(ctx, scores)
			return err
		}))
		return changed
	}
	require.Equal(t, []string{"profiles/a", "profiles/b"}, replace(map[string]condition.RFM{"profiles/b": b, "profiles/a": a}))
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
		if err := tx.SetStoreStatistics(ctx, stats); err != nil {
			return err
		}
		got, err := tx.StoreStatistics(ctx)
		require.Equal(t, stats, got, "a transaction reads its own writes")
		return err
	}))
	st, err = s.StoreStatistics(ctx)
	require.NoError(t, err)
	require.Equal(t, stats, st)
	got, err = s.ProfileScores(ctx, []string{"profiles/a", "profiles/b", "profiles/nobody"})
	require.NoError(t, err)
	require.Equal(t, map[string]condition.RFM{"profiles/a": a, "profiles/b": b}, got)

	// Only what differs is reported: b changed, c is new, a stays.
	b2 := b
	b2.RecencyDays++
	c := condition.RFM{Recency: 3, Frequency: 3, Monetary: 3, RecencyDays: 30, Orders: 2, Revenue: 80}
	require.Equal(t, []string{"profiles/b", "profiles/c"}, replace(map[string]condition.RFM{"profiles/a": a, "profiles/b": b2, "profiles/c": c}))
	require.Empty(t, replace(map[string]condition.RFM{"profiles/a": a, "profiles/b": b2, "profiles/c": c}), "the same scores change nothing")
	// Profiles absent from a refresh lose their scores.
	require.Equal(t, []string{"profiles/a", "profiles/b"}, replace(map[string]condition.RFM{"profiles/c": c}))
	got, err = s.ProfileScores(ctx, []string{"profiles/a", "profiles/b", "profiles/c"})
	require.NoError(t, err)
	require.Equal(t, map[string]condition.RFM{"profiles/c": c}, got)

	// A failed transaction leaves the scores as they were.
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx segment.Tx) error {
		if _, err := tx.ReplaceScores(ctx, map[string]condition.RFM{"profiles/a": a}); err != nil {
			return err
		}
		if err := tx.SetStoreStatistics(ctx, condition.StoreStatistics{}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	got, err = s.ProfileScores(ctx, []string{"profiles/a", "profiles/c"})
	require.NoError(t, err)
	require.Equal(t, map[string]condition.RFM{"profiles/c": c}, got)
	st, err = s.StoreStatistics(ctx)
	require.NoError(t, err)
	require.Equal(t, stats, st)
	require.Equal(t, []string{"profiles/c"}, replace(nil), "an empty refresh removes every score")
}

func testEngineScores(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	for _, sg := range []segment.Segment{
		{ID: "buyers", Condition: `count("Order Completed") >= 1`},
		{ID: "champions", Condition: `rfm.recency >= 4 && rfm.frequency >= 4`},
		{ID: "loyal-champions", Condition: `in_segment("champions") && count("Order Completed") >= 2`},
		{ID: "big-spenders", Condition: `store.customers > 0 && sum("Order Completed", "revenue") > 2.0 * store.avg_order_value`},
	} {
		_, err := e.CreateSegment(ctx, sg)
		require.NoError(t, err)
	}
	const ana, bob, cy = "profiles/ana", "profiles/bob", "profiles/cy"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(1, ana, t0, 10), order(2, ana, t0, 10), order(3, bob, t0, 100)}))
	require.Equal(t, []string{"buyers"}, members(t, e, ana), "no scores before the first refresh")
	require.Equal(t, []string{"buyers"}, members(t, e, bob))
	before := len(allChanges(t, s))

	champion := condition.RFM{Recency: 5, Frequency: 5, Monetary: 2, RecencyDays: 0, Orders: 2, Revenue: 20}
	apply := func(sc segment.Scores) segment.ScoresResult {
		t.Helper()
		r, err := e.ApplyScores(ctx, sc)
		require.NoError(t, err)
		return r
	}
	scores := segment.Scores{
		Store: condition.StoreStatistics{AverageOrderValue: 40, Orders: 3, Customers: 2},
		RFM: map[string]condition.RFM{
			ana: champion,
			bob: {Recency: 3, Frequency: 1, Monetary: 5, Orders: 1, Revenue: 100},
			// cy has scores but no event yet: the segment service does not
			// know it.
			cy: {Recency: 5, Frequency: 5, Monetary: 5, Orders: 9, Revenue: 900},
		},
	}
	r := apply(scores)
	require.Equal(t, segment.ScoresResult{Profiles: 3, StoreChanged: true, Changes: 3}, r)
	changes := allChanges(t, s)[before:]
	require.ElementsMatch(t, []string{
		"entered big-spenders scores refreshed", "entered champions scores refreshed", "entered loyal-champions scores refreshed",
	}, describe(changes))
	require.Equal(t, []string{"buyers", "champions", "loyal-champions"}, members(t, e, ana))
	require.Equal(t, []string{"big-spenders", "buyers"}, members(t, e, bob), "100 > 2 × 40")
	require.Empty(t, members(t, e, cy))

	require.Equal(t, segment.ScoresResult{}, apply(scores), "the same scores change nothing")

	// A higher average order value takes bob out; ana's scores stay.
	scores.Store.AverageOrderValue = 60
	require.Equal(t, segment.ScoresResult{StoreChanged: true, Changes: 1}, apply(scores))
	require.Equal(t, []string{"buyers"}, members(t, e, bob))

	// Ana's recency drops: she leaves champions, and loyal-champions with it.
	scores.RFM[ana] = condition.RFM{Recency: 2, Frequency: 5, Monetary: 2, RecencyDays: 200, Orders: 2, Revenue: 20}
	require.Equal(t, segment.ScoresResult{Profiles: 1, Changes: 2}, apply(scores))
	require.Equal(t, []string{"buyers"}, members(t, e, ana))

	// Events are evaluated with the stored scores: cy's first event makes
	// it a champion at once, and ana's next order leaves her out.
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(4, cy, t0, 5), order(5, ana, t0, 10)}))
	require.Equal(t, []string{"buyers", "champions"}, members(t, e, cy))
	require.Equal(t, []string{"buyers"}, members(t, e, ana))
	last := allChanges(t, s)
	require.Equal(t, "event events/4", last[len(last)-1].Reason)

	// A preview reads them too, and so does a new segment's backfill.
	p, err := e.PreviewSegment(ctx, `rfm.cell == "555" || sum("Order Completed", "revenue") > store.avg_order_value`, 10)
	require.NoError(t, err)
	require.Equal(t, []string{bob, cy}, p.Sample)
	_, err = e.CreateSegment(ctx, segment.Segment{ID: "at-risk", Condition: `rfm.recency <= 2 && rfm.frequency >= 3`})
	require.NoError(t, err)
	require.Equal(t, []string{"at-risk", "buyers"}, members(t, e, ana))
}

// templateScores are the scores that, with its stream of events, make each
// template's profile enter the template's segment, for the templates that
// read rfm.* or store.*.
func templateScores() segment.Scores {
	cell := func(r, f, m int) condition.RFM {
		return condition.RFM{Recency: r, Frequency: f, Monetary: m, Orders: 1, Revenue: 20}
	}
	return segment.Scores{
		// high-value-repeat: 2 orders of 200 in 180 days ≥ 3 × 100.
		Store: condition.StoreStatistics{AverageOrderValue: 100, P50: 80, Orders: 40, Customers: 20},
		RFM: map[string]condition.RFM{
			"profiles/rfm-champions":     cell(5, 5, 4),
			"profiles/rfm-loyal":         cell(3, 5, 3),
			"profiles/rfm-new-customers": cell(5, 1, 2),
			"profiles/rfm-at-risk":       cell(2, 4, 4),
			"profiles/rfm-hibernating":   cell(1, 1, 1),
		},
	}
}
