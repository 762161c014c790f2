package api_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func TestListMembershipChanges(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	for _, id := range []string{"buyers", "repeat"} {
		_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id,
			Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`}})
		require.NoError(t, err)
	}
	require.NoError(t, f.engine.ApplyEvents(ctx, []segment.Event{order(1, "profiles/ana"), order(2, "profiles/bob")}))
	_, err := f.client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{
		Segment:    &segmentv1.Segment{Name: "segments/repeat", Condition: `count("Order Completed") >= 2`},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"condition"}}, Author: "ana@example.com", Reason: "repeat only",
	})
	require.NoError(t, err)

	type row struct {
		segment, profile string
		kind             segmentv1.MembershipChange_Kind
		revision         int64
		reason           string
	}
	list := func(req *segmentv1.ListMembershipChangesRequest) []row {
		var out []row
		req.PageSize = 1
		for range 20 {
			resp, err := f.client.ListMembershipChanges(ctx, req)
			require.NoError(t, err)
			for _, c := range resp.GetChanges() {
				require.NotNil(t, c.GetChangeTime())
				out = append(out, row{c.GetSegment(), c.GetProfile(), c.GetKind(), c.GetSegmentRevision(), c.GetReason()})
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				return out
			}
		}
		t.Fatal("the pages never end")
		return nil
	}
	entered, exited := segmentv1.MembershipChange_KIND_ENTERED, segmentv1.MembershipChange_KIND_EXITED
	require.Equal(t, []row{
		{"segments/buyers", "profiles/ana", entered, 1, "event events/1"},
		{"segments/repeat", "profiles/ana", entered, 1, "event events/1"},
		{"segments/repeat", "profiles/ana", exited, 2, "segment updated"},
	}, list(&segmentv1.ListMembershipChangesRequest{Identifier: &typev1.Identifier{Type: "email", Value: "ana@example.com"}}))
	require.Equal(t, []row{
		{"segments/repeat", "profiles/ana", entered, 1, "event events/1"},
		{"segments/repeat", "profiles/bob", entered, 1, "event events/2"},
		{"segments/repeat", "profiles/ana", exited, 2, "segment updated"},
		{"segments/repeat", "profiles/bob", exited, 2, "segment updated"},
	}, list(&segmentv1.ListMembershipChangesRequest{Segment: "segments/repeat"}))
	require.Equal(t, []row{
		{"segments/buyers", "profiles/bob", entered, 1, "event events/2"},
	}, list(&segmentv1.ListMembershipChangesRequest{Segment: "segments/buyers", Profile: "profiles/bob"}))
	require.Len(t, list(&segmentv1.ListMembershipChangesRequest{}), 6)

	_, err = f.client.ListMembershipChanges(ctx, &segmentv1.ListMembershipChangesRequest{Segment: "segments/nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = f.client.ListMembershipChanges(ctx, &segmentv1.ListMembershipChangesRequest{Identifier: &typev1.Identifier{Type: "email", Value: "nobody@example.com"}})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = f.client.ListMembershipChanges(ctx, &segmentv1.ListMembershipChangesRequest{Segment: "nope", Profile: "ana", PageSize: -1, PageToken: "garbage!"})
	v := violations(t, err)
	require.Contains(t, v["segment"], "not a segment name")
	require.Contains(t, v["profile"], "not a profile name")
	require.Contains(t, v, "page_size")
	require.Contains(t, v, "page_token")
}

func TestArchiveSegment(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	for _, c := range []struct{ id, cond string }{{"buyers", `count("Order Completed") >= 1`}, {"loyal", `in_segment("buyers")`}} {
		_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: c.id, Segment: &segmentv1.Segment{Condition: c.cond}})
		require.NoError(t, err)
	}
	require.NoError(t, f.engine.ApplyEvents(ctx, []segment.Event{order(1, "profiles/ana")}))

	_, err := f.client.ArchiveSegment(ctx, &segmentv1.ArchiveSegmentRequest{Name: "segments/buyers", Author: "ana@example.com", Reason: "unused"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "segments/loyal")
	_, err = f.client.ArchiveSegment(ctx, &segmentv1.ArchiveSegmentRequest{Name: "buyers"})
	v := violations(t, err)
	require.Contains(t, v["name"], "not a segment name")
	require.Contains(t, v["author"], "is required")
	require.Contains(t, v["reason"], "is required")
	_, err = f.client.ArchiveSegment(ctx, &segmentv1.ArchiveSegmentRequest{Name: "segments/nope", Author: "a", Reason: "r"})
	require.Equal(t, codes.NotFound, status.Code(err))

	resp, err := f.client.ArchiveSegment(ctx, &segmentv1.ArchiveSegmentRequest{Name: "segments/loyal", Author: "ana@example.com", Reason: "unused"})
	require.NoError(t, err)
	require.NotNil(t, resp.GetSegment().GetArchiveTime())
	require.EqualValues(t, 2, resp.GetSegment().GetRevision())
	require.Equal(t, "unused", resp.GetSegment().GetRevisionReason())

	changes, err := f.client.ListMembershipChanges(ctx, &segmentv1.ListMembershipChangesRequest{Segment: "segments/loyal"})
	require.NoError(t, err)
	require.Len(t, changes.GetChanges(), 2)
	require.Equal(t, segmentv1.MembershipChange_KIND_EXITED, changes.GetChanges()[1].GetKind())
	require.Equal(t, "segment archived", changes.GetChanges()[1].GetReason())

	names := func(show bool) []string {
		resp, err := f.client.ListSegments(ctx, &segmentv1.ListSegmentsRequest{ShowArchived: show})
		require.NoError(t, err)
		var out []string
		for _, s := range resp.GetSegments() {
			out = append(out, s.GetName())
		}
		return out
	}
	require.Equal(t, []string{"segments/buyers"}, names(false))
	require.Equal(t, []string{"segments/buyers", "segments/loyal"}, names(true))
	got, err := f.client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: "segments/loyal"})
	require.NoError(t, err)
	require.NotNil(t, got.GetSegment().GetArchiveTime())
	_, err = f.client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{Segment: &segmentv1.Segment{Name: "segments/loyal", Description: "x"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}, Author: "ana", Reason: "edit"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
}
