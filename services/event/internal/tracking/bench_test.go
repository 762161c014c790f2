package tracking_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/barista-cdp/barista/services/event/internal/api"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
	"github.com/barista-cdp/barista/services/event/internal/normalize"
	"github.com/barista-cdp/barista/services/event/internal/tracking"
)

// BenchmarkBatch measures the Go work of the Tracking API for a /v1/batch
// request of 1,000 track calls of 100 known customers, configured as the
// service is by default (built-in normalization rules, resolution cache),
// on the in-memory store: reading, decoding, validation, normalization,
// resolution from the cache and the append. It is the part of an ingest
// that does not wait for Postgres.
func BenchmarkBatch(b *testing.B) {
	normalizer, err := normalize.New(normalize.Defaults())
	if err != nil {
		b.Fatal(err)
	}
	resolver := &linkingResolver{profiles: map[event.Identifier]string{}}
	log := event.NewLog(memory.New(), resolver, nil, event.WithNormalizer(normalizer),
		event.WithResolveCache(time.Minute, event.DefaultResolveCacheSize, nil))
	handler := tracking.New(api.NewServer(log, api.Options{}), tracking.Options{})
	const items = 1000
	body := func(n int) []byte {
		var buf bytes.Buffer
		buf.WriteString(`{"batch":[`)
		for i := range items {
			if i > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"type":"track","messageId":"m-%d-%d","userId":"user-%d","event":"Product Viewed","properties":{"category":"shoes","price":59.9,"product_id":"p-7"},"timestamp":%q}`,
				n, i, i%100, now.Format(time.RFC3339Nano))
		}
		buf.WriteString(`]}`)
		return buf.Bytes()
	}
	post := func(data []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(data))
		req.SetBasicAuth("wk", "")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
	post(body(-1)) // the customers are known from then on
	bodies := make([][]byte, b.N)
	for n := range bodies {
		bodies[n] = body(n)
	}
	b.ResetTimer()
	for n := range b.N {
		post(bodies[n])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items)/1000, "µs/event")
}
