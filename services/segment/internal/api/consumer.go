package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// Consumer returns the consumer of the event service's stream: it resumes
// after the cursor the engine stored and applies each delivered message in
// one transaction.
func Consumer(engine *segment.Engine, events eventv1.EventServiceClient, logger *slog.Logger) feed.Consumer[*eventv1.StreamEventsResponse] {
	return feed.Consumer[*eventv1.StreamEventsResponse]{
		Name:   "segment<-event",
		Logger: logger,
		Cursor: engine.Cursor,
		Open: func(ctx context.Context, after string) (feed.Stream[*eventv1.StreamEventsResponse], error) {
			return events.StreamEvents(ctx, &eventv1.StreamEventsRequest{AfterCursor: after})
		},
		Apply: func(ctx context.Context, msg *eventv1.StreamEventsResponse) error {
			return applyDelivered(ctx, engine, events, msg)
		},
	}
}

// MaxStringProperty is the longest string property, in bytes, the segment
// service keeps for property filters; longer values (free text such as a
// review's body) are not kept.
const MaxStringProperty = 256

// eventFromProto returns what the segment service applies of a delivered
// event: its position, profile, name (of track, page and screen calls),
// time, scalar top-level properties (finite numbers, bools, and strings up
// to MaxStringProperty bytes) and, for identify calls, traits.
func eventFromProto(d *eventv1.DeliveredEvent, now func() time.Time) (segment.Event, error) {
	ev := d.GetEvent()
	seq, err := feed.DecodeCursor("cursor", d.GetCursor())
	if err != nil {
		return segment.Event{}, fmt.Errorf("event %s: %w", ev.GetName(), err)
	}
	if d.GetCursor() == "" {
		seq = ev.GetSequence()
	}
	out := segment.Event{
		Seq:          seq,
		Resource:     ev.GetName(),
		Profile:      ev.GetProfile(),
		TraceContext: d.GetTraceContext(),
	}
	switch ev.GetType() {
	case eventv1.EventType_EVENT_TYPE_UNSPECIFIED, eventv1.EventType_EVENT_TYPE_TRACK,
		eventv1.EventType_EVENT_TYPE_PAGE, eventv1.EventType_EVENT_TYPE_SCREEN:
		out.Name = ev.GetEvent()
	case eventv1.EventType_EVENT_TYPE_IDENTIFY:
		out.Identify = true
		// AsMap turns the numbers JSON cannot hold (NaN, infinities) into
		// strings, so traits always store as JSON.
		out.Traits = ev.GetTraits().AsMap()
	}
	switch {
	case ev.GetTimestamp() != nil:
		out.Time = ev.GetTimestamp().AsTime()
	case ev.GetReceiveTime() != nil:
		out.Time = ev.GetReceiveTime().AsTime()
	default:
		out.Time = now()
	}
	for k, v := range ev.GetProperties().GetFields() {
		switch v := v.GetKind().(type) {
		case *structpb.Value_NumberValue:
			if finite(v.NumberValue) {
				out.Numbers = put(out.Numbers, k, v.NumberValue)
			}
		case *structpb.Value_StringValue:
			if len(v.StringValue) <= MaxStringProperty {
				out.Strings = put(out.Strings, k, v.StringValue)
			}
		case *structpb.Value_BoolValue:
			out.Flags = put(out.Flags, k, v.BoolValue)
		}
	}
	return out, nil
}

// put sets m[k] = v, making m when it is nil.
func put[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[k] = v
	return m
}

func finite(x float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0)
}
