package api

import (
	"context"
	"fmt"
	"time"

	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// profileEventsPage is how many events one ListProfileEvents call reads
// when a profile's activity is rebuilt.
const profileEventsPage = 1000

// applyEventBatch applies a message of the event stream in log order: the
// events before each profile update marker in one transaction, then the
// marker in its own, and so on. Each stores its cursor, so a redelivery
// resumes where a failure stopped.
func applyEventBatch(ctx context.Context, tracker *metrics.Tracker, client eventv1.EventServiceClient, msg *eventv1.StreamEventsResponse) error {
	var evs []metrics.Event
	var cursor int64
	flush := func() error {
		if cursor == 0 {
			return nil
		}
		_, err := tracker.ApplyEvents(ctx, evs, cursor)
		evs, cursor = nil, 0
		return err
	}
	for _, d := range msg.GetEvents() {
		if u := d.GetProfileUpdate(); u != nil {
			if err := flush(); err != nil {
				return err
			}
			seq, err := feed.DecodeCursor("cursor", d.GetCursor())
			if err != nil || seq == 0 {
				return fmt.Errorf("profile update with cursor %q: not a position in the log", d.GetCursor())
			}
			update := metrics.ProfileUpdate{Seq: seq, Kind: metrics.UpdateKind(u.GetKind()), Profiles: u.GetProfiles()}
			if err := tracker.ApplyProfileUpdate(ctx, update, profileEvents(client)); err != nil {
				return err
			}
			continue
		}
		ev, ok, err := eventFromProto(d)
		if err != nil {
			return err
		}
		cursor = max(cursor, ev.Seq)
		if ok {
			evs = append(evs, ev)
		}
	}
	return flush()
}

// profileEvents reads a profile's events below a position from the event
// service, every page.
func profileEvents(client eventv1.EventServiceClient) metrics.EventSource {
	return func(ctx context.Context, profile string, before int64) ([]metrics.Event, error) {
		var out []metrics.Event
		token := ""
		for {
			callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			resp, err := client.ListProfileEvents(callCtx, &eventv1.ListProfileEventsRequest{Profile: profile, PageSize: profileEventsPage, PageToken: token})
			cancel()
			if err != nil {
				return nil, err
			}
			for _, pe := range resp.GetEvents() {
				if pe.GetSequence() >= before {
					return out, nil
				}
				ev, ok, err := eventFromProto(&eventv1.DeliveredEvent{Event: pe, Cursor: feed.EncodeCursor(pe.GetSequence())})
				if err != nil {
					return nil, err
				}
				if ok {
					out = append(out, ev)
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return out, nil
			}
		}
	}
}
