package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func named(seq int64, profile, name string, at time.Time) segment.Event {
	return segment.Event{Seq: seq, Resource: fmt.Sprintf("events/%d", seq), Profile: profile, Name: name, Time: at}
}

// testEngineCartAbandonment checks an ordered sequence with a maximum gap
// and its abandonment: a profile that viewed, added to the cart and placed
// no order enters exactly 4h after the add, with no new event, and leaves
// when it orders; one that ordered in time never enters.
func testEngineCartAbandonment(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "cart-abandoners",
		Condition: `sequence(["Product Viewed", "Product Added"], "1h") && abandoned("Product Added", "Order Completed", "4h")`})
	require.NoError(t, err)

	const ana, bob = "profiles/ana", "profiles/bob"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		named(1, ana, "Product Viewed", t0),
		named(2, ana, "Product Added", t0.Add(10*time.Minute)),
		named(3, bob, "Product Viewed", t0),
		named(4, bob, "Product Added", t0.Add(20*time.Minute)),
	}))
	require.Empty(t, allChanges(t, s))
	next, err := s.NextCheck(ctx)
	require.NoError(t, err)
	require.Equal(t, t0.Add(4*time.Hour+10*time.Minute), next, "ana's cart is 4h old then")

	clk.Set(t0.Add(time.Hour))
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{named(5, bob, "Order Completed", t0.Add(time.Hour))}))

	clk.Set(next)
	n, err := e.CheckDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "bob, who ordered, is no longer scheduled")
	require.Equal(t, []string{"entered cart-abandoners time"}, describe(allChanges(t, s)))
	require.Equal(t, next, allChanges(t, s)[0].Time)
	next, err = s.NextCheck(ctx)
	require.NoError(t, err)
	require.Zero(t, next, "only an order can end the abandonment now")

	clk.Set(t0.Add(6 * time.Hour))
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{named(6, ana, "Order Completed", t0.Add(6*time.Hour))}))
	require.Equal(t, []string{"entered cart-abandoners time", "exited cart-abandoners event events/6"}, describe(allChanges(t, s)))

	// A sequence broken by a long gap never matches.
	const cy = "profiles/cy"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		named(7, cy, "Product Viewed", t0.Add(6*time.Hour)),
		named(8, cy, "Product Added", t0.Add(8*time.Hour)),
	}))
	clk.Set(t0.Add(24 * time.Hour))
	_, err = e.CheckDue(ctx)
	require.NoError(t, err)
	ms, err := e.ProfileMemberships(ctx, cy)
	require.NoError(t, err)
	require.Empty(t, ms)
}
