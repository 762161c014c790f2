package api_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/event/internal/api"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/identity"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

func TestMain(m *testing.M) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

// now is the test server's clock.
var now = time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)

// fakeProfiles is a profile service that gives each new set of identifiers
// a profile and links identifiers seen together.
type fakeProfiles struct {
	profilev1.UnimplementedProfileServiceServer

	mu       sync.Mutex
	profiles map[string]string // "type:value" → profile id
	calls    []*profilev1.ResolveProfileRequest
	reject   map[string]string // "type:value" → InvalidArgument message
	fail     error
}

func (f *fakeProfiles) ResolveProfile(_ context.Context, req *profilev1.ResolveProfileRequest) (*profilev1.ResolveProfileResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	if f.fail != nil {
		return nil, f.fail
	}
	profile := ""
	for k, id := range req.GetIdentifiers() {
		key := id.GetType() + ":" + id.GetValue()
		if msg, ok := f.reject[key]; ok {
			return nil, apierror.Invalid(fmt.Sprintf("identifiers[%d]", k), "%s", msg)
		}
		if p, ok := f.profiles[key]; ok && profile == "" {
			profile = p
		}
	}
	if profile == "" {
		profile = fmt.Sprintf("p%d", len(f.profiles)+1)
	}
	for _, id := range req.GetIdentifiers() {
		f.profiles[id.GetType()+":"+id.GetValue()] = profile
	}
	return &profilev1.ResolveProfileResponse{Profile: &profilev1.Profile{Name: "profiles/" + profile}}, nil
}

func (f *fakeProfiles) LookupProfile(_ context.Context, req *profilev1.LookupProfileRequest) (*profilev1.LookupProfileResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	p, ok := f.profiles[req.GetIdentifier().GetType()+":"+req.GetIdentifier().GetValue()]
	if !ok {
		return nil, fmt.Errorf("no profile: %w", apierror.ErrNotFound)
	}
	return &profilev1.LookupProfileResponse{Profile: &profilev1.Profile{Name: "profiles/" + p}}, nil
}

func (f *fakeProfiles) resolveCalls() []*profilev1.ResolveProfileRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*profilev1.ResolveProfileRequest(nil), f.calls...)
}

func (f *fakeProfiles) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

type fixture struct {
	client   eventv1.EventServiceClient
	profiles *fakeProfiles
	store    event.Store
}

// start serves the event service and the fake profile service on one
// in-process gRPC server, built like the real one, and the event service
// calls the profile service through a gRPC client as in production.
func start(t *testing.T) *fixture {
	t.Helper()
	srv := grpctest.New(t)
	f := &fixture{profiles: &fakeProfiles{profiles: map[string]string{}, reject: map[string]string{}}, store: memory.New()}
	log := event.NewLog(f.store, identity.New(profilev1.NewProfileServiceClient(srv.Conn)), nil)
	eventv1.RegisterEventServiceServer(srv, api.NewServer(log, api.Options{Now: func() time.Time { return now }}))
	profilev1.RegisterProfileServiceServer(srv, f.profiles)
	srv.Start()
	f.client = eventv1.NewEventServiceClient(srv.Conn)
	return f
}

func (f *fixture) ingest(t *testing.T, events ...*eventv1.Event) []*eventv1.IngestResult {
	t.Helper()
	resp, err := f.client.IngestEvents(context.Background(), &eventv1.IngestEventsRequest{Events: events})
	require.NoError(t, err)
	require.Len(t, resp.GetResults(), len(events))
	for i, r := range resp.GetResults() {
		require.EqualValues(t, i, r.GetIndex())
	}
	return resp.GetResults()
}

func id(typ, value string) *typev1.Identifier {
	return &typev1.Identifier{Type: typ, Value: value}
}

func ids(s ...string) []*typev1.Identifier {
	out := make([]*typev1.Identifier, len(s))
	for i, v := range s {
		typ, value, _ := strings.Cut(v, ":")
		out[i] = id(typ, value)
	}
	return out
}

func track(name string, identifiers ...string) *eventv1.Event {
	return &eventv1.Event{Event: name, Identifiers: ids(identifiers...)}
}

func badRequestFields(t *testing.T, err error) []string {
	t.Helper()
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func TestIngestValidatesEachEvent(t *testing.T) {
	big, err := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 33<<10)})
	require.NoError(t, err)
	tests := []struct {
		name      string
		event     *eventv1.Event
		field     string // empty: accepted
		errSubstr string
	}{
		{"valid track", track("Product Viewed", "anonymous_id:a1"), "", ""},
		{"no identifiers", &eventv1.Event{Event: "Product Viewed"}, "identifiers", "at least one identifier"},
		{"bad email", track("Product Viewed", "email:not-an-email"), "identifiers[0]", `email "not-an-email" is not an email address`},
		{"bad second identifier", track("Product Viewed", "user_id:1", "phone:12345"), "identifiers[1]", `phone "12345"`},
		{"bad identifier type", track("Product Viewed", "Bad Type:1"), "identifiers[0]", `identifier type "Bad Type"`},
		{"empty identifier value", track("Product Viewed", "user_id: "), "identifiers[0]", "empty value"},
		{"track without event name", track("", "user_id:1"), "event", "needs an event name"},
		{"page without name", &eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_PAGE, Identifiers: ids("user_id:1")}, "", ""},
		{"event name of 200 characters", track(strings.Repeat("é", 200), "user_id:1"), "", ""},
		{"event name of 201 characters", track(strings.Repeat("é", 201), "user_id:1"), "event", "201 characters long; the limit is 200"},
		{"message id of 200 characters", &eventv1.Event{MessageId: strings.Repeat("m", 200), Event: "E", Identifiers: ids("user_id:1")}, "", ""},
		{"message id of 201 characters", &eventv1.Event{MessageId: strings.Repeat("m", 201), Event: "E", Identifiers: ids("user_id:1")}, "message_id", "201 characters long; the limit is 200"},
		{"unknown type", &eventv1.Event{Type: 42, Event: "E", Identifiers: ids("user_id:1")}, "type", "unknown event type 42"},
		{"over 32 KiB", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), Properties: big}, "", "limit is 32768 bytes"},
		{"timestamp 23h ahead", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), Timestamp: timestamppb.New(now.Add(23 * time.Hour))}, "", ""},
		{"timestamp 25h ahead", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), Timestamp: timestamppb.New(now.Add(25 * time.Hour))}, "timestamp", "more than 24h ahead"},
		{"timestamp in 1999", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), Timestamp: timestamppb.New(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC))}, "timestamp", "before 2000-01-01"},
		{"invalid timestamp", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), Timestamp: &timestamppb.Timestamp{Seconds: 1e12, Nanos: -1}}, "timestamp", "not a valid time"},
		// Postgres text and jsonb hold no NUL character: one in an event
		// must not fail the transaction it shares with other events.
		{"NUL in event name", track("E\x00", "user_id:1"), "event", "NUL character"},
		{"NUL in message id", &eventv1.Event{MessageId: "m\x00", Event: "E", Identifiers: ids("user_id:1")}, "message_id", "NUL character"},
		{"NUL in identifier", track("E", "user_id:1\x00"), "identifiers[0]", "NUL character"},
		{"NUL in property", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), Properties: nulStruct("note", "a\x00")}, "properties", "NUL character"},
		{"NUL in trait key", &eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Identifiers: ids("user_id:1"), Traits: nulStruct("a\x00", "v")}, "traits", "NUL character"},
		// Objects sent as JSON text.
		{"properties as JSON", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), PropertiesJson: ` {"order_id": 123456789012345678901234567890}`}, "", ""},
		{"malformed properties JSON", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), PropertiesJson: `{"a":}`}, "properties_json", "not valid JSON: invalid character '}'"},
		{"properties JSON not an object", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), PropertiesJson: `[1]`}, "properties_json", "must be a JSON object, got an array"},
		{"properties both ways", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), Properties: nulStruct("a", "b"), PropertiesJson: `{}`}, "properties_json", "set properties or properties_json, not both"},
		{"NUL in traits JSON", &eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Identifiers: ids("user_id:1"), TraitsJson: `{"a":"x\u0000"}`}, "traits_json", "NUL character"},
		{"number out of range in context JSON", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), ContextJson: `{"n":1e999}`}, "context_json", "the number 1e999 is out of range"},
		{"JSON over 32 KiB", &eventv1.Event{Event: "E", Identifiers: ids("user_id:1"), PropertiesJson: `{"blob":"` + strings.Repeat("x", 33<<10) + `"}`}, "", "limit is 32768 bytes"},
	}
	f := start(t)
	batch := make([]*eventv1.Event, len(tests))
	for i, tc := range tests {
		batch[i] = tc.event
	}
	results := f.ingest(t, batch...)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			if tc.field == "" && tc.errSubstr == "" {
				require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
				require.Regexp(t, `^events/\d+$`, r.GetName())
				require.Regexp(t, `^profiles/p\d+$`, r.GetProfile())
				return
			}
			require.Equal(t, eventv1.IngestResult_STATUS_REJECTED, r.GetStatus())
			want := fmt.Sprintf("events[%d]", i)
			if tc.field != "" {
				want += "." + tc.field
			}
			require.Equal(t, want, r.GetField())
			require.Contains(t, r.GetError(), tc.errSubstr)
			require.Empty(t, r.GetName())
			require.Empty(t, r.GetProfile())
		})
	}
	// The six accepted events have two distinct identifier lists (user_id:1
	// and anonymous_id:a1); events repeating one share its resolution.
	require.Len(t, f.profiles.resolveCalls(), 2, "only accepted events reach the profile service, once per identifier list")
}

func nulStruct(key, value string) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{key: structpb.NewStringValue(value)}}
}

func TestIngestBatchLimit(t *testing.T) {
	f := start(t)
	events := make([]*eventv1.Event, api.MaxBatch+1)
	for i := range events {
		events[i] = track("E", fmt.Sprintf("user_id:%d", i%10))
	}
	_, err := f.client.IngestEvents(context.Background(), &eventv1.IngestEventsRequest{Events: events})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "at most 1000 events, got 1001")
	require.Equal(t, []string{"events"}, badRequestFields(t, err))
	require.Empty(t, f.profiles.resolveCalls())

	results := f.ingest(t, events[:api.MaxBatch]...)
	for _, r := range results {
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus())
	}
}

func TestIngestDefaultsAndNormalizes(t *testing.T) {
	f := start(t)
	r := f.ingest(t, &eventv1.Event{Event: "Signed Up", Identifiers: ids("email: Ana@Example.COM ", "phone:+44 20 7946 0958", "email:ana@example.com")})[0]
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
	_, err := uuid.Parse(r.GetMessageId())
	require.NoError(t, err, "an empty message id is replaced by a UUID")

	list, err := f.client.ListProfileEvents(context.Background(), &eventv1.ListProfileEventsRequest{Profile: r.GetProfile()})
	require.NoError(t, err)
	want := &eventv1.Event{
		Name:        r.GetName(),
		MessageId:   r.GetMessageId(),
		Type:        eventv1.EventType_EVENT_TYPE_TRACK,
		Event:       "Signed Up",
		Identifiers: ids("email:ana@example.com", "phone:+442079460958"),
		Timestamp:   timestamppb.New(now),
		ReceiveTime: timestamppb.New(now),
		Profile:     r.GetProfile(),
		Sequence:    1,
	}
	require.Len(t, list.GetEvents(), 1)
	require.Empty(t, cmpDiff(want, list.GetEvents()[0]))
	require.Equal(t, ids("email:ana@example.com", "phone:+442079460958"), f.profiles.resolveCalls()[0].GetIdentifiers(),
		"the profile service gets normalized identifiers, each once")
}

func TestIngestPassesTraitsOfIdentifyAndEventTime(t *testing.T) {
	f := start(t)
	traits, err := structpb.NewStruct(map[string]any{"name": "Ana", "orders": 3.0})
	require.NoError(t, err)
	at := now.Add(-48 * time.Hour)
	f.ingest(t,
		&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Identifiers: ids("user_id:1"), Traits: traits, Timestamp: timestamppb.New(at)},
		&eventv1.Event{Event: "Order Completed", Identifiers: ids("user_id:2"), Traits: traits},
	)
	calls := f.profiles.resolveCalls()
	require.Len(t, calls, 2)
	byUser := map[string]*profilev1.ResolveProfileRequest{}
	for _, c := range calls {
		byUser[c.GetIdentifiers()[0].GetValue()] = c
	}
	require.Empty(t, cmpDiff(traits, byUser["1"].GetTraits()))
	require.True(t, byUser["1"].GetObserveTime().AsTime().Equal(at))
	require.Nil(t, byUser["2"].GetTraits(), "only identify calls set traits")
	require.True(t, byUser["2"].GetObserveTime().AsTime().Equal(now))
}

func TestIngestDuplicates(t *testing.T) {
	f := start(t)
	first := f.ingest(t, &eventv1.Event{MessageId: "m1", Event: "Order Completed", Identifiers: ids("user_id:1")})[0]
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, first.GetStatus())
	require.Len(t, f.profiles.resolveCalls(), 1)

	results := f.ingest(t,
		&eventv1.Event{MessageId: "m1", Event: "Order Completed", Identifiers: ids("user_id:other")},
		&eventv1.Event{MessageId: "m2", Event: "Product Viewed", Identifiers: ids("user_id:2")},
		&eventv1.Event{MessageId: "m2", Event: "Product Viewed", Identifiers: ids("user_id:2")},
		&eventv1.Event{MessageId: "m3", Identifiers: ids("user_id:3")},
		&eventv1.Event{MessageId: "m3", Event: "Fixed", Identifiers: ids("user_id:3")},
	)
	want := []*eventv1.IngestResult{
		{Index: 0, Status: eventv1.IngestResult_STATUS_DUPLICATE, MessageId: "m1", Name: first.GetName(), Profile: first.GetProfile()},
		{Index: 1, Status: eventv1.IngestResult_STATUS_ACCEPTED, MessageId: "m2", Name: "events/2", Profile: results[1].GetProfile()},
		{Index: 2, Status: eventv1.IngestResult_STATUS_DUPLICATE, MessageId: "m2", Name: "events/2", Profile: results[1].GetProfile()},
		{Index: 3, Status: eventv1.IngestResult_STATUS_REJECTED, MessageId: "m3", Field: "events[3].event", Error: results[3].GetError()},
		{Index: 4, Status: eventv1.IngestResult_STATUS_ACCEPTED, MessageId: "m3", Name: "events/3", Profile: results[4].GetProfile()},
	}
	require.Empty(t, cmpDiff(want, results))
	require.NotEqual(t, first.GetProfile(), results[1].GetProfile())
	require.Len(t, f.profiles.resolveCalls(), 3, "duplicates are answered without resolving them again")

	stored, err := f.store.ReadAfter(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, stored, 3)
}

// TestIngestDropsRepeatedIdentifiers: an identifier sent twice, as is or
// in two spellings of one normalized value, is kept once, in first-seen
// order, among few identifiers and among many.
func TestIngestDropsRepeatedIdentifiers(t *testing.T) {
	f := start(t)
	many := []string{"user_id:1"}
	for i := range 12 {
		many = append(many, fmt.Sprintf("anonymous_id:a%d", i%6))
	}
	results := f.ingest(t,
		&eventv1.Event{MessageId: "few", Event: "E", Identifiers: ids("user_id:1", "email:Ann@Example.com", "user_id:1", "email:ann@example.com")},
		&eventv1.Event{MessageId: "many", Event: "E", Identifiers: ids(many...)},
	)
	for _, r := range results {
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
	}
	stored, err := f.store.ReadAfter(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, stored, 2)
	require.Equal(t, []event.Identifier{{Type: "user_id", Value: "1"}, {Type: "email", Value: "ann@example.com"}}, stored[0].Identifiers)
	want := []event.Identifier{{Type: "user_id", Value: "1"}}
	for i := range 6 {
		want = append(want, event.Identifier{Type: "anonymous_id", Value: fmt.Sprintf("a%d", i)})
	}
	require.Equal(t, want, stored[1].Identifiers)
}

func TestIngestProfileRejection(t *testing.T) {
	f := start(t)
	f.profiles.reject["email:test@test.com"] = "email test@test.com is blocked"
	results := f.ingest(t,
		track("Product Viewed", "user_id:1"),
		track("Product Viewed", "user_id:2", "email:test@test.com"),
		track("Product Viewed", "user_id:3"),
	)
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, results[0].GetStatus())
	require.Equal(t, eventv1.IngestResult_STATUS_REJECTED, results[1].GetStatus())
	require.Equal(t, "events[1].identifiers[1]", results[1].GetField())
	require.Contains(t, results[1].GetError(), "email test@test.com is blocked")
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, results[2].GetStatus())
}

func TestIngestProfileFailureStoresNothing(t *testing.T) {
	for _, failure := range []error{
		status.Error(codes.Unavailable, "connection refused"),
		errors.New("database on fire"),
		fmt.Errorf("busy: %w", apierror.ErrResourceExhausted),
	} {
		t.Run(failure.Error(), func(t *testing.T) {
			f := start(t)
			batch := []*eventv1.Event{
				{MessageId: "m1", Event: "E", Identifiers: ids("user_id:1")},
				{MessageId: "m2", Event: "E", Identifiers: ids("user_id:2")},
			}
			f.profiles.setFail(failure)
			_, err := f.client.IngestEvents(context.Background(), &eventv1.IngestEventsRequest{Events: batch})
			require.Equal(t, codes.Unavailable, status.Code(err))
			require.Equal(t, "profile service unavailable; nothing was stored, retry the batch", status.Convert(err).Message())
			stored, err := f.store.ReadAfter(context.Background(), 0, 10)
			require.NoError(t, err)
			require.Empty(t, stored)

			f.profiles.setFail(nil)
			for _, want := range []eventv1.IngestResult_Status{eventv1.IngestResult_STATUS_ACCEPTED, eventv1.IngestResult_STATUS_DUPLICATE} {
				for _, r := range f.ingest(t, batch...) {
					require.Equal(t, want, r.GetStatus(), "retrying the batch is idempotent")
				}
			}
		})
	}
}

func TestListProfileEvents(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	var ana []*eventv1.IngestResult
	for i := range 5 {
		ana = append(ana, f.ingest(t, track(fmt.Sprintf("E%d", i), "email:ana@example.com"), track("Other", "user_id:bob"))[0])
	}
	profile := ana[0].GetProfile()

	var names []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		resp, err := f.client.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Identifier: id("email", "ANA@example.com"), PageSize: 2, PageToken: token})
		require.NoError(t, err)
		for _, ev := range resp.GetEvents() {
			require.Equal(t, profile, ev.GetProfile())
			names = append(names, ev.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	var want []string
	for _, r := range ana {
		want = append(want, r.GetName())
	}
	require.Equal(t, want, names, "every event of the profile once, oldest first")

	byName, err := f.client.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Profile: profile})
	require.NoError(t, err)
	require.Len(t, byName.GetEvents(), 5)
	require.Empty(t, byName.GetNextPageToken())

	tests := []struct {
		name  string
		req   *eventv1.ListProfileEventsRequest
		code  codes.Code
		field string
	}{
		{"neither profile nor identifier", &eventv1.ListProfileEventsRequest{}, codes.InvalidArgument, "profile"},
		{"bad profile name", &eventv1.ListProfileEventsRequest{Profile: "users/1"}, codes.InvalidArgument, "profile"},
		{"bad identifier", &eventv1.ListProfileEventsRequest{Identifier: id("email", "nope")}, codes.InvalidArgument, "identifier"},
		{"bad page token", &eventv1.ListProfileEventsRequest{Profile: profile, PageToken: "!!"}, codes.InvalidArgument, "page_token"},
		{"negative page size", &eventv1.ListProfileEventsRequest{Profile: profile, PageSize: -1}, codes.InvalidArgument, "page_size"},
		{"unknown identifier", &eventv1.ListProfileEventsRequest{Identifier: id("email", "nobody@example.com")}, codes.NotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ListProfileEvents(ctx, tc.req)
			require.Equal(t, tc.code, status.Code(err), "%v", err)
			if tc.field != "" {
				require.Equal(t, []string{tc.field}, badRequestFields(t, err))
			}
		})
	}
}

func TestStreamEvents(t *testing.T) {
	f := start(t)
	for i := range 3 {
		f.ingest(t, track(fmt.Sprintf("E%d", i), fmt.Sprintf("user_id:%d", i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	stream, err := f.client.StreamEvents(ctx, &eventv1.StreamEventsRequest{MaxBatchSize: 2})
	require.NoError(t, err)
	recv := func() []*eventv1.DeliveredEvent {
		t.Helper()
		msg, err := stream.Recv()
		require.NoError(t, err)
		return msg.GetEvents()
	}
	var seqs []int64
	for _, batch := range [][]*eventv1.DeliveredEvent{recv(), recv()} {
		for _, d := range batch {
			require.Equal(t, feed.EncodeCursor(d.GetEvent().GetSequence()), d.GetCursor())
			seqs = append(seqs, d.GetEvent().GetSequence())
		}
	}
	require.Equal(t, []int64{1, 2, 3}, seqs, "two messages of at most 2 events, in log order")

	f.ingest(t, track("Later", "user_id:9"))
	later := recv()
	require.Len(t, later, 1, "the stream follows the log")
	require.Equal(t, "Later", later[0].GetEvent().GetEvent())
	require.Equal(t, "profiles/p4", later[0].GetEvent().GetProfile())

	resumed, err := f.client.StreamEvents(ctx, &eventv1.StreamEventsRequest{AfterCursor: feed.EncodeCursor(2)})
	require.NoError(t, err)
	msg, err := resumed.Recv()
	require.NoError(t, err)
	require.Len(t, msg.GetEvents(), 2)
	require.EqualValues(t, 3, msg.GetEvents()[0].GetEvent().GetSequence(), "resumes after the cursor")

	for _, tc := range []struct {
		req   *eventv1.StreamEventsRequest
		field string
	}{
		{&eventv1.StreamEventsRequest{AfterCursor: "not-a-cursor"}, "after_cursor"},
		{&eventv1.StreamEventsRequest{MaxBatchSize: -5}, "max_batch_size"},
	} {
		bad, err := f.client.StreamEvents(ctx, tc.req)
		require.NoError(t, err)
		_, err = bad.Recv()
		require.Equal(t, codes.InvalidArgument, status.Code(err))
		require.Equal(t, []string{tc.field}, badRequestFields(t, err))
	}
}

func TestDeliveredEventsContinueTheIngestTrace(t *testing.T) {
	f := start(t)
	ctx, span := otel.Tracer("test").Start(context.Background(), "client")
	_, err := f.client.IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: []*eventv1.Event{track("Order Completed", "user_id:1")}})
	require.NoError(t, err)
	span.End()

	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := f.client.StreamEvents(sctx, &eventv1.StreamEventsRequest{})
	require.NoError(t, err)
	msg, err := stream.Recv()
	require.NoError(t, err)
	tc := msg.GetEvents()[0].GetTraceContext()
	require.Contains(t, tc, "traceparent")
	delivered := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(tc)))
	require.Equal(t, span.SpanContext().TraceID(), delivered.TraceID())
}

func cmpDiff(want, got any) string {
	return cmp.Diff(want, got, protocmp.Transform())
}

// TestIngestKeepsJSONTextAsSent: objects sent as JSON text are stored as
// sent, numbers with every digit (a Struct would hold them as doubles), and
// are the event's properties, traits and context as if sent as Structs.
func TestIngestKeepsJSONTextAsSent(t *testing.T) {
	f := start(t)
	res := f.ingest(t, &eventv1.Event{
		MessageId: "m-json", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Identifiers: ids("user_id:1"),
		PropertiesJson: `{"order_id":123456789012345678901234567890,"revenue":12.5}`,
		TraitsJson:     `{"plan":"gold"}`,
		ContextJson:    `{"device":{"type":"mobile"}}`,
	})
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, res[0].GetStatus(), res[0].GetError())
	stored, err := f.store.ByMessageIDs(context.Background(), []string{"m-json"})
	require.NoError(t, err)
	ev := stored["m-json"]
	require.Equal(t, `{"order_id":123456789012345678901234567890,"revenue":12.5}`, string(ev.Properties))
	require.Equal(t, `{"plan":"gold"}`, string(ev.Traits))
	require.Equal(t, `{"device":{"type":"mobile"}}`, string(ev.Context))
	calls := f.profiles.resolveCalls()
	require.Equal(t, "gold", calls[len(calls)-1].GetTraits().GetFields()["plan"].GetStringValue(), "traits sent as JSON reach the profile service")
}

// TestListProfileEventsAsJSONText: with json_objects, a listing returns the
// objects as stored, numbers with every digit; without, as Structs.
func TestListProfileEventsAsJSONText(t *testing.T) {
	f := start(t)
	res := f.ingest(t, &eventv1.Event{Event: "Order Completed", Identifiers: ids("user_id:7"),
		PropertiesJson: `{"order_id":123456789012345678901234567890}`, ContextJson: `{"ip":"10.0.0.1"}`})
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, res[0].GetStatus(), res[0].GetError())
	list := func(asJSON bool) *eventv1.Event {
		resp, err := f.client.ListProfileEvents(context.Background(), &eventv1.ListProfileEventsRequest{
			Profile: res[0].GetProfile(), JsonObjects: asJSON})
		require.NoError(t, err)
		require.Len(t, resp.GetEvents(), 1)
		return resp.GetEvents()[0]
	}
	ev := list(true)
	require.Equal(t, `{"order_id":123456789012345678901234567890}`, ev.GetPropertiesJson())
	require.Equal(t, `{"ip":"10.0.0.1"}`, ev.GetContextJson())
	require.Empty(t, ev.GetTraitsJson())
	require.Nil(t, ev.GetProperties())
	ev = list(false)
	require.Empty(t, ev.GetPropertiesJson())
	require.Equal(t, 1.2345678901234568e+29, ev.GetProperties().GetFields()["order_id"].GetNumberValue())
}
