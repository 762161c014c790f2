package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/services/event/internal/api"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

func TestIngestEventStreamAnswersEachRequestInOrder(t *testing.T) {
	f := start(t)
	stream, err := f.client.IngestEventStream(context.Background())
	require.NoError(t, err)
	requests := [][]*eventv1.Event{
		{{MessageId: "m1", Event: "A", Identifiers: ids("user_id:1")}, {MessageId: "m2", Event: "B", Identifiers: ids("email:nope")}},
		{{MessageId: "m1", Event: "A", Identifiers: ids("user_id:1")}, {MessageId: "m3", Event: "C", Identifiers: ids("user_id:2")}},
		{},
	}
	for _, events := range requests {
		require.NoError(t, stream.Send(&eventv1.IngestEventStreamRequest{Events: events}))
	}
	require.NoError(t, stream.CloseSend())
	var got []*eventv1.IngestEventStreamResponse
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, resp)
	}
	require.Len(t, got, 3)
	// Requests 0 and 1 may be committed together, resolving users 1 and 2
	// in either order: the profile names are compared, not predicted.
	p1, p2 := got[0].GetResults()[0].GetProfile(), got[1].GetResults()[1].GetProfile()
	require.NotEqual(t, p1, p2)
	require.Empty(t, cmp.Diff([]*eventv1.IngestEventStreamResponse{
		{RequestIndex: 0, Results: []*eventv1.IngestResult{
			{Index: 0, Status: eventv1.IngestResult_STATUS_ACCEPTED, MessageId: "m1", Name: "events/1", Profile: p1},
			{Index: 1, Status: eventv1.IngestResult_STATUS_REJECTED, MessageId: "m2", Field: "events[1].identifiers[0]", Error: `email "nope" is not an email address`},
		}},
		{RequestIndex: 1, Results: []*eventv1.IngestResult{
			{Index: 0, Status: eventv1.IngestResult_STATUS_DUPLICATE, MessageId: "m1", Name: "events/1", Profile: p1},
			{Index: 1, Status: eventv1.IngestResult_STATUS_ACCEPTED, MessageId: "m3", Name: "events/2", Profile: p2},
		}},
		{RequestIndex: 2},
	}, got, protocmp.Transform()))
	stored, err := f.store.ReadAfter(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, stored, 2)
}

func TestIngestEventStreamRejectsOversizedRequests(t *testing.T) {
	f := start(t)
	stream, err := f.client.IngestEventStream(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&eventv1.IngestEventStreamRequest{Events: []*eventv1.Event{track("A", "user_id:1")}}))
	big := make([]*eventv1.Event, api.MaxBatch+1)
	for i := range big {
		big[i] = track("A", "user_id:1")
	}
	require.NoError(t, stream.Send(&eventv1.IngestEventStreamRequest{Events: big}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus())
	_, err = stream.Recv()
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.Equal(t, []string{"requests[1].events"}, badRequestFields(t, err))
}

// fakeStream is an IngestEventStream server stream in process: Recv hands
// out requests of one event each, as fast as the server asks for them,
// except that the second waits for hold to close.
type fakeStream struct {
	grpc.ServerStream
	ctx   context.Context
	hold  chan struct{}
	total int
	// gap is the time between requests after the first two.
	gap      time.Duration
	received atomic.Int64
	mu       sync.Mutex
	sent     []*eventv1.IngestEventStreamResponse
}

func (s *fakeStream) Context() context.Context { return s.ctx }

func (s *fakeStream) Recv() (*eventv1.IngestEventStreamRequest, error) {
	n := s.received.Add(1)
	if int(n) > s.total {
		return nil, io.EOF
	}
	if n == 2 {
		<-s.hold
	}
	if n > 2 {
		time.Sleep(s.gap)
	}
	return &eventv1.IngestEventStreamRequest{Events: []*eventv1.Event{
		{MessageId: fmt.Sprintf("m%d", n), Event: "E", Identifiers: ids(fmt.Sprintf("user_id:%d", n))},
	}}, nil
}

func (s *fakeStream) Send(resp *eventv1.IngestEventStreamResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, resp)
	return nil
}

// gate is a resolver that blocks until opened.
type gate struct {
	open    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (g *gate) Resolve(ctx context.Context, ids []event.Identifier, _ json.RawMessage, _ time.Time) (string, error) {
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.open:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return "p-" + ids[0].Value, nil
}

func (g *gate) Lookup(context.Context, event.Identifier) (string, error) {
	return "", event.ErrProfileNotFound
}

// countingStore counts the transactions of a store.
type countingStore struct {
	event.Store
	appends atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, events []event.Event) ([]event.Appended, error) {
	s.appends.Add(1)
	return s.Store.Append(ctx, events)
}

// TestIngestEventStreamBoundsWhatItHolds blocks the resolution of the first
// request and checks that the server stops reading the stream once its
// queue is full (it holds the request being prepared, inFlight queued ones
// and one in hand), then, released, answers every request in order, having
// grouped the queued ones.
func TestIngestEventStreamBoundsWhatItHolds(t *testing.T) {
	const inFlight, total = 3, 50
	g := &gate{open: make(chan struct{}), entered: make(chan struct{})}
	store := &countingStore{Store: memory.New()}
	srv := api.NewServer(event.NewLog(store, g, nil), api.Options{StreamInFlight: inFlight})
	// The first request is committed alone: the others are sent once its
	// commit is under way.
	stream := &fakeStream{ctx: context.Background(), hold: g.entered, total: total}
	done := make(chan error, 1)
	go func() { done <- srv.IngestEventStream(stream) }()

	<-g.entered
	limit := int64(1 + inFlight + 1)
	require.Eventually(t, func() bool { return stream.received.Load() == limit }, 10*time.Second, time.Millisecond)
	// Give a server without backpressure the time to read on; it must not.
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, limit, stream.received.Load(), "the server reads no further than its bound while a commit is blocked")

	close(g.open)
	require.NoError(t, <-done)
	require.Len(t, stream.sent, total)
	require.LessOrEqual(t, store.appends.Load(), int64(total-inFlight+1), "the requests queued behind the first commit are committed together")
	for i, resp := range stream.sent {
		require.EqualValues(t, i, resp.GetRequestIndex())
		require.Len(t, resp.GetResults(), 1)
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus())
		require.Equal(t, fmt.Sprintf("m%d", i+1), resp.GetResults()[0].GetMessageId())
		require.EqualValues(t, 0, resp.GetResults()[0].GetIndex())
	}
	events, err := store.ReadAfter(context.Background(), 0, 100)
	require.NoError(t, err)
	require.Len(t, events, total)
}

func TestGetNormalizationRulesWithoutNormalizer(t *testing.T) {
	f := start(t)
	got, err := f.client.GetNormalizationRules(context.Background(), &eventv1.GetNormalizationRulesRequest{})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(&eventv1.NormalizationRules{}, got.GetRules(), protocmp.Transform()))
}

// gatedAppends is a store whose first Append waits until open is closed.
type gatedAppends struct {
	countingStore
	entered, open chan struct{}
	once          sync.Once
}

func (s *gatedAppends) Append(ctx context.Context, events []event.Event) ([]event.Appended, error) {
	s.once.Do(func() {
		close(s.entered)
		<-s.open
	})
	return s.countingStore.Append(ctx, events)
}

// TestIngestEventStreamSharesTransactionsWhileOneRuns blocks the first
// commit while requests keep arriving one at a time, each prepared as a
// group of its own, and checks that the server submits them for their
// commit meanwhile (so that they share the next transaction instead of
// taking one each after the blocked one), then answers every request in
// order with the events stored in request order.
func TestIngestEventStreamSharesTransactionsWhileOneRuns(t *testing.T) {
	const total = 6
	store := &gatedAppends{countingStore: countingStore{Store: memory.New()}, entered: make(chan struct{}), open: make(chan struct{})}
	resolver := &gate{open: make(chan struct{}), entered: make(chan struct{})}
	close(resolver.open)
	log := event.NewLog(store, resolver, nil)
	srv := api.NewServer(log, api.Options{StreamInFlight: 8})
	stream := &fakeStream{ctx: context.Background(), hold: store.entered, total: total, gap: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- srv.IngestEventStream(stream) }()

	<-store.entered
	require.Eventually(t, func() bool { return log.PendingCommits() >= 2 }, 10*time.Second, time.Millisecond,
		"groups prepared while a commit runs are submitted, not held back")
	close(store.open)
	require.NoError(t, <-done)
	require.Len(t, stream.sent, total)
	for i, resp := range stream.sent {
		require.EqualValues(t, i, resp.GetRequestIndex())
		require.Equal(t, fmt.Sprintf("m%d", i+1), resp.GetResults()[0].GetMessageId())
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus())
	}
	require.Less(t, store.appends.Load(), int64(total), "the groups submitted during the blocked commit share a transaction")
	events, err := store.ReadAfter(context.Background(), 0, 100)
	require.NoError(t, err)
	require.Len(t, events, total)
	for i, ev := range events {
		require.Equal(t, fmt.Sprintf("m%d", i+1), ev.MessageID, "stored in request order")
	}
}
