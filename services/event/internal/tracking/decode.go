package tracking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/services/event/internal/api"
)

// Segment's limits, which the SDKs also enforce on their side.
const (
	// MaxEventBytes bounds one event's JSON: 32 KB.
	MaxEventBytes = 32 << 10
	// MaxBatchBytes bounds a /v1/batch request body: 500 KB.
	MaxBatchBytes = 500 << 10
)

// calls maps the Segment call types to event types; the single-call
// endpoints are /v1/<type>.
var calls = map[string]eventv1.EventType{
	"track":    eventv1.EventType_EVENT_TYPE_TRACK,
	"identify": eventv1.EventType_EVENT_TYPE_IDENTIFY,
	"page":     eventv1.EventType_EVENT_TYPE_PAGE,
	"screen":   eventv1.EventType_EVENT_TYPE_SCREEN,
	"group":    eventv1.EventType_EVENT_TYPE_GROUP,
	"alias":    eventv1.EventType_EVENT_TYPE_ALIAS,
}

// fieldError is bad input in one field of a message, named as the Segment
// JSON names it ("userId", "context.traits.email"); empty for the whole
// message.
type fieldError struct {
	Field   string
	Message string
}

func (e *fieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func errorf(field, format string, args ...any) *fieldError {
	return &fieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// envelope holds what a request says beside its messages: the write key and
// the batch-level defaults that Segment merges into every item.
type envelope struct {
	WriteKey string
	SentAt   *time.Time
	// Context and Integrations are JSON objects, or nil.
	Context      json.RawMessage
	Integrations json.RawMessage
}

// message is one decoded Segment call, ready for IngestJSON.
type message struct {
	Event *eventv1.Event
	// JSON holds the properties, traits and context as the caller sent
	// them, with the batch's defaults merged in: they are stored as JSON
	// without a detour through structpb.
	JSON api.JSONFields
	// Sources names, for each of Event's identifiers, the JSON field it came
	// from, so that errors about identifiers name the field the caller sent.
	Sources []string
}

// object reads a JSON object into its raw members, reporting wrong types and
// malformed JSON in terms a caller can act on.
func object(raw []byte, what string) (map[string]json.RawMessage, *fieldError) {
	raw = bytes.TrimSpace(raw)
	if !utf8.Valid(raw) {
		i := invalidUTF8At(raw)
		return nil, errorf("", "%s is not valid UTF-8 (bad byte at offset %d); send UTF-8 encoded JSON", what, i)
	}
	if k := kind(raw); k != "object" {
		if !json.Valid(raw) {
			return nil, errorf("", "%s is malformed JSON: %s", what, syntaxError(raw))
		}
		return nil, errorf("", "%s must be a JSON object, got %s", what, k)
	}
	if !json.Valid(raw) {
		return nil, errorf("", "%s is malformed JSON: %s", what, syntaxError(raw))
	}
	m, err := members(raw)
	if err != nil {
		return nil, errorf("", "%s is malformed JSON: %v", what, err)
	}
	return m, nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// syntaxError describes why raw is not valid JSON, with the byte offset.
func syntaxError(raw []byte) string {
	var v any
	err := json.Unmarshal(raw, &v)
	if serr, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%s (at byte %d)", serr.Error(), serr.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "not a JSON value"
}

// kind names the JSON type of a value by its first byte.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func isNull(raw json.RawMessage) bool {
	return raw == nil || kind(raw) == "null"
}

// str reads an optional string member. Ids may also be numbers, which
// several SDKs send for numeric user ids; they keep their JSON spelling.
func str(m map[string]json.RawMessage, field, path string, numberOK bool) (string, *fieldError) {
	raw, ok := m[field]
	if !ok || isNull(raw) {
		return "", nil
	}
	switch k := kind(raw); {
	case k == "string":
		if s, ok := plainString(raw); ok {
			return s, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errorf(path, "not a valid JSON string: %v", err)
		}
		return s, nil
	case k == "number" && numberOK:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", errorf(path, "not a valid JSON number: %v", err)
		}
		return n.String(), nil
	default:
		if numberOK {
			return "", errorf(path, "must be a string or a number, got %s", k)
		}
		return "", errorf(path, "must be a string, got %s", k)
	}
}

// plainString returns raw, a JSON string of a request already validated
// as UTF-8 and JSON, without its quotes when it holds no escapes, which is
// most of them, without decoding it again.
func plainString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		return "", false
	}
	return string(inner), true
}

// obj reads an optional object member of a validated request: nil when it
// is absent, null or empty, else the object's JSON, copied out of the body.
func obj(m map[string]json.RawMessage, field, path string) (json.RawMessage, *fieldError) {
	raw, ok := m[field]
	if !ok || isNull(raw) {
		return nil, nil
	}
	raw = bytes.TrimSpace(raw)
	if k := kind(raw); k != "object" {
		return nil, errorf(path, "must be a JSON object, got %s", k)
	}
	if len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0 {
		return nil, nil
	}
	return bytes.Clone(raw), nil
}

// timestampLayouts are the ISO-8601 forms Segment accepts: with a zone, with
// or without fractional seconds, or a bare date.
var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02"}

// when reads an optional ISO-8601 timestamp member.
func when(m map[string]json.RawMessage, field, path string) (*time.Time, *fieldError) {
	s, ferr := str(m, field, path, false)
	if ferr != nil {
		if k := kind(m[field]); k == "number" {
			return nil, errorf(path, "must be an ISO-8601 string such as \"2026-05-04T10:30:00.000Z\", got a number")
		}
		return nil, ferr
	}
	if s == "" {
		return nil, nil
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, errorf(path, "%q is not an ISO-8601 time such as \"2026-05-04T10:30:00.000Z\"", s)
}

// decodeEnvelope reads the members of a request that are not messages.
func decodeEnvelope(m map[string]json.RawMessage) (envelope, *fieldError) {
	var env envelope
	var ferr *fieldError
	if env.WriteKey, ferr = str(m, "writeKey", "writeKey", false); ferr != nil {
		return env, ferr
	}
	if env.SentAt, ferr = when(m, "sentAt", "sentAt"); ferr != nil {
		return env, ferr
	}
	if env.Context, ferr = obj(m, "context", "context"); ferr != nil {
		return env, ferr
	}
	if env.Integrations, ferr = obj(m, "integrations", "integrations"); ferr != nil {
		return env, ferr
	}
	return env, nil
}

// decodeMessage turns one Segment call of type typ into an event received at
// receivedAt. Batch-level context and integrations of env are merged under
// the message's own (the message's keys win); sentAt of the message, else of
// env, corrects the device clock as Segment does. Checks that need the
// domain (identifier syntax, event name length, time range) are left to
// IngestEvents, so they are made in one place for every API.
func decodeMessage(m map[string]json.RawMessage, typ string, env envelope, receivedAt time.Time) (*message, *fieldError) {
	t, ok := calls[typ]
	if !ok {
		return nil, errorf("type", "unknown call type %q; want track, identify, page, screen, group or alias", typ)
	}
	ev := &eventv1.Event{Type: t}
	msg := &message{Event: ev}
	fields := &msg.JSON
	var ferr *fieldError
	if ev.MessageId, ferr = str(m, "messageId", "messageId", false); ferr != nil {
		return nil, ferr
	}

	userID, ferr := str(m, "userId", "userId", true)
	if ferr != nil {
		return nil, ferr
	}
	anonymousID, ferr := str(m, "anonymousId", "anonymousId", true)
	if ferr != nil {
		return nil, ferr
	}
	add := func(typ, value, source string) {
		if strings.TrimSpace(value) != "" {
			ev.Identifiers = append(ev.Identifiers, &typev1.Identifier{Type: typ, Value: value})
			msg.Sources = append(msg.Sources, source)
		}
	}
	add(ident.UserID, userID, "userId")
	add(ident.AnonymousID, anonymousID, "anonymousId")
	if t == eventv1.EventType_EVENT_TYPE_ALIAS {
		previousID, ferr := str(m, "previousId", "previousId", true)
		if ferr != nil {
			return nil, ferr
		}
		if strings.TrimSpace(previousID) == "" || strings.TrimSpace(userID) == "" {
			return nil, errorf("previousId", "an alias call needs both previousId and userId")
		}
		// The previous id is the identity the person had before: in Segment's
		// own use an anonymous id.
		add(ident.AnonymousID, previousID, "previousId")
	} else if len(ev.Identifiers) == 0 {
		return nil, errorf("userId", "userId or anonymousId is required")
	}

	switch t {
	case eventv1.EventType_EVENT_TYPE_TRACK:
		if ev.Event, ferr = str(m, "event", "event", false); ferr != nil {
			return nil, ferr
		}
		if ev.Event == "" {
			return nil, errorf("event", "a track call needs an event name, such as \"Order Completed\"")
		}
	case eventv1.EventType_EVENT_TYPE_PAGE, eventv1.EventType_EVENT_TYPE_SCREEN:
		if ev.Event, ferr = str(m, "name", "name", false); ferr != nil {
			return nil, ferr
		}
	}

	if fields.Properties, ferr = obj(m, "properties", "properties"); ferr != nil {
		return nil, ferr
	}
	if t == eventv1.EventType_EVENT_TYPE_PAGE {
		category, ferr := str(m, "category", "category", false)
		if ferr != nil {
			return nil, ferr
		}
		if category != "" {
			if _, set := objectMembers(fields.Properties)["category"]; !set {
				fields.Properties = withMembers(fields.Properties, map[string]json.RawMessage{"category": jsonString(category)})
			}
		}
	}
	if t == eventv1.EventType_EVENT_TYPE_GROUP {
		groupID, ferr := str(m, "groupId", "groupId", true)
		if ferr != nil {
			return nil, ferr
		}
		if strings.TrimSpace(groupID) == "" {
			return nil, errorf("groupId", "a group call needs a groupId")
		}
		fields.Properties = withMembers(fields.Properties, map[string]json.RawMessage{"groupId": jsonString(groupID)})
	}
	if fields.Traits, ferr = obj(m, "traits", "traits"); ferr != nil {
		return nil, ferr
	}
	context, ferr := obj(m, "context", "context")
	if ferr != nil {
		return nil, ferr
	}
	context = merged(env.Context, context)
	integrations, ferr := obj(m, "integrations", "integrations")
	if ferr != nil {
		return nil, ferr
	}
	// Integrations route a call to Segment destinations; Barista keeps them
	// with the context so that nothing the caller sent is lost.
	if integrations = merged(env.Integrations, integrations); integrations != nil {
		context = withMembers(context, map[string]json.RawMessage{"integrations": integrations})
	}
	fields.Context = context

	// Identify traits (and the traits a client keeps in its context) carry
	// the email and phone that link a profile across devices.
	traits, contextMembers := objectMembers(fields.Traits), objectMembers(context)
	contextTraits, device := objectMembers(contextMembers["traits"]), objectMembers(contextMembers["device"])
	for _, f := range []struct {
		from     map[string]json.RawMessage
		key, typ string
		source   string
	}{
		{from: traits, key: "email", typ: ident.Email, source: "traits.email"},
		{from: contextTraits, key: "email", typ: ident.Email, source: "context.traits.email"},
		{from: traits, key: "phone", typ: ident.Phone, source: "traits.phone"},
		{from: contextTraits, key: "phone", typ: ident.Phone, source: "context.traits.phone"},
		{from: device, key: "id", typ: ident.DeviceID, source: "context.device.id"},
	} {
		s, ferr := str(f.from, f.key, f.source, false)
		if ferr != nil {
			return nil, ferr
		}
		add(f.typ, s, f.source)
	}

	at, ferr := occurredAt(m, env, receivedAt)
	if ferr != nil {
		return nil, ferr
	}
	if at != nil {
		ev.Timestamp = timestamppb.New(*at)
	}
	return msg, nil
}

// occurredAt derives the event time as Segment does: timestamp when the
// caller set it; otherwise originalTimestamp (the device's clock) corrected
// by the device's clock skew, receivedAt - sentAt, when sentAt is known;
// otherwise the receive time (nil).
func occurredAt(m map[string]json.RawMessage, env envelope, receivedAt time.Time) (*time.Time, *fieldError) {
	ts, ferr := when(m, "timestamp", "timestamp")
	if ferr != nil || ts != nil {
		return ts, ferr
	}
	original, ferr := when(m, "originalTimestamp", "originalTimestamp")
	if ferr != nil || original == nil {
		return nil, ferr
	}
	sentAt, ferr := when(m, "sentAt", "sentAt")
	if ferr != nil {
		return nil, ferr
	}
	if sentAt == nil {
		sentAt = env.SentAt
	}
	if sentAt == nil {
		return original, nil
	}
	corrected := receivedAt.Add(-sentAt.Sub(*original))
	return &corrected, nil
}

// objectMembers returns the members of raw when it is a JSON object from a
// validated request, else nil.
func objectMembers(raw json.RawMessage) map[string]json.RawMessage {
	if kind(raw) != "object" {
		return nil
	}
	m, err := members(bytes.TrimSpace(raw))
	if err != nil {
		return nil
	}
	return m
}

// merged returns the object own with the members of defaults it lacks; nil
// when both are nil.
func merged(defaults, own json.RawMessage) json.RawMessage {
	if defaults == nil {
		return own
	}
	out := objectMembers(defaults)
	maps.Copy(out, objectMembers(own))
	return encodeMembers(out)
}

// withMembers returns the object raw (nil for none) with set's members added
// or replaced.
func withMembers(raw json.RawMessage, set map[string]json.RawMessage) json.RawMessage {
	m := objectMembers(raw)
	if m == nil {
		m = make(map[string]json.RawMessage, len(set))
	}
	maps.Copy(m, set)
	return encodeMembers(m)
}

// encodeMembers encodes members of validated JSON as one object, by key.
func encodeMembers(m map[string]json.RawMessage) json.RawMessage {
	b := []byte{'{'}
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, jsonString(k)...)
		b = append(b, ':')
		b = append(b, bytes.TrimSpace(m[k])...)
	}
	return append(b, '}')
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// sourceField maps a field of an IngestEvents result ("identifiers[2]",
// "message_id") back to the Segment field of the message it came from.
func sourceField(msg *message, field string) string {
	if rest, ok := strings.CutPrefix(field, "identifiers["); ok {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			if i, err := strconv.Atoi(rest[:end]); err == nil && i < len(msg.Sources) {
				return msg.Sources[i] + rest[end+1:]
			}
		}
	}
	switch field {
	case "identifiers":
		return "userId"
	case "message_id":
		return "messageId"
	case "event":
		if msg.Event.GetType() != eventv1.EventType_EVENT_TYPE_TRACK {
			return "name"
		}
	}
	return field
}
