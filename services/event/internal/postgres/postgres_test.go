package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/postgres"
	"github.com/barista-cdp/barista/services/event/internal/storetest"
	"github.com/barista-cdp/barista/services/event/migrations"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) event.Store {
		return postgres.New(pgtest.NewPool(t, "event", migrations.FS))
	})
}

// BenchmarkAppend measures appending batches of 1000 events (sequence
// reservation, unnest insert with dedup, commit); BenchmarkCopyFromBaseline
// copies the same rows with raw CopyFrom, the physical limit to compare with.
func BenchmarkAppend(b *testing.B) {
	store := postgres.New(pgtest.NewPool(b, "event", migrations.FS))
	b.ResetTimer()
	for n := range b.N {
		if _, err := store.Append(context.Background(), benchBatch(n)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatchSize)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkCopyFromBaseline(b *testing.B) {
	pool := pgtest.NewPool(b, "event", migrations.FS)
	columns := []string{"seq", "message_id", "profile_id", "type", "event", "identifiers", "properties", "traits", "context", "occurred_at", "received_at", "trace_context"}
	b.ResetTimer()
	for n := range b.N {
		batch := benchBatch(n)
		rows := make([][]any, len(batch))
		for i, ev := range batch {
			ids, _ := json.Marshal(ev.Identifiers)
			traces, _ := json.Marshal(ev.TraceContext)
			rows[i] = []any{int64(n*benchBatchSize + i + 1), ev.MessageID, ev.ProfileID, int16(ev.Type), ev.Name, json.RawMessage(ids),
				ev.Properties, nil, nil, ev.OccurredAt, ev.ReceivedAt, json.RawMessage(traces)}
		}
		if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{"event", "events"}, columns, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatchSize)/b.Elapsed().Seconds(), "events/s")
}

const benchBatchSize = 1000

func benchBatch(n int) []event.Event {
	now := time.Now().UTC().Truncate(time.Microsecond)
	batch := make([]event.Event, benchBatchSize)
	for i := range batch {
		batch[i] = event.Event{
			MessageID: fmt.Sprintf("bench-%d-%d", n, i), ProfileID: fmt.Sprintf("p%d", i%100), Type: event.TypeTrack,
			Name: "Product Viewed", Identifiers: []event.Identifier{{Type: "user_id", Value: fmt.Sprint(i % 100)}},
			Properties: json.RawMessage(`{"category":"shoes","price":59.9}`), OccurredAt: now, ReceivedAt: now,
			TraceContext: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		}
	}
	return batch
}
