package api

import (
	"context"
	"fmt"
	"time"

	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// profileEventsPage is how many events one ListProfileEvents call reads
// when a profile is rebuilt.
const profileEventsPage = 1000

// applyDelivered applies a message of the event stream in log order: runs
// of events with ApplyEvents, each profile update marker with
// ApplyProfileUpdate. Each commits on its own, advancing the cursor, so a
// redelivery after a failure resumes where it stopped.
func applyDelivered(ctx context.Context, engine *segment.Engine, events eventv1.EventServiceClient, msg *eventv1.StreamEventsResponse) error {
	var run []segment.Event
	flush := func() error {
		err := engine.ApplyEvents(ctx, run)
		run = nil
		return err
	}
	for _, d := range msg.GetEvents() {
		if u := d.GetProfileUpdate(); u != nil {
			if err := flush(); err != nil {
				return err
			}
			update, err := profileUpdateFromProto(d)
			if err != nil {
				return err
			}
			if err := engine.ApplyProfileUpdate(ctx, update, profileEvents(events)); err != nil {
				return err
			}
			continue
		}
		ev, err := eventFromProto(d, time.Now)
		if err != nil {
			return err
		}
		run = append(run, ev)
	}
	return flush()
}

// profileUpdateFromProto reads a marker of the event log.
func profileUpdateFromProto(d *eventv1.DeliveredEvent) (segment.ProfileUpdate, error) {
	seq, err := feed.DecodeCursor("cursor", d.GetCursor())
	if err != nil {
		return segment.ProfileUpdate{}, err
	}
	u := d.GetProfileUpdate()
	out := segment.ProfileUpdate{Seq: seq, Kind: segment.UpdateKind(u.GetKind()), Profiles: u.GetProfiles()}
	if u.GetKind() == eventv1.ProfileUpdateKind_PROFILE_UPDATE_KIND_CONSENT {
		out.Consents = map[string]bool{}
		for _, c := range u.GetConsents() {
			out.Consents[c.GetPurpose()] = c.GetGranted()
		}
	}
	if seq == 0 {
		return out, fmt.Errorf("profile update without a cursor")
	}
	return out, nil
}

// profileEvents reads a profile's events below a position from the event
// service, every page.
func profileEvents(client eventv1.EventServiceClient) segment.EventSource {
	return func(ctx context.Context, profile string, before int64) ([]segment.Event, error) {
		var out []segment.Event
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
				ev, err := eventFromProto(&eventv1.DeliveredEvent{Event: pe}, time.Now)
				if err != nil {
					return nil, err
				}
				out = append(out, ev)
			}
			if token = resp.GetNextPageToken(); token == "" {
				return out, nil
			}
		}
	}
}
