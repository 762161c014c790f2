package api_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/segment/internal/api"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// profiles is a profile service that knows one identifier.
type profiles struct {
	profilev1.UnimplementedProfileServiceServer
}

func (profiles) LookupProfile(_ context.Context, req *profilev1.LookupProfileRequest) (*profilev1.LookupProfileResponse, error) {
	if req.GetIdentifier().GetType() == "email" && req.GetIdentifier().GetValue() == "ana@example.com" {
		return &profilev1.LookupProfileResponse{Profile: &profilev1.Profile{Name: "profiles/ana"}}, nil
	}
	if req.GetIdentifier().GetValue() == "down@example.com" {
		return nil, status.Error(codes.Unavailable, "dial tcp 10.1.2.3:5432: connection refused")
	}
	return nil, fmt.Errorf("profile with identifier %s:%s: %w", req.GetIdentifier().GetType(), req.GetIdentifier().GetValue(), apierror.ErrNotFound)
}

type fixture struct {
	client     segmentv1.SegmentServiceClient
	engine     *segment.Engine
	dispatcher *segment.Dispatcher
}

// start serves the API over an in-memory store on an in-process listener,
// with the same interceptors as every Barista server.
func start(t *testing.T) *fixture {
	t.Helper()
	store := memory.New()
	engine := segment.NewEngine(store, segment.Options{Now: func() time.Time { return t0 }})
	srv := grpctest.New(t)
	// The API looks identifiers up through a profile service client; here
	// the fake profile service shares the server.
	api.New(engine, profilev1.NewProfileServiceClient(srv.Conn)).Register(srv)
	profilev1.RegisterProfileServiceServer(srv, profiles{})
	srv.Start()
	return &fixture{client: segmentv1.NewSegmentServiceClient(srv.Conn), engine: engine,
		dispatcher: segment.NewDispatcher(store, segment.DispatcherOptions{Now: func() time.Time { return t0 }})}
}

func violations(t *testing.T, err error) map[string]string {
	t.Helper()
	st := status.Convert(err)
	require.Equal(t, codes.InvalidArgument, st.Code(), err)
	out := map[string]string{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetDescription()
			}
		}
	}
	return out
}

func TestCreateSegment(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	resp, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers", Segment: &segmentv1.Segment{
		Name: "ignored", DisplayName: "Buyers", Description: "Ordered in the last 90 days", Condition: `count("Order Completed", "90d") >= 1`, Revision: 9,
	}})
	require.NoError(t, err)
	want := &segmentv1.Segment{
		Name: "segments/buyers", DisplayName: "Buyers", Description: "Ordered in the last 90 days",
		Condition: `count("Order Completed", "90d") >= 1`, Revision: 1, CreateTime: timestamppb.New(t0), UpdateTime: timestamppb.New(t0),
	}
	require.Empty(t, cmpDiff(want, resp.GetSegment()))
	got, err := f.client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: "segments/buyers"})
	require.NoError(t, err)
	require.Empty(t, cmpDiff(want, got.GetSegment()))

	_, err = f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: "true"}})
	require.Equal(t, codes.AlreadyExists, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "segments/buyers")
}

func TestCreateSegmentValidation(t *testing.T) {
	f := start(t)
	tests := []struct {
		name string
		req  *segmentv1.CreateSegmentRequest
		want map[string]string
	}{
		{"bad id and no segment", &segmentv1.CreateSegmentRequest{SegmentId: "Bad"}, map[string]string{
			"segment_id": `"Bad" is not a segment id`, "segment": "is required",
		}},
		{"id too long", &segmentv1.CreateSegmentRequest{SegmentId: "a" + strings.Repeat("b", 63), Segment: &segmentv1.Segment{Condition: "true"}}, map[string]string{
			"segment_id": "is not a segment id",
		}},
		{"no condition", &segmentv1.CreateSegmentRequest{SegmentId: "ok", Segment: &segmentv1.Segment{}}, map[string]string{
			"segment.condition": "is required",
		}},
		{"syntax error", &segmentv1.CreateSegmentRequest{SegmentId: "ok", Segment: &segmentv1.Segment{Condition: `count("Order Completed", "90d") >=`}}, map[string]string{
			"segment.condition": "1:35: Syntax error:",
		}},
		{"not a bool", &segmentv1.CreateSegmentRequest{SegmentId: "ok", Segment: &segmentv1.Segment{Condition: `count("Order Completed")`}}, map[string]string{
			"segment.condition": "1:1: a condition must be a bool",
		}},
		{"long display name", &segmentv1.CreateSegmentRequest{SegmentId: "ok", Segment: &segmentv1.Segment{Condition: "true", DisplayName: fmt.Sprintf("%0300d", 0)}}, map[string]string{
			"segment.display_name": "is 300 characters long; the limit is 256",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.CreateSegment(context.Background(), tt.req)
			got := violations(t, err)
			require.Len(t, got, len(tt.want), got)
			for field, want := range tt.want {
				require.Contains(t, got[field], want, field)
			}
		})
	}
	_, err := f.client.CreateSegment(context.Background(), &segmentv1.CreateSegmentRequest{SegmentId: "ok", Segment: &segmentv1.Segment{Condition: `count("a") >`}})
	require.Contains(t, status.Convert(err).Message(), "condition: 1:13: Syntax error")
}

func TestGetSegmentErrors(t *testing.T) {
	f := start(t)
	_, err := f.client.GetSegment(context.Background(), &segmentv1.GetSegmentRequest{Name: "segments/nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "segments/nope")
	_, err = f.client.GetSegment(context.Background(), &segmentv1.GetSegmentRequest{Name: "nope"})
	require.Contains(t, violations(t, err)["name"], "not a segment name")
}

func TestListSegmentsPages(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{Condition: "true"}})
		require.NoError(t, err)
	}
	var names []string
	token := ""
	for range 10 {
		resp, err := f.client.ListSegments(ctx, &segmentv1.ListSegmentsRequest{PageSize: 2, PageToken: token})
		require.NoError(t, err)
		for _, s := range resp.GetSegments() {
			names = append(names, s.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	require.Equal(t, []string{"segments/a", "segments/b", "segments/c", "segments/d", "segments/e"}, names)

	_, err := f.client.ListSegments(ctx, &segmentv1.ListSegmentsRequest{PageToken: "garbage!"})
	require.Contains(t, violations(t, err), "page_token")
	_, err = f.client.ListSegments(ctx, &segmentv1.ListSegmentsRequest{PageSize: -1})
	require.Contains(t, violations(t, err), "page_size")
}

func order(seq int64, profile string) segment.Event {
	return segment.Event{Seq: seq, Resource: fmt.Sprintf("events/%d", seq), Profile: profile, Name: "Order Completed", Time: t0}
}

func TestMembers(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`}})
	require.NoError(t, err)
	require.NoError(t, f.engine.ApplyEvents(ctx, []segment.Event{
		order(1, "profiles/ana"), order(2, "profiles/bob"), order(3, "profiles/cy"),
		{Seq: 4, Resource: "events/4", Profile: "profiles/dee", Name: "Product Viewed", Time: t0},
	}))

	var got []*segmentv1.Membership
	token := ""
	for range 10 {
		resp, err := f.client.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers", PageSize: 2, PageToken: token})
		require.NoError(t, err)
		got = append(got, resp.GetMemberships()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	require.Len(t, got, 3)
	require.Empty(t, cmpDiff(&segmentv1.Membership{Segment: "segments/buyers", Profile: "profiles/ana", EnterTime: timestamppb.New(t0), SegmentRevision: 1}, got[0]))
	require.Equal(t, "profiles/cy", got[2].GetProfile())

	_, err = f.client.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = f.client.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "buyers", PageSize: -2})
	require.Len(t, violations(t, err), 2)

	byIdentifier, err := f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: &typev1.Identifier{Type: "email", Value: " Ana@Example.com "}})
	require.NoError(t, err)
	require.Equal(t, "profiles/ana", byIdentifier.GetProfile())
	require.Len(t, byIdentifier.GetMemberships(), 1)
	require.Equal(t, "segments/buyers", byIdentifier.GetMemberships()[0].GetSegment())

	byName, err := f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: "profiles/dee"})
	require.NoError(t, err)
	require.Empty(t, byName.GetMemberships())
	unseen, err := f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: "profiles/never-seen"})
	require.NoError(t, err)
	require.Empty(t, unseen.GetMemberships())

	_, err = f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: &typev1.Identifier{Type: "email", Value: "nobody@example.com"}})
	require.Equal(t, codes.NotFound, status.Code(err), "the profile service's NotFound passes through")
	_, err = f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: &typev1.Identifier{Type: "email", Value: "down@example.com"}})
	require.Equal(t, codes.Unavailable, status.Code(err))
	require.NotContains(t, status.Convert(err).Message(), "10.1.2.3", "internal causes stay internal")
	_, err = f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: &typev1.Identifier{Type: "email", Value: "not-an-email"}})
	require.Contains(t, violations(t, err)["identifier"], "not-an-email")
	_, err = f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{})
	require.Contains(t, violations(t, err)["profile"], "either profile or identifier")
	_, err = f.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: "ana"})
	require.Contains(t, violations(t, err)["profile"], "not a profile name")
}

func recv(t *testing.T, stream grpc.ServerStreamingClient[segmentv1.WatchMembershipChangesResponse], n int) []*segmentv1.MembershipChange {
	t.Helper()
	var out []*segmentv1.MembershipChange
	for len(out) < n {
		resp, err := stream.Recv()
		require.NoError(t, err)
		out = append(out, resp.GetChanges()...)
	}
	require.Len(t, out, n)
	return out
}

func TestWatchMembershipChanges(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for id, cond := range map[string]string{"buyers": `count("Order Completed") >= 1`, "repeat": `count("Order Completed") >= 2`} {
		_, err := f.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{Condition: cond}})
		require.NoError(t, err)
	}
	all, err := f.client.WatchMembershipChanges(ctx, &segmentv1.WatchMembershipChangesRequest{})
	require.NoError(t, err)
	onlyRepeat, err := f.client.WatchMembershipChanges(ctx, &segmentv1.WatchMembershipChangesRequest{Segments: []string{"segments/repeat"}})
	require.NoError(t, err)

	// Changes committed after the watch started are followed.
	require.NoError(t, f.engine.ApplyEvents(ctx, []segment.Event{order(1, "profiles/ana"), order(2, "profiles/ana")}))
	got := recv(t, all, 2)
	require.Empty(t, cmpDiff(&segmentv1.MembershipChange{
		Cursor: "1", Segment: "segments/buyers", Profile: "profiles/ana", Kind: segmentv1.MembershipChange_KIND_ENTERED,
		ChangeTime: timestamppb.New(t0), SegmentRevision: 1, Reason: "event events/1",
	}, got[0]))
	require.Equal(t, "segments/repeat", got[1].GetSegment())
	require.Equal(t, "event events/2", got[1].GetReason())
	filtered := recv(t, onlyRepeat, 1)
	require.Equal(t, "2", filtered[0].GetCursor())

	// Resuming after a cursor skips what was received.
	resumed, err := f.client.WatchMembershipChanges(ctx, &segmentv1.WatchMembershipChangesRequest{AfterCursor: got[0].GetCursor()})
	require.NoError(t, err)
	require.Equal(t, "2", recv(t, resumed, 1)[0].GetCursor())

	for _, req := range []*segmentv1.WatchMembershipChangesRequest{
		{AfterCursor: "x"},
		{Segments: []string{"segments/ok", "repeat"}},
	} {
		stream, err := f.client.WatchMembershipChanges(ctx, req)
		require.NoError(t, err)
		_, err = stream.Recv()
		require.NotEqual(t, io.EOF, err)
		v := violations(t, err)
		require.Len(t, v, 1, v)
	}
}

func cmpDiff(want, got any) string {
	return cmp.Diff(want, got, protocmp.Transform())
}
