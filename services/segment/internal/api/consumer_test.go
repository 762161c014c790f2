package api

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

func TestEventFromProto(t *testing.T) {
	now := func() time.Time { return t0.Add(time.Hour) }
	props := mustStruct(t, map[string]any{"revenue": 120.5, "items": 3, "category": "shoes", "gift": true,
		"review": strings.Repeat("x", MaxStringProperty+1), "tags": []any{"a"}, "address": map[string]any{"city": "London"}, "coupon": nil})
	props.Fields["bad"] = structpb.NewNumberValue(math.NaN())
	traits := mustStruct(t, map[string]any{"city": "London", "nickname": nil, "scores": []any{1.0, 2.0}})
	traits.Fields["bad"] = structpb.NewNumberValue(math.Inf(1))

	tests := []struct {
		name string
		in   *eventv1.DeliveredEvent
		want segment.Event
	}{
		{"track", &eventv1.DeliveredEvent{
			Cursor: "17", TraceContext: map[string]string{"traceparent": "tp"},
			Event: &eventv1.Event{Name: "events/17", Event: "Order Completed", Profile: "profiles/p1", Properties: props,
				Timestamp: timestamppb.New(t0), ReceiveTime: timestamppb.New(t0.Add(time.Minute))},
		}, segment.Event{Seq: 17, Resource: "events/17", Profile: "profiles/p1", Name: "Order Completed", Time: t0,
			Numbers: map[string]float64{"revenue": 120.5, "items": 3}, Strings: map[string]string{"category": "shoes"}, Flags: map[string]bool{"gift": true},
			TraceContext: map[string]string{"traceparent": "tp"}}},
		{"identify", &eventv1.DeliveredEvent{
			Cursor: "18",
			Event:  &eventv1.Event{Name: "events/18", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Event: "ignored", Profile: "profiles/p1", Traits: traits, ReceiveTime: timestamppb.New(t0)},
		}, segment.Event{Seq: 18, Resource: "events/18", Profile: "profiles/p1", Identify: true, Time: t0,
			Traits: map[string]any{"city": "London", "nickname": nil, "scores": []any{1.0, 2.0}, "bad": "Infinity"}}},
		{"page without times", &eventv1.DeliveredEvent{
			Cursor: "19",
			Event:  &eventv1.Event{Name: "events/19", Type: eventv1.EventType_EVENT_TYPE_PAGE, Event: "Home", Profile: "profiles/p2"},
		}, segment.Event{Seq: 19, Resource: "events/19", Profile: "profiles/p2", Name: "Home", Time: t0.Add(time.Hour)}},
		{"alias", &eventv1.DeliveredEvent{
			Cursor: "20",
			Event:  &eventv1.Event{Name: "events/20", Type: eventv1.EventType_EVENT_TYPE_ALIAS, Profile: "profiles/p2", Timestamp: timestamppb.New(t0)},
		}, segment.Event{Seq: 20, Resource: "events/20", Profile: "profiles/p2", Time: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eventFromProto(tt.in, now)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	_, err := eventFromProto(&eventv1.DeliveredEvent{Cursor: "x"}, now)
	require.Error(t, err)
}

// events is an event service whose stream sends a fixed log. With
// ignoreCursor it sends the whole log on every connection, as a producer
// that redelivers may.
type events struct {
	eventv1.UnimplementedEventServiceServer
	log          []*eventv1.DeliveredEvent
	ignoreCursor bool

	mu    sync.Mutex
	opens []string
}

func (e *events) StreamEvents(req *eventv1.StreamEventsRequest, stream grpc.ServerStreamingServer[eventv1.StreamEventsResponse]) error {
	e.mu.Lock()
	e.opens = append(e.opens, req.GetAfterCursor())
	e.mu.Unlock()
	after, err := feed.DecodeCursor("after_cursor", req.GetAfterCursor())
	if err != nil {
		return err
	}
	if e.ignoreCursor {
		after = 0
	}
	for i := 0; i < len(e.log); i += 2 {
		var batch []*eventv1.DeliveredEvent
		for _, d := range e.log[i:min(i+2, len(e.log))] {
			if d.GetEvent().GetSequence() > after {
				batch = append(batch, d)
			}
		}
		if len(batch) == 0 {
			continue
		}
		if err := stream.Send(&eventv1.StreamEventsResponse{Events: batch}); err != nil {
			return err
		}
	}
	// End the stream: the consumer reconnects, from its stored cursor.
	return nil
}

func TestConsumerAppliesEachEventOnce(t *testing.T) {
	for _, ignoreCursor := range []bool{false, true} {
		t.Run(map[bool]string{false: "resumes", true: "redelivered"}[ignoreCursor], func(t *testing.T) {
			store := memory.New()
			engine := segment.NewEngine(store, segment.Options{Now: func() time.Time { return t0 }})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := engine.CreateSegment(ctx, segment.Segment{ID: "repeat", Condition: `count("Order Completed") >= 2`})
			require.NoError(t, err)

			src := &events{ignoreCursor: ignoreCursor}
			for i := int64(1); i <= 5; i++ {
				src.log = append(src.log, &eventv1.DeliveredEvent{Cursor: feed.EncodeCursor(i), Event: &eventv1.Event{
					Name: "events/" + feed.EncodeCursor(i), Sequence: i, Event: "Order Completed", Profile: "profiles/p1", Timestamp: timestamppb.New(t0),
				}})
			}
			conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { eventv1.RegisterEventServiceServer(r, src) })

			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error)
			go func() {
				done <- Consumer(engine, eventv1.NewEventServiceClient(conn), slog.New(slog.DiscardHandler)).Run(runCtx)
			}()
			require.Eventually(t, func() bool {
				src.mu.Lock()
				defer src.mu.Unlock()
				return len(src.opens) >= 2
			}, 10*time.Second, 10*time.Millisecond, "the consumer reconnects after the stream ends")
			stop()
			require.NoError(t, <-done)

			cursor, err := engine.Cursor(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 5, cursor)
			src.mu.Lock()
			require.Equal(t, "", src.opens[0])
			require.Equal(t, "5", src.opens[1], "the consumer resumes after its stored cursor")
			src.mu.Unlock()
			changes, err := store.ReadChanges(ctx, 0, 100, nil)
			require.NoError(t, err)
			require.Len(t, changes, 1)
			require.Equal(t, "event events/2", changes[0].Reason)

			// Five orders were stored once each.
			err = store.Update(ctx, func(tx segment.Tx) error {
				ps, err := tx.Profiles(ctx, []string{"profiles/p1"}, []string{"Order Completed"})
				require.NoError(t, err)
				require.Len(t, ps["profiles/p1"].Events, 5)
				require.Equal(t, condition.Event{Name: "Order Completed", Time: t0}, ps["profiles/p1"].Events[4].Event)
				return nil
			})
			require.NoError(t, err)
		})
	}
}
