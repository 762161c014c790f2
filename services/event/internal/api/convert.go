package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

// Limits of one event.
const (
	// MaxEventBytes bounds the serialized size of one event.
	MaxEventBytes = 32 << 10
	// MaxNameLen bounds the event name, in characters.
	MaxNameLen = 200
	// MaxMessageIDLen bounds the message id, in characters.
	MaxMessageIDLen = 200
	// MaxFutureSkew is how far ahead of the server's clock a timestamp may
	// be, for clients with a fast clock.
	MaxFutureSkew = 24 * time.Hour
)

// Epoch is the earliest timestamp accepted; anything before is a client bug
// (an unset clock, seconds read as milliseconds).
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseEvent validates an event received at now, with the JSON fields of
// raw where its own are not set, and sets *ev to it normalized for the
// domain, or returns the first problem found, with a field relative to the
// event (*ev is then undefined). It fills the caller's event rather than
// returning one: events are parsed into the batch's slice in place.
func parseEvent(ev *event.Event, pe *eventv1.Event, raw JSONFields, now time.Time) *apierror.FieldViolation {
	bad := func(field, format string, args ...any) *apierror.FieldViolation {
		return &apierror.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)}
	}
	if size := proto.Size(pe) + len(raw.Properties) + len(raw.Traits) + len(raw.Context); size > MaxEventBytes {
		return bad("", "the event is %d bytes serialized; the limit is %d bytes (32 KiB)", size, MaxEventBytes)
	}
	*ev = event.Event{Type: event.Type(pe.GetType()), Name: pe.GetEvent(), MessageID: pe.GetMessageId(), ReceivedAt: now}
	switch t := pe.GetType(); {
	case t == eventv1.EventType_EVENT_TYPE_UNSPECIFIED:
		ev.Type = event.TypeTrack
	case eventv1.EventType_name[int32(t)] == "":
		return bad("type", "unknown event type %d", t)
	}

	if len(pe.GetIdentifiers()) == 0 {
		return bad("identifiers", "at least one identifier is required, such as anonymous_id or user_id")
	}
	ev.Identifiers = make([]event.Identifier, 0, len(pe.GetIdentifiers()))
	// Repeated identifiers are dropped: found by a scan among the few an
	// event usually has, with a set beyond.
	var seen map[event.Identifier]bool
	if len(pe.GetIdentifiers()) > 8 {
		seen = make(map[event.Identifier]bool, len(pe.GetIdentifiers()))
	}
	for k, raw := range pe.GetIdentifiers() {
		id, err := ident.Normalize(raw)
		if err != nil {
			return bad(fmt.Sprintf("identifiers[%d]", k), "%s", err)
		}
		e := event.Identifier{Type: id.GetType(), Value: id.GetValue()}
		if seen != nil {
			if seen[e] {
				continue
			}
			seen[e] = true
		} else if slices.Contains(ev.Identifiers, e) {
			continue
		}
		ev.Identifiers = append(ev.Identifiers, e)
	}

	if ev.Type == event.TypeTrack && ev.Name == "" {
		return bad("event", "a track event needs an event name, such as \"Order Completed\"")
	}
	if n := utf8.RuneCountInString(ev.Name); n > MaxNameLen {
		return bad("event", "the event name is %d characters long; the limit is %d", n, MaxNameLen)
	}
	if n := utf8.RuneCountInString(ev.MessageID); n > MaxMessageIDLen {
		return bad("message_id", "the message id is %d characters long; the limit is %d", n, MaxMessageIDLen)
	}
	if ev.MessageID == "" {
		ev.MessageID = uuid.NewString()
	}
	if strings.IndexByte(ev.Name, 0) >= 0 {
		return bad("event", "the event name holds the NUL character (U+0000), which cannot be stored")
	}
	if strings.IndexByte(ev.MessageID, 0) >= 0 {
		return bad("message_id", "the message id holds the NUL character (U+0000), which cannot be stored")
	}

	ev.OccurredAt = now
	if ts := pe.GetTimestamp(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return bad("timestamp", "not a valid time: %v", err)
		}
		t := ts.AsTime()
		switch {
		case t.Before(Epoch):
			return bad("timestamp", "%s is before %s; send the time the event happened", t.Format(time.RFC3339Nano), Epoch.Format(time.DateOnly))
		case t.After(now.Add(MaxFutureSkew)):
			return bad("timestamp", "%s is more than %s ahead of the server's clock (%s)", t.Format(time.RFC3339Nano), "24h", now.UTC().Format(time.RFC3339))
		}
		ev.OccurredAt = t
	}

	for _, f := range []struct {
		name string
		s    *structpb.Struct
		text string
		raw  json.RawMessage
		dst  *json.RawMessage
	}{
		{"properties", pe.GetProperties(), pe.GetPropertiesJson(), raw.Properties, &ev.Properties},
		{"traits", pe.GetTraits(), pe.GetTraitsJson(), raw.Traits, &ev.Traits},
		{"context", pe.GetContext(), pe.GetContextJson(), raw.Context, &ev.Context},
	} {
		if f.text != "" {
			if len(f.s.GetFields()) > 0 {
				return bad(f.name+"_json", "set %s or %s_json, not both", f.name, f.name)
			}
			b, err := jsonObject(f.text)
			if err != nil {
				return bad(f.name+"_json", "%v", err)
			}
			*f.dst = b
			continue
		}
		if len(f.s.GetFields()) == 0 {
			if f.raw != nil {
				b, err := storableJSON(f.raw)
				if err != nil {
					return bad(f.name, "%v", err)
				}
				*f.dst = b
			}
			continue
		}
		b, err := structJSON(f.s)
		if err != nil {
			return bad(f.name, "not representable as JSON: %v", err)
		}
		*f.dst = b
	}
	return nil
}

// toProto returns the API form of a stored event: with its properties,
// traits and context as Structs, or as JSON text when asJSON.
func toProto(ev event.Event, asJSON bool) (*eventv1.Event, error) {
	pe := &eventv1.Event{
		Name:        eventName(ev.Seq),
		MessageId:   ev.MessageID,
		Type:        eventv1.EventType(ev.Type),
		Event:       ev.Name,
		Identifiers: make([]*typev1.Identifier, len(ev.Identifiers)),
		Timestamp:   timestamppb.New(ev.OccurredAt),
		ReceiveTime: timestamppb.New(ev.ReceivedAt),
		Profile:     profileName(ev.ProfileID),
		Sequence:    ev.Seq,
	}
	for i, id := range ev.Identifiers {
		pe.Identifiers[i] = &typev1.Identifier{Type: id.Type, Value: id.Value}
	}
	if asJSON {
		pe.PropertiesJson, pe.TraitsJson, pe.ContextJson = string(ev.Properties), string(ev.Traits), string(ev.Context)
		return pe, nil
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst **structpb.Struct
	}{
		{ev.Properties, &pe.Properties},
		{ev.Traits, &pe.Traits},
		{ev.Context, &pe.Context},
	} {
		if len(f.raw) == 0 {
			continue
		}
		s := &structpb.Struct{}
		if err := protojson.Unmarshal(f.raw, s); err != nil {
			return nil, fmt.Errorf("decode stored event %d: %w", ev.Seq, err)
		}
		*f.dst = s
	}
	return pe, nil
}
