package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/migrations"
	"github.com/barista-cdp/barista/services/segment/service"
)

// peers fakes the event service's log (followed by StreamEvents) and the
// profile service's identifier lookup.
type peers struct {
	eventv1.UnimplementedEventServiceServer
	profilev1.UnimplementedProfileServiceServer

	mu     sync.Mutex
	log    []*eventv1.DeliveredEvent
	signal *feed.Signal
}

func (p *peers) append(t *testing.T, ev *eventv1.Event, traceparent string) {
	t.Helper()
	p.mu.Lock()
	seq := int64(len(p.log) + 1)
	ev.Name, ev.Sequence, ev.ReceiveTime = fmt.Sprintf("events/%d", seq), seq, timestamppb.Now()
	p.log = append(p.log, &eventv1.DeliveredEvent{Event: ev, Cursor: feed.EncodeCursor(seq), TraceContext: map[string]string{"traceparent": traceparent}})
	p.mu.Unlock()
	p.signal.Notify()
}

func (p *peers) StreamEvents(req *eventv1.StreamEventsRequest, stream grpc.ServerStreamingServer[eventv1.StreamEventsResponse]) error {
	after, err := feed.DecodeCursor("after_cursor", req.GetAfterCursor())
	if err != nil {
		return err
	}
	read := func(_ context.Context, after int64) ([]*eventv1.DeliveredEvent, int64, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if after >= int64(len(p.log)) {
			return nil, after, nil
		}
		return p.log[after:], int64(len(p.log)), nil
	}
	return feed.Tail(stream.Context(), after, p.signal, read, func(events []*eventv1.DeliveredEvent) error {
		return stream.Send(&eventv1.StreamEventsResponse{Events: events})
	})
}

func (p *peers) LookupProfile(_ context.Context, req *profilev1.LookupProfileRequest) (*profilev1.LookupProfileResponse, error) {
	if req.GetIdentifier().GetType() == "user_id" {
		return &profilev1.LookupProfileResponse{Profile: &profilev1.Profile{Name: "profiles/u" + req.GetIdentifier().GetValue()}}, nil
	}
	return nil, fmt.Errorf("identifier: %w", apierror.ErrNotFound)
}

// suite is the segment service built from its Spec, serving on loopback with
// the fake peers on the same server, as the dev server assembles it.
type suite struct {
	// addr is fixed for the test, so a restarted service serves where its
	// clients already point.
	addr   string
	peers  *peers
	client segmentv1.SegmentServiceClient
	conn   *grpc.ClientConn
}

// run builds and runs the service on env until the returned stop is called.
func (s *suite) run(t *testing.T, env app.Env) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env.Logger = slog.New(slog.DiscardHandler)
	env.Peers = map[string]*grpc.ClientConn{"event": s.conn, "profile": s.conn}
	svc, err := service.Spec.New(ctx, env)
	require.NoError(t, err)
	srv := grpcserver.New(grpcserver.Options{Logger: env.Logger})
	svc.Register(srv)
	eventv1.RegisterEventServiceServer(srv, s.peers)
	profilev1.RegisterProfileServiceServer(srv, s.peers)
	lis, err := net.Listen("tcp", s.addr)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, env.Logger, srv, lis, nil, nil, svc.Run) }()
	return func() {
		cancel()
		<-done
	}
}

func newSuite(t *testing.T) *suite {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &suite{addr: lis.Addr().String(), peers: &peers{signal: feed.NewSignal()}}
	require.NoError(t, lis.Close())
	conn, err := grpcclient.Dial(s.addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	s.conn, s.client = conn, segmentv1.NewSegmentServiceClient(conn)
	return s
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 20*time.Millisecond, "timed out waiting for %s", what)
}

func userID(v string) []*typev1.Identifier { return []*typev1.Identifier{{Type: "user_id", Value: v}} }

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// exercise creates a segment, delivers events and checks memberships, the
// watch stream and the trace context of the change.
func exercise(t *testing.T, s *suite) {
	ctx := context.Background()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	traits, err := structpb.NewStruct(map[string]any{"city": "London"})
	require.NoError(t, err)
	s.peers.append(t, &eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Profile: "profiles/u42", Identifiers: userID("42"), Traits: traits}, traceparent)
	// A preview evaluates the profiles the service has applied events of:
	// once it finds the Londoner, the identify has been applied, and the
	// backfill of "londoners" below is what makes the profile a member.
	eventually(t, "the identify to be applied", func() bool {
		resp, err := s.client.PreviewSegment(ctx, &segmentv1.PreviewSegmentRequest{Condition: `traits.city == "London"`})
		return err == nil && resp.GetSize() == 1
	})

	for id, cond := range map[string]string{
		"buyers":    `count("Order Completed", "90d") >= 1`,
		"londoners": `traits.city == "London"`,
	} {
		_, err := s.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{Condition: cond}})
		require.NoError(t, err)
	}
	s.peers.append(t, &eventv1.Event{Event: "Order Completed", Profile: "profiles/u42", Identifiers: userID("42")}, traceparent)
	eventually(t, "membership of buyers", func() bool {
		resp, err := s.client.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: userID("42")[0]})
		return err == nil && len(resp.GetMemberships()) == 2
	})

	// Watches end before the server stops, which waits for open streams.
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := s.client.WatchMembershipChanges(watchCtx, &segmentv1.WatchMembershipChangesRequest{})
	require.NoError(t, err)
	var changes []*segmentv1.MembershipChange
	for len(changes) < 2 {
		resp, err := watch.Recv()
		require.NoError(t, err)
		changes = append(changes, resp.GetChanges()...)
	}
	require.Equal(t, "segments/londoners", changes[0].GetSegment())
	require.Equal(t, "segment created", changes[0].GetReason())
	require.Equal(t, "segments/buyers", changes[1].GetSegment())
	require.Equal(t, "event events/2", changes[1].GetReason())
	require.Contains(t, changes[1].GetTraceContext()["traceparent"], "4bf92f3577b34da6a3ce929d0e0e4736", "the change continues the event's trace")
}

func TestServiceInMemory(t *testing.T) {
	s := newSuite(t)
	stop := s.run(t, app.Env{})
	defer stop()
	exercise(t, s)
}

// TestServicePostgresResumes stops the service, delivers more events while
// it is down, and checks that the restarted service applies them once.
func TestServicePostgresResumes(t *testing.T) {
	pool := pgtest.NewPool(t, "segment", migrations.FS)
	s := newSuite(t)
	stop := s.run(t, app.Env{Pool: pool})
	exercise(t, s)
	stop()

	for i := range 5 {
		s.peers.append(t, &eventv1.Event{Event: "Order Completed", Profile: fmt.Sprintf("profiles/u%d", i), Identifiers: userID(fmt.Sprint(i))}, traceparent)
	}
	stop = s.run(t, app.Env{Pool: pool})
	defer stop()
	ctx := context.Background()
	eventually(t, "six buyers", func() bool {
		resp, err := s.client.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers"})
		return err == nil && len(resp.GetMemberships()) == 6
	})
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := s.client.WatchMembershipChanges(watchCtx, &segmentv1.WatchMembershipChangesRequest{AfterCursor: "2", Segments: []string{"segments/buyers"}})
	require.NoError(t, err)
	resp, err := watch.Recv()
	require.NoError(t, err)
	require.Len(t, resp.GetChanges(), 5, "each event applied once")
}

// TestServiceTimeDrivenExit checks that the running service's scheduler
// records an exit when an event leaves a window, with no new event.
func TestServiceTimeDrivenExit(t *testing.T) {
	s := newSuite(t)
	stop := s.run(t, app.Env{})
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := s.client.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "clicked",
		Segment: &segmentv1.Segment{Condition: `count("Email Clicked", "2s") >= 1`}})
	require.NoError(t, err)
	s.peers.append(t, &eventv1.Event{Event: "Email Clicked", Profile: "profiles/u1", Identifiers: userID("1"), Timestamp: timestamppb.Now()}, traceparent)
	watch, err := s.client.WatchMembershipChanges(ctx, &segmentv1.WatchMembershipChangesRequest{})
	require.NoError(t, err)
	var changes []*segmentv1.MembershipChange
	for len(changes) < 2 {
		resp, err := watch.Recv()
		require.NoError(t, err)
		changes = append(changes, resp.GetChanges()...)
	}
	require.Equal(t, segmentv1.MembershipChange_KIND_ENTERED, changes[0].GetKind())
	require.Equal(t, segmentv1.MembershipChange_KIND_EXITED, changes[1].GetKind())
	require.Equal(t, "time", changes[1].GetReason())
}
