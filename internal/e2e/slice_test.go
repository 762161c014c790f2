// Package e2e holds the end-to-end tests of the Barista suite: real gRPC
// servers on loopback, real Postgres, and the real service binaries.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/barista-cdp/barista/internal/devserver"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/pkg/telemetry"
)

// suite is a client for every service of one running suite.
type suite struct {
	conn    *grpc.ClientConn
	event   eventv1.EventServiceClient
	profile profilev1.ProfileServiceClient
	segment segmentv1.SegmentServiceClient
	metrics metricsv1.MetricsServiceClient
}

func dialSuite(t *testing.T, eventAddr, profileAddr, segmentAddr, metricsAddr string) *suite {
	t.Helper()
	dial := func(addr string) *grpc.ClientConn {
		conn, err := grpcclient.Dial(addr)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	s := &suite{conn: dial(eventAddr)}
	s.event = eventv1.NewEventServiceClient(s.conn)
	s.profile = profilev1.NewProfileServiceClient(dial(profileAddr))
	s.segment = segmentv1.NewSegmentServiceClient(dial(segmentAddr))
	s.metrics = metricsv1.NewMetricsServiceClient(dial(metricsAddr))
	return s
}

// startDev runs `barista dev` in process and returns clients for it; the
// server stops at the end of the test.
func startDev(t *testing.T, databaseURL string, spans *tracetest.InMemoryExporter) (*suite, *devserver.Server) {
	t.Helper()
	cfg := devserver.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DatabaseURL: databaseURL}
	if spans != nil {
		cfg.Telemetry = telemetry.Options{SpanExporter: spans}
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := devserver.New(ctx, cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	s := dialSuite(t, srv.GRPCAddr, srv.GRPCAddr, srv.GRPCAddr, srv.GRPCAddr)
	waitServing(t, s.conn)
	return s, srv
}

func waitServing(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	health := healthpb.NewHealthClient(conn)
	eventually(t, "health SERVING", func() bool {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
}

// eventually polls cond until it holds. The bound is generous: it waits for
// asynchronous delivery, it does not measure speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func id(typ, value string) *typev1.Identifier {
	return &typev1.Identifier{Type: typ, Value: value}
}

func ingest(t *testing.T, s *suite, events ...*eventv1.Event) *eventv1.IngestEventsResponse {
	t.Helper()
	resp, err := s.event.IngestEvents(context.Background(), &eventv1.IngestEventsRequest{Events: events})
	require.NoError(t, err)
	require.Len(t, resp.GetResults(), len(events))
	return resp
}

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

// runSlice drives the foundation slice: anonymous browsing, an identify that
// joins the anonymous id to a user id and an email, a segment, an order, and
// the membership and metrics that follow. It returns the profile name.
func runSlice(t *testing.T, s *suite) string {
	t.Helper()
	ctx := context.Background()

	viewed := ingest(t, s, &eventv1.Event{
		MessageId: "m-view", Event: "Product Viewed", Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")},
		Properties: props(t, map[string]any{"category": "shoes"}),
	})
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, viewed.GetResults()[0].GetStatus(), viewed.GetResults()[0].GetError())
	profile := viewed.GetResults()[0].GetProfile()
	require.NotEmpty(t, profile)

	identified := ingest(t, s, &eventv1.Event{
		MessageId: "m-identify", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY,
		Identifiers: []*typev1.Identifier{id("anonymous_id", "a1"), id("user_id", "42"), id("email", "Ana@Example.com")},
		Traits:      props(t, map[string]any{"name": "Ana", "city": "London"}),
	})
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, identified.GetResults()[0].GetStatus(), identified.GetResults()[0].GetError())
	require.Equal(t, profile, identified.GetResults()[0].GetProfile(), "identify must resolve to the anonymous visitor's profile")

	got, err := s.profile.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", "ana@example.com")})
	require.NoError(t, err)
	require.Equal(t, profile, got.GetProfile().GetName())
	require.Len(t, got.GetProfile().GetIdentifiers(), 3)

	created, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "buyers",
		Segment:   &segmentv1.Segment{Condition: `count("Order Completed", "90d") >= 1`, Description: "Ordered in the last 90 days"},
	})
	require.NoError(t, err)
	require.Equal(t, "segments/buyers", created.GetSegment().GetName())

	// Not a member before ordering.
	memberships, err := s.segment.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: id("user_id", "42")})
	require.NoError(t, err)
	require.Empty(t, memberships.GetMemberships())

	order := ingest(t, s, &eventv1.Event{
		MessageId: "m-order", Event: "Order Completed", Identifiers: []*typev1.Identifier{id("user_id", "42")},
		Properties: props(t, map[string]any{"order_id": "o-1", "revenue": 120.5}),
	})
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, order.GetResults()[0].GetStatus(), order.GetResults()[0].GetError())
	require.Equal(t, profile, order.GetResults()[0].GetProfile())

	// Redelivering the same message is acknowledged as a duplicate.
	again := ingest(t, s, &eventv1.Event{
		MessageId: "m-order", Event: "Order Completed", Identifiers: []*typev1.Identifier{id("user_id", "42")},
	})
	require.Equal(t, eventv1.IngestResult_STATUS_DUPLICATE, again.GetResults()[0].GetStatus())

	eventually(t, "membership of buyers", func() bool {
		resp, err := s.segment.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: id("email", "ana@example.com")})
		return err == nil && len(resp.GetMemberships()) == 1 && resp.GetMemberships()[0].GetSegment() == "segments/buyers"
	})
	members, err := s.segment.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers"})
	require.NoError(t, err)
	require.Len(t, members.GetMemberships(), 1)
	require.Equal(t, profile, members.GetMemberships()[0].GetProfile())

	eventually(t, "metrics size 1", func() bool {
		resp, err := s.metrics.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: "segments/buyers"})
		return err == nil && resp.GetMetrics().GetSize() == 1
	})
	m, err := s.metrics.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: "segments/buyers"})
	require.NoError(t, err)
	require.EqualValues(t, 1, m.GetMetrics().GetEnteredTotal())
	require.Len(t, m.GetMetrics().GetHistory(), 1)

	events, err := s.event.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Identifier: id("anonymous_id", "a1")})
	require.NoError(t, err)
	require.Len(t, events.GetEvents(), 3, "view, identify and order, once each")
	return profile
}

func TestSliceInMemory(t *testing.T) {
	s, _ := startDev(t, "", nil)
	runSlice(t, s)
}

func TestSlicePostgres(t *testing.T) {
	s, srv := startDev(t, pgtest.NewDatabase(t), nil)
	require.True(t, srv.Durable)
	runSlice(t, s)
}

func TestBadInputGetsPreciseErrors(t *testing.T) {
	s, _ := startDev(t, "", nil)
	ctx := context.Background()

	resp := ingest(t, s,
		&eventv1.Event{Event: "Product Viewed", Identifiers: []*typev1.Identifier{id("anonymous_id", "a9")}},
		&eventv1.Event{Event: "Product Viewed"},
		&eventv1.Event{Event: "Product Viewed", Identifiers: []*typev1.Identifier{id("email", "not-an-email")}},
	)
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus(), "a bad event must not sink the batch")
	require.Equal(t, eventv1.IngestResult_STATUS_REJECTED, resp.GetResults()[1].GetStatus())
	require.Contains(t, resp.GetResults()[1].GetField(), "identifiers")
	require.Equal(t, eventv1.IngestResult_STATUS_REJECTED, resp.GetResults()[2].GetStatus())
	require.Contains(t, resp.GetResults()[2].GetError(), "not-an-email")

	_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "broken", Segment: &segmentv1.Segment{Condition: `count("Order Completed", "90d") >=`},
	})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "condition")

	_, err = s.profile.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", "nobody@example.com")})
	require.Equal(t, codes.NotFound, status.Code(err))
}
