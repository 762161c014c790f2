package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/metrics/migrations"
	"github.com/barista-cdp/barista/services/metrics/service"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// segments is a fake segment service. Its membership feed behaves like a
// flaky network: each connection first redelivers the change at the
// client's cursor, then sends at most two messages of two changes and
// drops the connection if more changes remain. When the client has
// everything, the stream stays open.
type segments struct {
	segmentv1.UnimplementedSegmentServiceServer

	mu      sync.Mutex
	changes []*segmentv1.MembershipChange
	opens   []string
}

func (s *segments) add(segment, profile string, kind segmentv1.MembershipChange_Kind, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := int64(len(s.changes) + 1)
	s.changes = append(s.changes, &segmentv1.MembershipChange{
		Cursor: feed.EncodeCursor(seq), Segment: "segments/" + segment, Profile: "profiles/" + profile,
		Kind: kind, ChangeTime: timestamppb.New(at), SegmentRevision: 1, Reason: "test",
	})
}

func (s *segments) openedAfter() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.opens...)
}

func (s *segments) GetSegment(_ context.Context, req *segmentv1.GetSegmentRequest) (*segmentv1.GetSegmentResponse, error) {
	if req.GetName() == "segments/buyers" || req.GetName() == "segments/vip" {
		return &segmentv1.GetSegmentResponse{Segment: &segmentv1.Segment{Name: req.GetName()}}, nil
	}
	return nil, status.Errorf(codes.NotFound, "segment not found: %s", req.GetName())
}

func (s *segments) WatchMembershipChanges(req *segmentv1.WatchMembershipChangesRequest, stream grpc.ServerStreamingServer[segmentv1.WatchMembershipChangesResponse]) error {
	after, err := feed.DecodeCursor("after_cursor", req.GetAfterCursor())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.opens = append(s.opens, req.GetAfterCursor())
	pending := s.changes[max(after-1, 0):]
	s.mu.Unlock()
	for sent := 0; len(pending) > 0; sent++ {
		if sent == 2 {
			return status.Error(codes.Unavailable, "connection reset")
		}
		n := min(2, len(pending))
		if err := stream.Send(&segmentv1.WatchMembershipChangesResponse{Changes: pending[:n]}); err != nil {
			return err
		}
		pending = pending[n:]
	}
	<-stream.Context().Done()
	return nil
}

// listen serves register's services on a loopback port, with the
// interceptors every Barista server has, and returns a client connection.
func listen(t *testing.T, register func(grpc.ServiceRegistrar)) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpcserver.New(grpcserver.Options{Logger: slog.New(slog.DiscardHandler)})
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpcclient.Dial(lis.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// running is one started metrics service.
type running struct {
	client metricsv1.MetricsServiceClient
	stop   func()
}

// run builds the metrics service with service.New, as app.Main does,
// serves its API and runs its consumer until stop.
func run(t *testing.T, pool *pgxpool.Pool, segmentConn, eventConn *grpc.ClientConn) running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.New(ctx, app.Env{Pool: pool, Logger: slog.New(slog.DiscardHandler), Peers: map[string]*grpc.ClientConn{"segment": segmentConn, "event": eventConn}})
	require.NoError(t, err)
	conn := listen(t, svc.Register)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		require.NoError(t, <-done)
	})
	t.Cleanup(stop)
	return running{client: metricsv1.NewMetricsServiceClient(conn), stop: stop}
}

func metricsOf(t *testing.T, m running, segment string) *metricsv1.SegmentMetrics {
	t.Helper()
	resp, err := m.client.GetSegmentMetrics(context.Background(), &metricsv1.GetSegmentMetricsRequest{Segment: "segments/" + segment})
	require.NoError(t, err)
	return resp.GetMetrics()
}

// waitEntered waits until the service has counted n entries of buyers.
func waitEntered(t *testing.T, m running, n int64) *metricsv1.SegmentMetrics {
	t.Helper()
	var got *metricsv1.SegmentMetrics
	require.Eventually(t, func() bool {
		got = metricsOf(t, m, "buyers")
		return got.GetEnteredTotal() >= n
	}, 20*time.Second, 10*time.Millisecond)
	return got
}

func TestConsumerResumesFromTheStoredCursorWithoutDoubleCounting(t *testing.T) {
	for _, store := range []string{"memory", "postgres"} {
		t.Run(store, func(t *testing.T) {
			var pool *pgxpool.Pool
			if store == "postgres" {
				pool = pgtest.NewPool(t, "metrics", migrations.FS)
			}
			fake := &segments{}
			day2 := t0.Add(24 * time.Hour)
			for i := range 8 {
				fake.add("buyers", fmt.Sprint(i), segmentv1.MembershipChange_KIND_ENTERED, t0.Add(time.Duration(i)*time.Minute))
			}
			for i := range 3 {
				fake.add("buyers", fmt.Sprint(i), segmentv1.MembershipChange_KIND_EXITED, day2.Add(time.Duration(i)*time.Minute))
			}
			fake.add("buyers", "8", segmentv1.MembershipChange_KIND_ENTERED, day2.Add(time.Hour))
			segmentConn := listen(t, func(r grpc.ServiceRegistrar) { segmentv1.RegisterSegmentServiceServer(r, fake) })

			eventConn := listen(t, func(r grpc.ServiceRegistrar) { eventv1.RegisterEventServiceServer(r, &events{}) })
			m := run(t, pool, segmentConn, eventConn)
			got := waitEntered(t, m, 9)
			require.EqualValues(t, 9, got.GetEnteredTotal())
			require.EqualValues(t, 3, got.GetExitedTotal())
			require.EqualValues(t, 6, got.GetSize())
			require.Equal(t, day2.Add(time.Hour), got.GetUpdateTime().AsTime())
			require.Len(t, got.GetHistory(), 2)
			require.Equal(t, []int64{8, 6}, []int64{got.GetHistory()[0].GetSize(), got.GetHistory()[1].GetSize()})
			// Every connection but the last was dropped; each reopened at the
			// cursor stored by then, and got that change again.
			require.Equal(t, []string{"", "4", "7", "10"}, fake.openedAfter())

			require.Empty(t, cmp.Diff(&metricsv1.SegmentMetrics{Segment: "segments/vip"}, metricsOf(t, m, "vip"), protocmp.Transform()),
				"a known segment without changes has zero metrics")
			_, err := m.client.GetSegmentMetrics(context.Background(), &metricsv1.GetSegmentMetricsRequest{Segment: "segments/unknown"})
			require.Equal(t, codes.NotFound, status.Code(err), "%v", err)

			if pool == nil {
				return
			}
			// A restarted service resumes from the cursor it stored.
			m.stop()
			fake.add("buyers", "9", segmentv1.MembershipChange_KIND_ENTERED, day2.Add(2*time.Hour))
			m = run(t, pool, segmentConn, eventConn)
			got = waitEntered(t, m, 10)
			require.EqualValues(t, 10, got.GetEnteredTotal())
			require.EqualValues(t, 7, got.GetSize())
			require.Equal(t, "12", fake.openedAfter()[4])
		})
	}
}

// events is a fake event service whose log is a fixed list of events: each
// connection gets every event after the client's cursor, one per message,
// and then stays open.
type events struct {
	eventv1.UnimplementedEventServiceServer

	log []*eventv1.DeliveredEvent
}

func (e *events) order(profile string, at time.Time, revenue float64) {
	seq := int64(len(e.log) + 1)
	props, _ := structpb.NewStruct(map[string]any{"revenue": revenue})
	e.log = append(e.log, &eventv1.DeliveredEvent{Cursor: feed.EncodeCursor(seq), Event: &eventv1.Event{
		Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Order Completed", Profile: "profiles/" + profile,
		Timestamp: timestamppb.New(at), Properties: props, Sequence: seq,
	}})
}

func (e *events) StreamEvents(req *eventv1.StreamEventsRequest, stream grpc.ServerStreamingServer[eventv1.StreamEventsResponse]) error {
	after, err := feed.DecodeCursor("after_cursor", req.GetAfterCursor())
	if err != nil {
		return err
	}
	for _, ev := range e.log[min(after, int64(len(e.log))):] {
		if err := stream.Send(&eventv1.StreamEventsResponse{Events: []*eventv1.DeliveredEvent{ev}}); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return nil
}

// TestServiceReportsWhatMembersDo runs both consumers: buyers' members
// ordered 10 and 20, a profile in no segment 70.
func TestServiceReportsWhatMembersDo(t *testing.T) {
	for _, store := range []string{"memory", "postgres"} {
		t.Run(store, func(t *testing.T) {
			var pool *pgxpool.Pool
			if store == "postgres" {
				pool = pgtest.NewPool(t, "metrics", migrations.FS)
			}
			fake := &segments{}
			fake.add("buyers", "a", segmentv1.MembershipChange_KIND_ENTERED, t0)
			fake.add("buyers", "b", segmentv1.MembershipChange_KIND_ENTERED, t0)
			fake.add("buyers", "c", segmentv1.MembershipChange_KIND_ENTERED, t0)
			log := &events{}
			log.order("a", t0.Add(time.Hour), 10)
			log.order("b", t0.Add(2*time.Hour), 20)
			log.order("z", t0.Add(3*time.Hour), 70)
			m := run(t, pool,
				listen(t, func(r grpc.ServiceRegistrar) { segmentv1.RegisterSegmentServiceServer(r, fake) }),
				listen(t, func(r grpc.ServiceRegistrar) { eventv1.RegisterEventServiceServer(r, log) }))
			var report *metricsv1.SegmentReport
			require.Eventually(t, func() bool {
				resp, err := m.client.GetSegmentReport(context.Background(), &metricsv1.GetSegmentReportRequest{
					Segment: "segments/buyers", StartDate: "2025-06-01", EndDate: "2025-06-01",
				})
				require.NoError(t, err)
				report = resp.GetReport()
				return report.GetAllProfiles().GetOrders() == 3 && report.GetEndSize() == 3
			}, 20*time.Second, 10*time.Millisecond)
			require.Empty(t, cmp.Diff(&metricsv1.Population{
				Profiles: 3, MemberDays: 3, Converted: 2, ConversionRate: 2.0 / 3, Orders: 2, Revenue: 30,
				AverageOrderValue: 15, OrdersPerProfile: 2.0 / 3, RevenueShare: 0.3,
			}, report.GetMembers(), protocmp.Transform()))
			require.Empty(t, cmp.Diff(&metricsv1.Population{
				Profiles: 4, MemberDays: 4, Converted: 3, ConversionRate: 0.75, Orders: 3, Revenue: 100,
				AverageOrderValue: 100.0 / 3, OrdersPerProfile: 0.75, RevenueShare: 1,
			}, report.GetAllProfiles(), protocmp.Transform()))
		})
	}
}
