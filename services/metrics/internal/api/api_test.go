package api_test

import (
	"context"
	"log/slog"
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

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/metrics/internal/api"
	"github.com/barista-cdp/barista/services/metrics/internal/memory"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// now is the API's clock in tests.
var now = time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)

// segments is a segment service that knows buyers and vip, and fails for
// "down" with an internal cause that must not reach metrics callers.
type segments struct {
	segmentv1.UnimplementedSegmentServiceServer
}

func (segments) GetSegment(_ context.Context, req *segmentv1.GetSegmentRequest) (*segmentv1.GetSegmentResponse, error) {
	switch req.GetName() {
	case "segments/buyers", "segments/vip":
		return &segmentv1.GetSegmentResponse{Segment: &segmentv1.Segment{Name: req.GetName()}}, nil
	case "segments/down":
		return nil, status.Error(codes.Internal, "dial tcp 10.1.2.3:5432: connection refused")
	}
	return nil, status.Errorf(codes.NotFound, "segment not found: %s", req.GetName())
}

type fixture struct {
	client  metricsv1.MetricsServiceClient
	tracker *metrics.Tracker
}

func start(t *testing.T) *fixture {
	t.Helper()
	segmentConn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { segmentv1.RegisterSegmentServiceServer(r, segments{}) })
	tracker := metrics.NewTracker(memory.New(), api.Segments(segmentv1.NewSegmentServiceClient(segmentConn), slog.New(slog.DiscardHandler)))
	conn := grpctest.Serve(t, api.New(tracker, func() time.Time { return now }).Register)
	return &fixture{client: metricsv1.NewMetricsServiceClient(conn), tracker: tracker}
}

func TestGetSegmentMetricsRejectsBadNames(t *testing.T) {
	f := start(t)
	for _, name := range []string{"", "buyers", "segments/", "segments/Buyers", "segments/buyers/x", "segments/1st", "segments/" + strings.Repeat("a", 64), "profiles/buyers"} {
		t.Run(name, func(t *testing.T) {
			_, err := f.client.GetSegmentMetrics(context.Background(), &metricsv1.GetSegmentMetricsRequest{Segment: name})
			st := status.Convert(err)
			require.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
			require.Contains(t, st.Message(), "segments/buyers", "the message shows a valid name")
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			require.Equal(t, []string{"segment"}, fields)
		})
	}
}

func TestGetSegmentMetrics(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	day2 := t0.Add(24 * time.Hour)
	_, err := f.tracker.Apply(ctx, []metrics.Change{
		{Seq: 1, Segment: "buyers", Profile: "profiles/a", Kind: metrics.Entered, Time: t0},
		{Seq: 2, Segment: "buyers", Profile: "profiles/b", Kind: metrics.Entered, Time: t0.Add(time.Hour)},
		{Seq: 3, Segment: "buyers", Profile: "profiles/a", Kind: metrics.Exited, Time: day2},
	}, 3)
	require.NoError(t, err)

	tests := []struct {
		segment  string
		want     *metricsv1.SegmentMetrics
		wantCode codes.Code
	}{
		{segment: "segments/buyers", want: &metricsv1.SegmentMetrics{
			Segment: "segments/buyers", Size: 1, EnteredTotal: 2, ExitedTotal: 1, UpdateTime: timestamppb.New(day2),
			History: []*metricsv1.SegmentSizePoint{
				{Date: "2025-06-01", Entered: 2, Net: 2, Size: 2},
				{Date: "2025-06-02", Entered: 0, Exited: 1, Net: -1, Size: 1},
			},
		}},
		{segment: "segments/vip", want: &metricsv1.SegmentMetrics{Segment: "segments/vip"}},
		{segment: "segments/nope", wantCode: codes.NotFound},
		{segment: "segments/down", wantCode: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.segment, func(t *testing.T) {
			resp, err := f.client.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: tt.segment})
			if tt.wantCode != codes.OK {
				st := status.Convert(err)
				require.Equal(t, tt.wantCode, st.Code(), st.Message())
				require.Contains(t, st.Message(), tt.segment)
				require.NotContains(t, st.Message(), "10.1.2.3", "internal causes stay in the logs")
				return
			}
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tt.want, resp.GetMetrics(), protocmp.Transform()))
		})
	}
}
