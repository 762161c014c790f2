package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// testWriteEvents checks that WriteEvents does what SaveProfiles,
// SetNextChecks, AddFacts, Record and SetCursor do in that order, in one
// call, and that a failed transaction keeps none of it.
func testWriteEvents(t *testing.T, s segment.Store) {
	ctx := context.Background()
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.CreateSegment(ctx, seg("a")))
		require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{{Name: "profiles/p1", Traits: map[string]any{"city": "London"}}}))
		require.NoError(t, tx.SetNextChecks(ctx, []segment.Check{{Profile: "profiles/p1", At: t0}}))
		_, err := tx.Record(ctx, []segment.Change{change("a", "profiles/p1", segment.Entered, t0, "x")})
		require.NoError(t, err)
	})

	var recorded []segment.Change
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		out, err := tx.WriteEvents(ctx, segment.EventWrites{
			Profiles: []*segment.Profile{
				{Name: "profiles/p1", Traits: map[string]any{"city": "Paris"}},
				{Name: "profiles/p2", NextCheck: t0.Add(time.Hour)},
			},
			Facts: []segment.Fact{
				fact("profiles/p1", 5, "Order Completed", t0, map[string]float64{"revenue": 10}),
				fact("profiles/p2", 6, "Order Completed", t0, nil),
			},
			Changes: []segment.Change{
				change("a", "profiles/p1", segment.Exited, t0.Add(time.Minute), "event events/5"),
				change("a", "profiles/p2", segment.Entered, t0.Add(time.Minute), "event events/6"),
			},
			Cursor: 6,
		})
		require.NoError(t, err)
		recorded = out
		cursor, err := tx.Cursor(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 6, cursor, "a transaction sees its own cursor")
		due, err := tx.DueProfiles(ctx, t0.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, []string{"profiles/p2"}, due, "a transaction sees its own checks; p1 has none any more")
	})
	require.Equal(t, []int64{2, 3}, []int64{recorded[0].Seq, recorded[1].Seq}, "changes are numbered after the earlier ones")
	got, err := s.ReadChanges(ctx, 1, 10, nil)
	require.NoError(t, err)
	require.Equal(t, recorded, got)

	update(t, s, func(ctx context.Context, tx segment.Tx) {
		profiles, err := tx.Profiles(ctx, []string{"profiles/p1", "profiles/p2"}, []string{"Order Completed"})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"city": "Paris"}, profiles["profiles/p1"].Traits)
		require.Zero(t, profiles["profiles/p1"].NextCheck)
		require.Len(t, profiles["profiles/p1"].Events, 1)
		require.Equal(t, t0.Add(time.Hour), profiles["profiles/p2"].NextCheck)
		require.Len(t, profiles["profiles/p2"].Events, 1)
		ms, err := tx.Memberships(ctx, []string{"profiles/p1", "profiles/p2"})
		require.NoError(t, err)
		require.Equal(t, []segment.Membership{{Segment: "a", Profile: "profiles/p2", EnterTime: t0.Add(time.Minute), Revision: 1}}, ms)
	})

	boom := errors.New("boom")
	err = s.Update(ctx, func(tx segment.Tx) error {
		_, err := tx.WriteEvents(ctx, segment.EventWrites{
			Profiles: []*segment.Profile{{Name: "profiles/p3"}},
			Facts:    []segment.Fact{fact("profiles/p3", 7, "Order Completed", t0, nil)},
			Changes:  []segment.Change{change("a", "profiles/p3", segment.Entered, t0, "event events/7")},
			Cursor:   7,
		})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	cursor, err := s.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, cursor)
	changes, err := s.ReadChanges(ctx, 3, 10, nil)
	require.NoError(t, err)
	require.Empty(t, changes)
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		profiles, err := tx.Profiles(ctx, []string{"profiles/p3"}, nil)
		require.NoError(t, err)
		require.Empty(t, profiles)
		out, err := tx.WriteEvents(ctx, segment.EventWrites{Changes: []segment.Change{change("a", "profiles/p1", segment.Entered, t0, "x")}, Cursor: 7})
		require.NoError(t, err)
		require.EqualValues(t, 4, out[0].Seq, "numbering continues without gaps after a failed transaction")
	})
}
