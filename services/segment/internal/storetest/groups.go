package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// members returns the ids of the segments a profile is a member of.
func members(t *testing.T, e *segment.Engine, profile string) []string {
	t.Helper()
	ms, err := e.ProfileMemberships(context.Background(), profile)
	require.NoError(t, err)
	var out []string
	for _, m := range ms {
		out = append(out, m.Segment)
	}
	return out
}

// requireInvalid checks that err is an InvalidArgument violation of field
// whose description contains want.
func requireInvalid(t *testing.T, err error, field, want string) {
	t.Helper()
	var invalid *apierror.InvalidError
	require.ErrorAs(t, err, &invalid)
	require.Len(t, invalid.Violations, 1, err.Error())
	require.Equal(t, field, invalid.Violations[0].Field)
	require.Contains(t, invalid.Violations[0].Description, want)
}

func ptr[T any](v T) *T { return &v }

// testEngineInSegment checks membership of other segments: evaluation in
// dependency order, the cascade of an update to the segments that test the
// updated one, and the refusal of unknown segments and cycles.
func testEngineInSegment(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	// loyal-buyers sorts before buyers: only the dependency orders them.
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "loyal-buyers", Condition: `in_segment("buyers") && traits.tier == "gold"`})
	requireInvalid(t, err, "segment.condition", `1:1: in_segment("buyers"): there is no segment "buyers"`)
	_, err = e.CreateSegment(ctx, segment.Segment{ID: "buyers", Condition: `count("Order Completed") >= 1`})
	require.NoError(t, err)
	_, err = e.CreateSegment(ctx, segment.Segment{ID: "loyal-buyers", Condition: `in_segment("buyers") && traits.tier == "gold"`})
	require.NoError(t, err)

	const ana = "profiles/ana"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		identify(1, ana, t0, map[string]any{"tier": "gold"}),
		order(2, ana, t0, 10),
	}))
	require.Equal(t, []string{"buyers", "loyal-buyers"}, members(t, e, ana), "one event, both in the same pass")

	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "buyers", Condition: ptr(`count("Order Completed") >= 2`), Author: "ana", Reason: "stricter"})
	require.NoError(t, err)
	require.Empty(t, members(t, e, ana), "the update cascades to the segment that tests it")
	require.Equal(t, []string{
		"entered buyers event events/2", "entered loyal-buyers event events/2",
		"exited buyers segment updated", "exited loyal-buyers segment updated",
	}, describe(allChanges(t, s)))

	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "buyers", Condition: ptr(`count("Order Completed") >= 1 || in_segment("loyal-buyers")`), Author: "ana", Reason: "loop"})
	requireInvalid(t, err, "segment.condition",
		`1:34: in_segment("loyal-buyers") closes a cycle: segments/buyers tests segments/loyal-buyers; segments/loyal-buyers tests segments/buyers`)
	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "buyers", Condition: ptr(`in_segment("buyers")`), Author: "ana", Reason: "self"})
	requireInvalid(t, err, "segment.condition", `in_segment("buyers"): a segment cannot test its own membership`)
	got, err := e.GetSegment(ctx, "buyers")
	require.NoError(t, err)
	require.Equal(t, int64(2), got.Revision, "refused updates store nothing")

	preview, err := e.PreviewSegment(ctx, `!in_segment("buyers")`, 10)
	require.NoError(t, err)
	require.Equal(t, []string{ana}, preview.Sample)
	_, err = e.PreviewSegment(ctx, `in_segment("nope")`, 10)
	requireInvalid(t, err, "condition", `in_segment("nope"): there is no segment "nope"`)
}

// testEngineExclusiveGroups checks that a profile is a member of the first
// segment of a group it matches, by priority, as events come, as
// priorities change and as a segment leaves its group.
func testEngineExclusiveGroups(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	for _, sg := range []segment.Segment{
		{ID: "champions", Condition: `count("Order Completed") >= 3`, Group: "lifecycle", Priority: 1},
		{ID: "active", Condition: `count("Order Completed") >= 1`, Group: "lifecycle", Priority: 2},
		{ID: "prospects", Condition: `true`, Group: "lifecycle", Priority: 3},
		{ID: "everyone", Condition: `true`},
	} {
		_, err := e.CreateSegment(ctx, sg)
		require.NoError(t, err)
	}
	const ana, bob = "profiles/ana", "profiles/bob"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{identify(1, ana, t0, nil), identify(2, bob, t0, nil)}))
	require.Equal(t, []string{"everyone", "prospects"}, members(t, e, ana))

	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(3, ana, t0, 10)}))
	require.Equal(t, []string{"active", "everyone"}, members(t, e, ana), "active wins over prospects")
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(4, ana, t0, 10), order(5, ana, t0, 10)}))
	require.Equal(t, []string{"champions", "everyone"}, members(t, e, ana))
	require.Equal(t, []string{"everyone", "prospects"}, members(t, e, bob))

	_, err := e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "active", Priority: ptr(int32(0)), Author: "ana", Reason: "reorder"})
	require.NoError(t, err)
	require.Equal(t, []string{"active", "everyone"}, members(t, e, ana), "the new first match wins")
	got, err := e.GetRevision(ctx, "active", 2)
	require.NoError(t, err)
	require.Equal(t, "lifecycle", got.Group)
	require.Equal(t, int32(0), got.Priority)

	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "active", Group: ptr(""), Author: "ana", Reason: "not a stage"})
	require.NoError(t, err)
	require.Equal(t, []string{"active", "champions", "everyone"}, members(t, e, ana), "out of the group, active overlaps")
	require.Equal(t, []string{"everyone", "prospects"}, members(t, e, bob))

	// Members of a group cannot test each other; joining a group can close
	// a cycle.
	_, err = e.CreateSegment(ctx, segment.Segment{ID: "lapsed", Condition: `!in_segment("champions")`, Group: "lifecycle", Priority: 4})
	requireInvalid(t, err, "segment.condition", `in_segment("champions"): segments/champions is in the same exclusive group "lifecycle"`)
	_, err = e.CreateSegment(ctx, segment.Segment{ID: "fans", Condition: `in_segment("prospects")`})
	require.NoError(t, err)
	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "active", Condition: ptr(`in_segment("fans")`), Group: ptr("lifecycle"), Author: "ana", Reason: "loop"})
	requireInvalid(t, err, "segment.condition", `in_segment("fans") closes a cycle: segments/active tests segments/fans; segments/fans tests segments/prospects, in exclusive group "lifecycle" with segments/active`)

	changes := allChanges(t, s)
	for _, c := range changes {
		require.NotEqual(t, "lapsed", c.Segment)
	}
}
