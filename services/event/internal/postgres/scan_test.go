package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/migrations"
)

// jsonbIdentifiers are identifiers columns as Postgres writes them (the
// first ones, which take the fast path) and as it never does (the rest,
// which json.Unmarshal decodes).
var jsonbIdentifiers = []string{
	`[]`,
	`[{"type": "user_id", "value": "42"}]`,
	`[{"type": "email", "value": "ana@example.com"}, {"type": "anonymous_id", "value": "naïve ☕ a-1 b~"}]`,
	`[{"type": "user_id", "value": "say \"hi\""}]`,
	`[{"type": "user_id", "value": "a\\b"}]`,
	`[{"type":"user_id","value":"42"}]`,
	`[{"value": "42", "type": "user_id"}]`,
	`[{"type": "user_id", "value": "42", "extra": 1}]`,
	`[{"type": "user_id"}]`,
	` [{"type": "user_id", "value": "42"}]`,
	`[{"type": "user_id", "value": "42"}] `,
	`null`,
}

var jsonbTraceContexts = []string{
	`{}`,
	`{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
	`{"tracestate": "k=v", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
	`{"traceparent": "a\"b"}`,
	`{"traceparent":"x"}`,
	`{"a": "1", "a": "2"}`,
	`null`,
}

func TestScanColumnsDecodeAsJSONUnmarshal(t *testing.T) {
	for k, src := range jsonbIdentifiers {
		_, fast := plainIdentifiers([]byte(src))
		require.Equal(t, k < 3, fast, "fast path for %s", src)
		requireDecodedAsJSONUnmarshal(t, src, scanIdentifiers)
	}
	for k, src := range jsonbTraceContexts {
		_, fast := plainStringMap([]byte(src))
		require.Equal(t, k < 3 || k == 5, fast, "fast path for %s", src)
		requireDecodedAsJSONUnmarshal(t, src, scanTraceContext)
	}
	var ids identifiersColumn = []event.Identifier{{Type: "t", Value: "v"}}
	require.NoError(t, ids.ScanBytes(nil))
	require.Nil(t, ids, "SQL NULL")
	trace := traceContextColumn{"k": "v"}
	require.NoError(t, trace.ScanBytes(nil))
	require.Nil(t, trace, "SQL NULL")
	require.Error(t, ids.ScanBytes([]byte(`[{"type": 1}]`)))
}

// requireDecodedAsJSONUnmarshal requires scan to decode src as
// json.Unmarshal decodes it into a T.
func requireDecodedAsJSONUnmarshal[T any](t testing.TB, src string, scan func([]byte) (T, error)) {
	t.Helper()
	var want T
	wantErr := json.Unmarshal([]byte(src), &want)
	got, err := scan([]byte(src))
	if wantErr != nil {
		require.Error(t, err, src)
		return
	}
	require.NoError(t, err, src)
	require.Equal(t, want, got, src)
}

func scanIdentifiers(src []byte) ([]event.Identifier, error) {
	var c identifiersColumn
	err := c.ScanBytes(src)
	return c, err
}

func scanTraceContext(src []byte) (map[string]string, error) {
	var c traceContextColumn
	err := c.ScanBytes(src)
	return c, err
}

// FuzzScanColumns checks that the columns decode every valid JSON document
// as json.Unmarshal does. Postgres sends only valid UTF-8 and valid JSON,
// so the fuzzer's other inputs prove nothing.
func FuzzScanColumns(f *testing.F) {
	for _, src := range append(jsonbIdentifiers, jsonbTraceContexts...) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if !utf8.ValidString(src) || !json.Valid([]byte(src)) {
			return
		}
		requireDecodedAsJSONUnmarshal(t, src, scanIdentifiers)
		requireDecodedAsJSONUnmarshal(t, src, scanTraceContext)
	})
}

// TestPostgresWritesThePlainForms requires the fast paths to be the ones
// taken for what Postgres sends: if its jsonb output changed, reading the
// log would silently fall back to json.Unmarshal.
func TestPostgresWritesThePlainForms(t *testing.T) {
	pool := pgtest.NewPool(t, "event", migrations.FS)
	now := time.Now().UTC()
	ids := []event.Identifier{{Type: "user_id", Value: "42"}, {Type: "email", Value: "ana@example.com"}}
	trace := map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "k=v"}
	_, err := New(pool).Append(context.Background(), []event.Event{{
		MessageID: "m-1", ProfileID: "p-1", Type: event.TypeTrack, Name: "Product Viewed",
		Identifiers: ids, TraceContext: trace, OccurredAt: now, ReceivedAt: now,
	}})
	require.NoError(t, err)
	var idsText, traceText string
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT identifiers::text, trace_context::text FROM event.events`).Scan(&idsText, &traceText))
	gotIDs, ok := plainIdentifiers([]byte(idsText))
	require.True(t, ok, idsText)
	require.Equal(t, ids, gotIDs)
	gotTrace, ok := plainStringMap([]byte(traceText))
	require.True(t, ok, traceText)
	require.Equal(t, trace, gotTrace)
}
