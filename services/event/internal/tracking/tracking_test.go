package tracking_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/event/internal/api"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
	"github.com/barista-cdp/barista/services/event/internal/normalize"
	"github.com/barista-cdp/barista/services/event/internal/postgres"
	"github.com/barista-cdp/barista/services/event/internal/tracking"
	"github.com/barista-cdp/barista/services/event/migrations"
)

// now is the server's clock.
var now = time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)

// linkingResolver gives each new set of identifiers a profile and links
// identifiers seen together, like the profile service; fail makes it fail.
type linkingResolver struct {
	mu       sync.Mutex
	profiles map[event.Identifier]string
	fail     error
}

func (r *linkingResolver) Resolve(_ context.Context, ids []event.Identifier, _ json.RawMessage, _ time.Time) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", r.fail
	}
	profile := ""
	for _, id := range ids {
		if p, ok := r.profiles[id]; ok && profile == "" {
			profile = p
		}
	}
	if profile == "" {
		profile = fmt.Sprintf("p%d", len(r.profiles)+1)
	}
	for _, id := range ids {
		r.profiles[id] = profile
	}
	return profile, nil
}

func (r *linkingResolver) Lookup(_ context.Context, id event.Identifier) (string, error) {
	return "", event.ErrProfileNotFound
}

type fixture struct {
	handler  http.Handler
	store    event.Store
	resolver *linkingResolver
}

func start(t testing.TB, opts tracking.Options) *fixture {
	t.Helper()
	return startOn(t, memory.New(), opts)
}

// startOn is start on store.
func startOn(t testing.TB, store event.Store, opts tracking.Options) *fixture {
	t.Helper()
	f := &fixture{store: store, resolver: &linkingResolver{profiles: map[event.Identifier]string{}}}
	// The built-in rules plus a label and a rate, so that normalization is
	// on the path the tests and the fuzz test drive.
	rules := normalize.Defaults()
	rules.CategoryLabels = map[string]string{"footwear": "Shoes"}
	rules.CurrencyRates = map[string]float64{"EUR": 1.1}
	normalizer, err := normalize.New(rules)
	require.NoError(t, err)
	log := event.NewLog(f.store, f.resolver, nil, event.WithNormalizer(normalizer))
	opts.Now = func() time.Time { return now }
	f.handler = tracking.New(api.NewServer(log, api.Options{Now: opts.Now}), opts)
	return f
}

// post sends body to path with the write key "wk" as Basic user (unless
// header is set) and decodes the answer.
func (f *fixture) post(t *testing.T, path, body string, header ...string) (int, tracking.Response) {
	t.Helper()
	return f.postBytes(t, path, []byte(body), header...)
}

func (f *fixture) postBytes(t *testing.T, path string, body []byte, header ...string) (int, tracking.Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if len(header) == 0 {
		req.SetBasicAuth("wk", "")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), rec.Body.String())
	var resp tracking.Response
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
	require.Equal(t, rec.Code == http.StatusOK, resp.Success, rec.Body.String())
	return rec.Code, resp
}

func (f *fixture) stored(t *testing.T) []event.Event {
	t.Helper()
	events, err := f.store.ReadAfter(context.Background(), 0, 5000)
	require.NoError(t, err)
	return events
}

func identifiers(ev event.Event) []string {
	var out []string
	for _, id := range ev.Identifiers {
		out = append(out, id.String())
	}
	return out
}

func asMap(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestSingleCallsMapToEvents(t *testing.T) {
	tests := []struct {
		path, body string
		check      func(t *testing.T, ev event.Event)
	}{
		{"/v1/track", `{"userId":"42","anonymousId":"a1","event":"Order Completed","messageId":"m-track",
			"properties":{"revenue":12.5},"context":{"ip":"1.2.3.4"},"timestamp":"2026-05-03T08:00:00.123Z"}`,
			func(t *testing.T, ev event.Event) {
				require.Equal(t, event.TypeTrack, ev.Type)
				require.Equal(t, "Order Completed", ev.Name)
				require.Equal(t, "m-track", ev.MessageID)
				require.Equal(t, []string{"user_id:42", "anonymous_id:a1"}, identifiers(ev))
				require.Equal(t, map[string]any{"revenue": 12.5}, asMap(t, ev.Properties))
				require.Equal(t, map[string]any{"ip": "1.2.3.4"}, asMap(t, ev.Context))
				require.Equal(t, time.Date(2026, 5, 3, 8, 0, 0, 123e6, time.UTC), ev.OccurredAt)
				require.Equal(t, now, ev.ReceivedAt)
			}},
		{"/v1/identify", `{"userId":42,"traits":{"email":" Ana@Example.com ","name":"Ana"},
			"context":{"traits":{"phone":"+44 20 7946 0958"},"device":{"id":"d-1"}}}`,
			func(t *testing.T, ev event.Event) {
				require.Equal(t, event.TypeIdentify, ev.Type)
				require.Equal(t, []string{"user_id:42", "email:ana@example.com", "phone:+442079460958", "device_id:d-1"}, identifiers(ev))
				require.Equal(t, "Ana", asMap(t, ev.Traits)["name"])
				require.NotEmpty(t, ev.MessageID, "a message id is generated when none is sent")
				require.Equal(t, now, ev.OccurredAt, "no timestamp: the receive time")
			}},
		{"/v1/page", `{"anonymousId":"a1","name":"Shoes","category":"Catalog","properties":{"url":"https://shop/shoes"}}`,
			func(t *testing.T, ev event.Event) {
				require.Equal(t, event.TypePage, ev.Type)
				require.Equal(t, "Shoes", ev.Name)
				require.Equal(t, map[string]any{"url": "https://shop/shoes", "category": "Catalog"}, asMap(t, ev.Properties))
			}},
		{"/v1/screen", `{"anonymousId":"a1","name":"Home"}`,
			func(t *testing.T, ev event.Event) {
				require.Equal(t, event.TypeScreen, ev.Type)
				require.Equal(t, "Home", ev.Name)
			}},
		{"/v1/group", `{"userId":"42","groupId":"acme","traits":{"plan":"pro"}}`,
			func(t *testing.T, ev event.Event) {
				require.Equal(t, event.TypeGroup, ev.Type)
				require.Equal(t, map[string]any{"groupId": "acme"}, asMap(t, ev.Properties))
				require.Equal(t, map[string]any{"plan": "pro"}, asMap(t, ev.Traits))
			}},
		{"/v1/alias", `{"userId":"42","previousId":"a1"}`,
			func(t *testing.T, ev event.Event) {
				require.Equal(t, event.TypeAlias, ev.Type)
				require.Equal(t, []string{"user_id:42", "anonymous_id:a1"}, identifiers(ev))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			f := start(t, tracking.Options{})
			code, resp := f.post(t, tc.path, tc.body)
			require.Equal(t, http.StatusOK, code, resp.Message)
			events := f.stored(t)
			require.Len(t, events, 1)
			require.Equal(t, "accepted", resp.Result.Status)
			require.Equal(t, events[0].MessageID, resp.Result.MessageID)
			require.Equal(t, "events/1", resp.Result.Event)
			require.Equal(t, "profiles/"+events[0].ProfileID, resp.Result.Profile)
			tc.check(t, events[0])
		})
	}
}

func TestSingleCallsRejectBadInput(t *testing.T) {
	tests := []struct {
		name, path, body string
		code             int
		field, message   string
	}{
		{"malformed JSON", "/v1/track", `{"userId": "1", "event": "E"`, 400, "", "malformed JSON"},
		{"not an object", "/v1/track", `["userId"]`, 400, "", "must be a JSON object, got array"},
		{"invalid UTF-8", "/v1/track", "{\"userId\":\"\xff\",\"event\":\"E\"}", 400, "", "not valid UTF-8 (bad byte at offset 11)"},
		{"no ids", "/v1/track", `{"event":"E"}`, 400, "userId", "userId or anonymousId is required"},
		{"blank ids", "/v1/track", `{"event":"E","userId":"  ","anonymousId":""}`, 400, "userId", "userId or anonymousId is required"},
		{"userId an object", "/v1/track", `{"event":"E","userId":{"id":1}}`, 400, "userId", "must be a string or a number, got object"},
		{"event a number", "/v1/track", `{"event":7,"userId":"1"}`, 400, "event", "must be a string, got number"},
		{"no event name", "/v1/track", `{"userId":"1"}`, 400, "event", "needs an event name"},
		{"properties a string", "/v1/track", `{"event":"E","userId":"1","properties":"a=b"}`, 400, "properties", "must be a JSON object, got string"},
		{"timestamp a number", "/v1/track", `{"event":"E","userId":"1","timestamp":1714816200}`, 400, "timestamp", "ISO-8601 string"},
		{"timestamp not a time", "/v1/track", `{"event":"E","userId":"1","timestamp":"yesterday"}`, 400, "timestamp", `"yesterday" is not an ISO-8601 time`},
		{"absurd timestamp", "/v1/track", `{"event":"E","userId":"1","timestamp":"1970-01-01T00:00:00Z"}`, 400, "timestamp", "before 2000-01-01"},
		{"bad email trait", "/v1/identify", `{"userId":"1","traits":{"email":"not-an-email"}}`, 400, "traits.email", "is not an email address"},
		{"email trait a number", "/v1/identify", `{"userId":"1","traits":{"email":5}}`, 400, "traits.email", "must be a string, got number"},
		{"alias without previousId", "/v1/alias", `{"userId":"1"}`, 400, "previousId", "needs both previousId and userId"},
		{"group without groupId", "/v1/group", `{"userId":"1"}`, 400, "groupId", "needs a groupId"},
		{"over 32 KB", "/v1/track", `{"userId":"1","event":"E","properties":{"blob":"` + strings.Repeat("x", 32<<10) + `"}}`, 400, "", "Segment's limit of 32 KB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, tracking.Options{})
			code, resp := f.post(t, tc.path, tc.body)
			require.Equal(t, tc.code, code, resp.Message)
			require.Equal(t, tc.field, resp.Field)
			require.Contains(t, resp.Message, tc.message)
			require.NotEmpty(t, resp.Code)
			require.Empty(t, f.stored(t))
		})
	}
}

func TestWriteKey(t *testing.T) {
	body := `{"userId":"1","event":"E"}`
	t.Run("missing", func(t *testing.T) {
		f := start(t, tracking.Options{})
		code, resp := f.post(t, "/v1/track", body, "X-None", "")
		require.Equal(t, http.StatusUnauthorized, code)
		require.Equal(t, "unauthorized", resp.Code)
		require.Contains(t, resp.Message, "write key is required")
		require.Empty(t, f.stored(t))
	})
	t.Run("in the body, any key in dev mode", func(t *testing.T) {
		f := start(t, tracking.Options{})
		code, _ := f.post(t, "/v1/track", `{"writeKey":"anything","userId":"1","event":"E"}`, "X-None", "")
		require.Equal(t, http.StatusOK, code)
	})
	t.Run("configured keys", func(t *testing.T) {
		f := start(t, tracking.Options{WriteKeys: []string{"secret"}})
		code, resp := f.post(t, "/v1/track", body)
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, resp.Message, "not valid")
		code, _ = f.post(t, "/v1/batch", `{"writeKey":"secret","batch":[{"type":"track","userId":"1","event":"E"}]}`, "X-None", "")
		require.Equal(t, http.StatusOK, code)
	})
}

// TestBatchRejectsWhatPostgresCannotHoldAlone sends, in one batch, events
// with values that Postgres text and jsonb cannot hold as sent (the NUL
// character, numbers beyond float64, deep nesting) beside ordinary ones,
// to both stores: each such event is rejected with its field, and the
// others are stored, in one transaction, reading back as sent.
func TestBatchRejectsWhatPostgresCannotHoldAlone(t *testing.T) {
	deep := strings.Repeat("[", 1001) + strings.Repeat("]", 1001)
	body := `{"batch":[
	  {"type":"track","messageId":"ok-1","userId":"1","event":"Order Completed",
	   "properties":{"order_id":123456789012345678901234567890, "note":"caf\u00e9 \ud83d\ude00 \ud800", "curr\u0065ncy":"EUR", "revenue":10}},
	  {"type":"track","messageId":"m1","userId":"1","event":"E\u0000"},
	  {"type":"track","messageId":"m2","userId":"a\u0000","event":"E"},
	  {"type":"track","messageId":"m3","userId":"1","event":"E","properties":{"a":"\u0000"}},
	  {"type":"track","messageId":"m4","userId":"1","event":"E","properties":{"n":1e400}},
	  {"type":"identify","messageId":"m5","userId":"1","traits":{"t":` + deep + `}},
	  {"type":"track","messageId":"ok-2","userId":"2","event":"E","properties":{ "url" : "https://shop/x" }},
	  {"type":"track","messageId":"m\u0000","userId":"1","event":"E"}
	]}`
	for name, store := range map[string]func(t *testing.T) event.Store{
		"memory":   func(*testing.T) event.Store { return memory.New() },
		"postgres": func(t *testing.T) event.Store { return postgres.New(pgtest.NewPool(t, "event", migrations.FS)) },
	} {
		t.Run(name, func(t *testing.T) {
			f := startOn(t, store(t), tracking.Options{})
			code, resp := f.post(t, "/v1/batch", body)
			require.Equal(t, http.StatusOK, code, resp.Message)
			var fields []string
			for _, r := range resp.Results {
				fields = append(fields, r.Status+" "+r.Field)
			}
			require.Equal(t, []string{"accepted ", "rejected batch[1].event", "rejected batch[2].userId", "rejected batch[3].properties",
				"rejected batch[4].properties", "rejected batch[5].traits", "accepted ", "rejected batch[7].messageId"}, fields)
			require.Contains(t, resp.Results[3].Error, "NUL character")
			require.Contains(t, resp.Results[4].Error, "the number 1e400 is out of range")
			require.Contains(t, resp.Results[5].Error, "nested more than 1000 levels deep")

			events := f.stored(t)
			require.Len(t, events, 2)
			d := json.NewDecoder(bytes.NewReader(events[0].Properties))
			d.UseNumber()
			var props map[string]any
			require.NoError(t, d.Decode(&props))
			// Numbers keep their digits; the escaped key is the currency
			// that normalization converts (EUR at 1.1 in start's rules).
			require.Equal(t, map[string]any{
				"order_id": json.Number("123456789012345678901234567890"), "note": "café 😀 \ufffd",
				"currency": "USD", "original_currency": "EUR", "exchange_rate": json.Number("1.1"), "revenue": json.Number("11"),
			}, props)
			require.Equal(t, map[string]any{"url": "https://shop/x"}, asMap(t, events[1].Properties))
		})
	}
}

func TestBatchStoresTheGoodItemsAndReportsEach(t *testing.T) {
	f := start(t, tracking.Options{})
	body := `{
	  "context": {"library": {"name": "analytics-node"}, "ip": "9.9.9.9"},
	  "integrations": {"All": false},
	  "sentAt": "2026-05-04T10:29:50Z",
	  "batch": [
	    {"type": "identify", "messageId": "m0", "anonymousId": "a1", "userId": "42", "traits": {"email": "ana@example.com"}, "context": {"ip": "1.1.1.1"}},
	    42,
	    {"type": "track", "messageId": "m2", "userId": "42"},
	    {"type": "track", "messageId": "m3", "anonymousId": "a1", "event": "Product Viewed", "originalTimestamp": "2026-05-04T10:00:00Z"},
	    {"type": "teleport", "userId": "1"},
	    {"type": "identify", "messageId": "m5", "userId": "7", "context": {"traits": {"email": "bad"}}},
	    {"type": "track", "messageId": "m3", "anonymousId": "a1", "event": "Product Viewed"},
	    {"messageId": "m7", "userId": "1"}
	  ]
	}`
	code, resp := f.post(t, "/v1/batch", body)
	require.Equal(t, http.StatusOK, code, resp.Message)
	require.Equal(t, []tracking.Result{
		{Index: 0, Status: "accepted", MessageID: "m0", Event: "events/1", Profile: "profiles/p1"},
		{Index: 1, Status: "rejected", Field: "batch[1]", Error: "batch[1] must be a JSON object, got number"},
		{Index: 2, Status: "rejected", Field: "batch[2].event", Error: `a track call needs an event name, such as "Order Completed"`},
		{Index: 3, Status: "accepted", MessageID: "m3", Event: "events/2", Profile: "profiles/p1"},
		{Index: 4, Status: "rejected", Field: "batch[4].type", Error: `unknown call type "teleport"; want track, identify, page, screen, group or alias`},
		{Index: 5, Status: "rejected", MessageID: "m5", Field: "batch[5].context.traits.email", Error: `email "bad" is not an email address`},
		{Index: 6, Status: "duplicate", MessageID: "m3", Event: "events/2", Profile: "profiles/p1"},
		{Index: 7, Status: "rejected", Field: "batch[7].type", Error: "is required: track, identify, page, screen, group or alias"},
	}, resp.Results)

	events := f.stored(t)
	require.Len(t, events, 2)
	// The item's own context keys win over the batch's; integrations are
	// kept with the context.
	require.Equal(t, map[string]any{
		"library": map[string]any{"name": "analytics-node"}, "ip": "1.1.1.1", "integrations": map[string]any{"All": false},
	}, asMap(t, events[0].Context))
	require.Equal(t, []string{"user_id:42", "anonymous_id:a1", "email:ana@example.com"}, identifiers(events[0]))
	// originalTimestamp 10:00:00 on a device whose clock was 10s behind
	// (sentAt 10:29:50, received 10:30:00): the event happened at 10:00:10.
	require.Equal(t, time.Date(2026, 5, 4, 10, 0, 10, 0, time.UTC), events[1].OccurredAt)
}

func TestTimestampDerivation(t *testing.T) {
	tests := []struct {
		name, fields string
		want         time.Time
	}{
		{"timestamp wins", `"timestamp":"2026-05-01T00:00:00Z","originalTimestamp":"2026-04-01T00:00:00Z","sentAt":"2026-05-04T10:30:00Z"`, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)},
		{"original corrected by sentAt", `"originalTimestamp":"2026-05-04T09:00:00+02:00","sentAt":"2026-05-04T10:31:00Z"`, time.Date(2026, 5, 4, 6, 59, 0, 0, time.UTC)},
		{"original alone", `"originalTimestamp":"2026-05-04T09:00:00.5Z"`, time.Date(2026, 5, 4, 9, 0, 0, 5e8, time.UTC)},
		{"nothing: received", `"sentAt":"2026-05-04T10:31:00Z"`, now},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, tracking.Options{})
			code, resp := f.post(t, "/v1/track", `{"userId":"1","event":"E",`+tc.fields+`}`)
			require.Equal(t, http.StatusOK, code, resp.Message)
			require.Equal(t, tc.want, f.stored(t)[0].OccurredAt)
		})
	}
}

func TestBatchLimits(t *testing.T) {
	f := start(t, tracking.Options{})
	big := `{"type":"track","userId":"1","event":"E","properties":{"blob":"` + strings.Repeat("x", 33<<10) + `"}}`
	code, resp := f.post(t, "/v1/batch", `{"batch":[`+big+`,{"type":"track","userId":"1","event":"Small"}]}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "rejected", resp.Results[0].Status)
	require.Contains(t, resp.Results[0].Error, "over Segment's limit of 32 KB (32768 bytes) per event")
	require.Equal(t, "accepted", resp.Results[1].Status)

	items := make([]string, 20)
	for i := range items {
		items[i] = big[:30<<10] + `"}}`
	}
	code, resp = f.post(t, "/v1/batch", `{"batch":[`+strings.Join(items, ",")+`]}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "payload_too_large", resp.Code)
	require.Contains(t, resp.Message, "over Segment's limit of 500 KB")
	require.Len(t, f.stored(t), 1)
}

func TestBatchOfOnlyBadItemsIs400(t *testing.T) {
	f := start(t, tracking.Options{})
	code, resp := f.post(t, "/v1/batch", `{"batch":[{"type":"track"},"x"]}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Len(t, resp.Results, 2)
	require.Equal(t, "batch[0].userId", resp.Results[0].Field)

	for body, msg := range map[string]string{
		`{}`:                        "batch: is required",
		`{"batch":{}}`:              "batch: must be a JSON array, got object",
		`{"batch":[],"sentAt":5}`:   "sentAt: must be an ISO-8601 string",
		`{"batch":[],"context":[]}`: "context: must be a JSON object, got array",
	} {
		code, resp := f.post(t, "/v1/batch", body)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, resp.Message, msg, body)
	}
	code, resp = f.post(t, "/v1/batch", `{"batch":[]}`)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, resp.Results)
}

func TestBatchSplitsLargeBatchesIntoIngestCalls(t *testing.T) {
	f := start(t, tracking.Options{})
	items := make([]string, api.MaxBatch+5)
	for i := range items {
		items[i] = fmt.Sprintf(`{"type":"track","messageId":"m%d","userId":"u%d","event":"E"}`, i, i%3)
	}
	code, resp := f.post(t, "/v1/batch", `{"batch":[`+strings.Join(items, ",")+`]}`)
	require.Equal(t, http.StatusOK, code, resp.Message)
	require.Len(t, resp.Results, len(items))
	for i, r := range resp.Results {
		require.Equal(t, "accepted", r.Status)
		require.Equal(t, i, r.Index)
		require.Equal(t, fmt.Sprintf("m%d", i), r.MessageID)
	}
	require.Equal(t, len(items), len(f.stored(t)))
}

func TestGzipBody(t *testing.T) {
	f := start(t, tracking.Options{})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write([]byte(`{"batch":[{"type":"track","userId":"1","event":"Zipped"}]}`))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	code, resp := f.postBytes(t, "/v1/batch", buf.Bytes(), "Content-Encoding", "gzip", "Authorization", "Basic d2s6")
	require.Equal(t, http.StatusOK, code, resp.Message)
	require.Equal(t, "Zipped", f.stored(t)[0].Name)

	code, resp = f.post(t, "/v1/batch", `not gzip`, "Content-Encoding", "gzip", "Authorization", "Basic d2s6")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, resp.Message, "not valid gzip")
}

func TestProfileServiceDownIs503AndStoresNothing(t *testing.T) {
	f := start(t, tracking.Options{})
	f.resolver.fail = errors.New("connection refused")
	code, resp := f.post(t, "/v1/batch", `{"batch":[{"type":"track","userId":"1","event":"E"}]}`)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "unavailable", resp.Code)
	require.Contains(t, resp.Message, "retry")
	require.NotContains(t, resp.Message, "connection refused", "internal causes stay in logs")
	require.Empty(t, f.stored(t))
}

func TestOnlyPostOnKnownPaths(t *testing.T) {
	f := start(t, tracking.Options{})
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/track", nil))
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/teleport", strings.NewReader("{}")))
	require.Equal(t, http.StatusNotFound, rec.Code)
}
