package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func testEngineArchive(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	for _, sg := range []segment.Segment{
		{ID: "buyers", Condition: `count("Order Completed") >= 1`},
		{ID: "loyal", Condition: `in_segment("buyers") && count("Order Completed") >= 2`},
		{ID: "champions", Condition: `count("Order Completed") >= 2`, Group: "lifecycle", Priority: 1},
		{ID: "active", Condition: `count("Order Completed") >= 1`, Group: "lifecycle", Priority: 2},
	} {
		_, err := e.CreateSegment(ctx, sg)
		require.NoError(t, err)
	}
	const ana, bob, cy = "profiles/ana", "profiles/bob", "profiles/cy"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(1, ana, t0, 10), order(2, ana, t0, 10), order(3, bob, t0, 10)}))
	require.Equal(t, []string{"buyers", "champions", "loyal"}, members(t, e, ana))
	require.Equal(t, []string{"active", "buyers"}, members(t, e, bob))
	before := len(allChanges(t, s))

	_, err := e.ArchiveSegment(ctx, "buyers", "ana@example.com", "unused")
	require.ErrorIs(t, err, apierror.ErrFailedPrecondition)
	require.Contains(t, err.Error(), "tested with in_segment by segments/loyal")
	_, err = e.ArchiveSegment(ctx, "nope", "ana@example.com", "unused")
	require.ErrorIs(t, err, segment.ErrNotFound)
	require.Len(t, allChanges(t, s), before, "a refused archive records nothing")

	clk.Set(t0.Add(time.Hour))
	archived, err := e.ArchiveSegment(ctx, "loyal", "ana@example.com", "merged into champions")
	require.NoError(t, err)
	require.True(t, archived.Archived())
	require.True(t, t0.Add(time.Hour).Equal(archived.ArchiveTime))
	require.Equal(t, int64(2), archived.Revision)
	require.Equal(t, "merged into champions", archived.Reason)
	require.Equal(t, []string{"buyers", "champions"}, members(t, e, ana))
	changes := allChanges(t, s)[before:]
	require.Equal(t, []string{"exited loyal segment archived"}, describe(changes))
	require.Equal(t, ana, changes[0].Profile)
	require.Equal(t, int64(2), changes[0].Revision)

	_, err = e.ArchiveSegment(ctx, "loyal", "ana@example.com", "again")
	require.ErrorIs(t, err, apierror.ErrFailedPrecondition)
	require.Contains(t, err.Error(), "already archived")
	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "loyal", Description: ptr("x"), Author: "ana", Reason: "edit"})
	require.ErrorIs(t, err, apierror.ErrFailedPrecondition)

	// Without champions, its members fall to the next segment of the group.
	_, err = e.ArchiveSegment(ctx, "champions", "ana@example.com", "one stage fewer")
	require.NoError(t, err)
	require.Equal(t, []string{"active", "buyers"}, members(t, e, ana))
	require.Equal(t, []string{"exited champions segment archived", "entered active segment archived"}, describe(allChanges(t, s)[before+1:]))
	// Archived, loyal no longer holds buyers back.
	_, err = e.ArchiveSegment(ctx, "buyers", "ana@example.com", "unused")
	require.NoError(t, err)

	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(4, cy, t0, 10), order(5, cy, t0, 10)}))
	require.Equal(t, []string{"active"}, members(t, e, cy), "archived segments are not evaluated")
	for _, id := range []string{"buyers", "loyal", "champions"} {
		page, err := e.ListMembers(ctx, id, "", 10)
		require.NoError(t, err)
		require.Empty(t, page, id)
	}

	list := func(archived bool) []string {
		segs, err := e.ListSegments(ctx, "", 10, archived)
		require.NoError(t, err)
		var ids []string
		for _, sg := range segs {
			ids = append(ids, sg.ID)
		}
		return ids
	}
	require.Equal(t, []string{"active"}, list(false))
	require.Equal(t, []string{"active", "buyers", "champions", "loyal"}, list(true))

	got, err := e.GetSegment(ctx, "loyal")
	require.NoError(t, err)
	require.Equal(t, archived, got)
	first, err := e.GetRevision(ctx, "loyal", 1)
	require.NoError(t, err)
	require.False(t, first.Archived())
	second, err := e.GetRevision(ctx, "loyal", 2)
	require.NoError(t, err)
	require.Equal(t, archived, second)
}
