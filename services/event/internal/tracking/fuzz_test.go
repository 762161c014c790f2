package tracking_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/barista-cdp/barista/services/event/internal/tracking"
)

// FuzzTrackingAPI feeds arbitrary bodies to /v1/batch and /v1/track through
// the whole ingest path (decoding, validation, the in-memory store) and
// checks what must hold for every input: no panic and no 500, a JSON answer
// whose success matches the status, one result per batch item, a reason for
// every rejection, and only well-formed events stored.
func FuzzTrackingAPI(f *testing.F) {
	seeds := []string{
		`{"batch":[{"type":"track","userId":"1","event":"E","properties":{"revenue":1.5}}]}`,
		`{"batch":[{"type":"identify","anonymousId":"a","traits":{"email":"a@b.c","phone":"+44 20 7946 0958"}},{"type":"page","userId":2,"name":"P"}],"context":{"ip":"1.2.3.4"},"integrations":{"All":true},"sentAt":"2026-05-04T10:29:50Z"}`,
		`{"batch":[{"type":"alias","userId":"1","previousId":"a"},{"type":"group","userId":"1","groupId":"g"},{"type":"screen","anonymousId":"x"}]}`,
		`{"batch":[{"type":"track","userId":"1","event":"E","originalTimestamp":"2026-05-04T10:00:00Z","sentAt":"2026-05-04T10:00:05Z"}]}`,
		`{"batch":[42, "x", null, {}, {"type":7}]}`,
		`{"batch":{}}`,
		`{"userId":"1","event":"E","timestamp":"1970-01-01T00:00:00Z"}`,
		`{"userId":{"a":1},"event":"E"}`,
		"{\"userId\":\"\xff\",\"event\":\"E\"}",
		`{"userId":"\ud800","event":"E"}`,
		`{"anonymousId":"a","event":"E","context":{"device":{"id":5}}}`,
		`{"batch":[{"type":"track","userId":"1","event":"E","messageId":"m"},{"type":"track","userId":"1","event":"E","messageId":"m"}]}`,
		`{"userId":"1","event":"purchase","properties":{"currency":"eur","revenue":10,"category":"FOOTWEAR","products":[{"price":2,"category":"footwear"},7]}}`,
		`[`, ``, `null`, `{"batch":[`,
		`{"userId":"1","event":"E","properties":{"n":1e400,"s":"\u0000","k\u0065y":"\ud800"},"context":{"d":[[[]]]}}`,
	}
	for _, s := range seeds {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	fx := start(f, tracking.Options{})
	var last int64
	f.Fuzz(func(t *testing.T, batch bool, body []byte) {
		path := "/v1/track"
		if batch {
			path = "/v1/batch"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.SetBasicAuth("wk", "")
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var resp tracking.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, rec.Body)
		}
		if resp.Success != (rec.Code == http.StatusOK) {
			t.Fatalf("success %v with status %d", resp.Success, rec.Code)
		}
		if !resp.Success && resp.Message == "" {
			t.Fatalf("a failure without a message: %s", rec.Body)
		}
		var items struct {
			Batch []json.RawMessage `json:"batch"`
		}
		if batch && resp.Results != nil && json.Unmarshal(body, &items) == nil && len(items.Batch) != len(resp.Results) {
			t.Fatalf("%d results for %d items", len(resp.Results), len(items.Batch))
		}
		for i, r := range resp.Results {
			if r.Index != i {
				t.Fatalf("result %d has index %d", i, r.Index)
			}
			switch r.Status {
			case "accepted", "duplicate":
				if r.Event == "" || r.Profile == "" {
					t.Fatalf("stored result without names: %+v", r)
				}
			case "rejected":
				if r.Error == "" || r.Field == "" {
					t.Fatalf("rejection without field and reason: %+v", r)
				}
			default:
				t.Fatalf("unknown status %q", r.Status)
			}
		}
		fresh, err := fx.store.ReadAfter(context.Background(), last, 5000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range fresh {
			last = ev.Seq
			if len(ev.Identifiers) == 0 || !utf8.ValidString(ev.Name) || !utf8.ValidString(ev.MessageID) || ev.MessageID == "" {
				t.Fatalf("malformed stored event %+v", ev)
			}
			// What Postgres's jsonb and the consumers (encoding/json into
			// float64) can hold: objects, no NUL character.
			for _, raw := range []json.RawMessage{ev.Properties, ev.Traits, ev.Context} {
				var m map[string]any
				if raw != nil && (json.Unmarshal(raw, &m) != nil || m == nil || bytes.Contains(raw, []byte(`\u0000`))) {
					t.Fatalf("stored JSON that cannot be held: %s", raw)
				}
			}
		}
	})
}
