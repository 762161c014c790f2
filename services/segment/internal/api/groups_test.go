package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
)

func TestExclusiveGroupsAndDependencies(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	create := func(id, cond, group string, priority int32) error {
		_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{
			Condition: cond, ExclusiveGroup: group, Priority: priority,
		}})
		return err
	}
	require.Equal(t, map[string]string{"segment.exclusive_group": `"Life Cycle" is not a group id`},
		containing(violations(t, create("a", "true", "Life Cycle", 1)), `"Life Cycle" is not a group id`))
	require.Equal(t, map[string]string{"segment.priority": "is 3 without an exclusive group"},
		containing(violations(t, create("a", "true", "", 3)), "is 3 without an exclusive group"))
	require.Equal(t, map[string]string{"segment.condition": `1:1: in_segment("b"): there is no segment "b"`},
		containing(violations(t, create("a", `in_segment("b")`, "", 0)), `1:1: in_segment("b"): there is no segment "b"`))

	require.NoError(t, create("buyers", `count("Order Completed") >= 1`, "lifecycle", 1))
	require.NoError(t, create("visitors", `true`, "lifecycle", 2))
	got, err := f.client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: "segments/visitors"})
	require.NoError(t, err)
	require.Equal(t, "lifecycle", got.GetSegment().GetExclusiveGroup())
	require.Equal(t, int32(2), got.GetSegment().GetPriority())

	resp, err := f.client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{
		Segment:    &segmentv1.Segment{Name: "segments/visitors", Priority: 0, ExclusiveGroup: "stages"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"exclusive_group", "priority"}},
		Author:     "ana", Reason: "own group",
	})
	require.NoError(t, err)
	require.Equal(t, "stages", resp.GetSegment().GetExclusiveGroup())
	require.Zero(t, resp.GetSegment().GetPriority())

	_, err = f.client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{
		Segment:    &segmentv1.Segment{Name: "segments/buyers", Condition: `in_segment("buyers")`},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"condition"}},
		Author:     "ana", Reason: "self",
	})
	require.Contains(t, violations(t, err)["segment.condition"], "a segment cannot test its own membership")
}

// containing keeps the violations, replacing each description by want
// when it contains it, so that a test can compare whole maps.
func containing(v map[string]string, want string) map[string]string {
	for k, d := range v {
		if strings.Contains(d, want) {
			v[k] = want
		}
	}
	return v
}
