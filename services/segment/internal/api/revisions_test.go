package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func TestUpdateSegmentAndRevisions(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers", Author: "ana@example.com", Reason: "launch",
		Segment: &segmentv1.Segment{DisplayName: "Buyers", Condition: `count("Order Completed") >= 1`}})
	require.NoError(t, err)
	require.NoError(t, f.engine.ApplyEvents(ctx, []segment.Event{order(1, "profiles/ana"), order(2, "profiles/bob"), order(3, "profiles/bob")}))

	resp, err := f.client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{
		Segment:    &segmentv1.Segment{Name: "segments/buyers", Condition: `count("Order Completed") >= 2`, DisplayName: "not in the mask"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"condition", "description"}},
		Author:     "bo@example.com", Reason: "repeat buyers only",
	})
	require.NoError(t, err)
	want := &segmentv1.Segment{Name: "segments/buyers", DisplayName: "Buyers", Condition: `count("Order Completed") >= 2`, Revision: 2,
		CreateTime: timestamppb.New(t0), UpdateTime: timestamppb.New(t0), RevisionAuthor: "bo@example.com", RevisionReason: "repeat buyers only"}
	require.Empty(t, cmpDiff(want, resp.GetSegment()))

	members, err := f.client.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers"})
	require.NoError(t, err)
	require.Len(t, members.GetMemberships(), 1)
	require.Equal(t, "profiles/bob", members.GetMemberships()[0].GetProfile())
	watch, err := f.client.WatchMembershipChanges(ctx, &segmentv1.WatchMembershipChangesRequest{AfterCursor: "2"})
	require.NoError(t, err)
	exit := recv(t, watch, 1)[0]
	require.Equal(t, "profiles/ana", exit.GetProfile())
	require.Equal(t, segmentv1.MembershipChange_KIND_EXITED, exit.GetKind())
	require.Equal(t, "segment updated", exit.GetReason())
	require.EqualValues(t, 2, exit.GetSegmentRevision())

	first, err := f.client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: "segments/buyers", Revision: 1})
	require.NoError(t, err)
	require.Equal(t, `count("Order Completed") >= 1`, first.GetSegment().GetCondition())
	require.Equal(t, "ana@example.com", first.GetSegment().GetRevisionAuthor())
	_, err = f.client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: "segments/buyers", Revision: 3})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "no revision 3")
	_, err = f.client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: "segments/buyers", Revision: -1})
	require.Contains(t, violations(t, err)["revision"], "is -1")

	for range 3 {
		_, err := f.client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{
			Segment: &segmentv1.Segment{Name: "segments/buyers", Description: "Repeat buyers"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
			Author: "ana@example.com", Reason: "wording",
		})
		require.NoError(t, err)
	}
	var revisions []int64
	token := ""
	for range 10 {
		resp, err := f.client.ListSegmentRevisions(ctx, &segmentv1.ListSegmentRevisionsRequest{Segment: "segments/buyers", PageSize: 2, PageToken: token})
		require.NoError(t, err)
		for _, r := range resp.GetRevisions() {
			revisions = append(revisions, r.GetRevision())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	require.Equal(t, []int64{5, 4, 3, 2, 1}, revisions)
	_, err = f.client.ListSegmentRevisions(ctx, &segmentv1.ListSegmentRevisionsRequest{Segment: "segments/nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = f.client.ListSegmentRevisions(ctx, &segmentv1.ListSegmentRevisionsRequest{Segment: "nope", PageToken: "garbage!"})
	require.Len(t, violations(t, err), 2)
}

func TestUpdateSegmentValidation(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: "true"}})
	require.NoError(t, err)
	mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
	tests := []struct {
		name string
		req  *segmentv1.UpdateSegmentRequest
		want map[string]string
	}{
		{"nothing", &segmentv1.UpdateSegmentRequest{}, map[string]string{
			"segment": "is required", "update_mask": "is required", "author": "is required", "reason": "is required",
		}},
		{"bad paths", &segmentv1.UpdateSegmentRequest{Segment: &segmentv1.Segment{Name: "segments/buyers"}, UpdateMask: mask("revision", "description", "description"),
			Author: "a", Reason: "r"}, map[string]string{
			"update_mask.paths[0]": `"revision" cannot be updated`, "update_mask.paths[2]": `"description" is listed twice`,
		}},
		{"bad condition", &segmentv1.UpdateSegmentRequest{Segment: &segmentv1.Segment{Name: "segments/buyers", Condition: `count("a", "9x") > 0`},
			UpdateMask: mask("condition"), Author: "a", Reason: "r"}, map[string]string{
			"segment.condition": `1:12: count: window "9x"`,
		}},
		{"empty condition", &segmentv1.UpdateSegmentRequest{Segment: &segmentv1.Segment{Name: "segments/buyers"},
			UpdateMask: mask("condition"), Author: "a", Reason: "r"}, map[string]string{
			"segment.condition": "is required when update_mask has condition",
		}},
		{"bad name and long fields", &segmentv1.UpdateSegmentRequest{Segment: &segmentv1.Segment{Name: "buyers", DisplayName: strings.Repeat("x", 257)},
			UpdateMask: mask("display_name"), Author: strings.Repeat("a", 257), Reason: "r"}, map[string]string{
			"segment.name": "not a segment name", "segment.display_name": "is 257 characters long", "author": "is 257 characters long",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.UpdateSegment(ctx, tt.req)
			got := violations(t, err)
			require.Len(t, got, len(tt.want), got)
			for field, want := range tt.want {
				require.Contains(t, got[field], want, field)
			}
		})
	}
	_, err = f.client.UpdateSegment(ctx, &segmentv1.UpdateSegmentRequest{Segment: &segmentv1.Segment{Name: "segments/nope"},
		UpdateMask: mask("description"), Author: "a", Reason: "r"})
	require.Equal(t, codes.NotFound, status.Code(err))
}

func TestPreviewSegment(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	require.NoError(t, f.engine.ApplyEvents(ctx, []segment.Event{
		order(1, "profiles/ana"), order(2, "profiles/bob"),
		{Seq: 3, Resource: "events/3", Profile: "profiles/cy", Name: "Product Viewed", Time: t0},
		{Seq: 4, Resource: "events/4", Profile: "profiles/dee", Name: "Product Viewed", Time: t0},
	}))
	resp, err := f.client.PreviewSegment(ctx, &segmentv1.PreviewSegmentRequest{Condition: `count("Order Completed", "90d") >= 1`, SampleSize: 1})
	require.NoError(t, err)
	require.Empty(t, cmpDiff(&segmentv1.PreviewSegmentResponse{Size: 2, TotalProfiles: 4, Share: 0.5, SampleProfiles: []string{"profiles/ana"}}, resp))
	list, err := f.client.ListSegments(ctx, &segmentv1.ListSegmentsRequest{})
	require.NoError(t, err)
	require.Empty(t, list.GetSegments(), "nothing is saved")

	_, err = f.client.PreviewSegment(ctx, &segmentv1.PreviewSegmentRequest{Condition: `count(`, SampleSize: 101})
	v := violations(t, err)
	require.Contains(t, v["condition"], "Syntax error")
	require.Contains(t, v["sample_size"], "is 101")
	_, err = f.client.PreviewSegment(ctx, &segmentv1.PreviewSegmentRequest{})
	require.Contains(t, violations(t, err)["condition"], "is required")
}
