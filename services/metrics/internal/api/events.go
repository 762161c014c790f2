package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// EventConsumer returns the consumer of the event service's log: it resumes
// after the event cursor the tracker stored and applies each delivered
// message in one transaction. Events without a profile or a time are
// passed over, with their cursor still stored; a cursor that does not
// decode stops the batch.
func EventConsumer(tracker *metrics.Tracker, events eventv1.EventServiceClient, logger *slog.Logger) feed.Consumer[*eventv1.StreamEventsResponse] {
	if logger == nil {
		logger = slog.Default()
	}
	return feed.Consumer[*eventv1.StreamEventsResponse]{
		Name:   "metrics<-event",
		Logger: logger,
		Cursor: tracker.EventCursor,
		Open: func(ctx context.Context, after string) (feed.Stream[*eventv1.StreamEventsResponse], error) {
			return events.StreamEvents(ctx, &eventv1.StreamEventsRequest{AfterCursor: after})
		},
		Apply: func(ctx context.Context, msg *eventv1.StreamEventsResponse) error {
			return applyEventBatch(ctx, tracker, events, msg)
		},
	}
}

// eventFromProto returns what the metrics service counts of a delivered
// event, and false when it counts nothing (no profile, no time). An error
// means its cursor is unusable.
func eventFromProto(d *eventv1.DeliveredEvent) (metrics.Event, bool, error) {
	ev := d.GetEvent()
	seq, err := feed.DecodeCursor("cursor", d.GetCursor())
	if err != nil || seq == 0 {
		return metrics.Event{}, false, fmt.Errorf("event %s with cursor %q: not a position in the log", ev.GetName(), d.GetCursor())
	}
	out := metrics.Event{Seq: seq, Profile: ev.GetProfile()}
	switch {
	case ev.GetTimestamp() != nil:
		out.Time = ev.GetTimestamp().AsTime()
	case ev.GetReceiveTime() != nil:
		out.Time = ev.GetReceiveTime().AsTime()
	default:
		return out, false, nil
	}
	if out.Profile == "" {
		return out, false, nil
	}
	if t := ev.GetType(); t == eventv1.EventType_EVENT_TYPE_TRACK || t == eventv1.EventType_EVENT_TYPE_UNSPECIFIED {
		out.Action = metrics.ActionOf(ev.GetEvent())
	}
	if out.Action == metrics.Order {
		out.Revenue = revenue(ev.GetProperties())
	}
	return out, true, nil
}

// revenue returns an order's revenue: its finite "revenue" property, else
// its finite "total" property, else 0.
func revenue(properties *structpb.Struct) float64 {
	for _, key := range []string{"revenue", "total"} {
		if v, ok := properties.GetFields()[key].GetKind().(*structpb.Value_NumberValue); ok && !math.IsNaN(v.NumberValue) && !math.IsInf(v.NumberValue, 0) {
			return v.NumberValue
		}
	}
	return 0
}
