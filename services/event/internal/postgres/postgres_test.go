package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/barista-cdp/barista/pkg/pg"

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

// monthStart is the first instant (UTC) of the month offset months from t's.
func monthStart(t time.Time, offset int) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+time.Month(offset), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(t time.Time) string {
	return fmt.Sprintf("event.events_p%04d%02d", t.Year(), int(t.Month()))
}

// partitionOf maps message ids to the partition holding their row.
func partitionOf(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) map[string]string {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT message_id, tableoid::regclass::text FROM event.events`)
	require.NoError(t, err)
	found := map[string]string{}
	for rows.Next() {
		var id, part string
		require.NoError(t, rows.Scan(&id, &part))
		found[id] = part
	}
	require.NoError(t, rows.Err())
	return found
}

// partitions lists the partitions of event.events from pg_inherits.
func partitions(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT inhrelid::regclass::text FROM pg_inherits
		WHERE inhparent = 'event.events'::regclass ORDER BY 1`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func eventAt(messageID string, received time.Time) event.Event {
	return event.Event{
		MessageID: messageID, ProfileID: "p1", Type: event.TypeTrack, Name: "Order Completed",
		Identifiers: []event.Identifier{{Type: "user_id", Value: "u1"}},
		OccurredAt:  received, ReceivedAt: received,
	}
}

func TestRowsLandInTheirMonthsPartition(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t, "event", migrations.FS)
	store := postgres.New(pool)
	now := time.Now().UTC()
	months := []time.Time{monthStart(now, -2), monthStart(now, 0), monthStart(now, 1).Add(36 * time.Hour)}
	var batch []event.Event
	for i, m := range months {
		batch = append(batch, eventAt(fmt.Sprintf("m%d", i), m))
	}
	appended, err := store.Append(ctx, batch)
	require.NoError(t, err)
	for _, a := range appended {
		require.False(t, a.Duplicate)
	}

	found := partitionOf(t, pool)
	for i, m := range months {
		require.Equal(t, partitionName(m), found[fmt.Sprintf("m%d", i)])
	}
	require.Subset(t, partitions(t, pool), []string{partitionName(months[0]), partitionName(months[1]),
		partitionName(months[2]), "event.events_default"})

	read, err := store.ReadAfter(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"m0", "m1", "m2"}, []string{read[0].MessageID, read[1].MessageID, read[2].MessageID})
}

func TestPrepareCreatesTheComingMonthsConcurrently(t *testing.T) {
	pool := pgtest.NewPool(t, "event", migrations.FS)
	var g errgroup.Group
	for range 4 {
		g.Go(func() error { return postgres.New(pool).Prepare(context.Background()) })
	}
	require.NoError(t, g.Wait())
	now := time.Now()
	for i := range postgres.PartitionsAhead + 1 {
		require.Contains(t, partitions(t, pool), partitionName(monthStart(now, i)))
	}
}

func TestDefaultPartitionCatchesFarFutureRows(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t, "event", migrations.FS)
	store := postgres.New(pool)
	future := time.Date(2999, 7, 4, 12, 0, 0, 0, time.UTC)
	before := partitions(t, pool)
	appended, err := store.Append(ctx, []event.Event{eventAt("future", future)})
	require.NoError(t, err)
	require.False(t, appended[0].Duplicate)
	require.Equal(t, "event.events_default", partitionOf(t, pool)["future"])
	require.Equal(t, before, partitions(t, pool), "no partition is made for a month outside the window")

	again, err := store.Append(ctx, []event.Event{eventAt("future", time.Now().UTC().Truncate(time.Microsecond))})
	require.NoError(t, err)
	require.True(t, again[0].Duplicate)
	require.Equal(t, appended[0].Event.Seq, again[0].Event.Seq)
	require.True(t, again[0].Event.ReceivedAt.Equal(future))

	// Making the month's partition later moves the row out of DEFAULT.
	var created bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT event.create_events_partition($1)`, future).Scan(&created))
	require.True(t, created)
	require.Equal(t, partitionName(future), partitionOf(t, pool)["future"])
	byID, err := store.ByMessageIDs(ctx, []string{"future"})
	require.NoError(t, err)
	require.Equal(t, appended[0].Event.Seq, byID["future"].Seq)
}

func TestMigrationPartitionsExistingEvents(t *testing.T) {
	ctx := context.Background()
	pool, err := pg.Connect(ctx, pgtest.NewDatabase(t), 4)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	initSQL, err := fs.ReadFile(migrations.FS, "00001_init.sql")
	require.NoError(t, err)
	require.NoError(t, pg.Migrate(ctx, pool, "event", fstest.MapFS{"00001_init.sql": {Data: initSQL}}))

	received := []time.Time{
		time.Date(2024, 1, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 15, 8, 0, 0, 0, time.UTC),
	}
	for i, at := range received {
		_, err := pool.Exec(ctx, `INSERT INTO event.events (seq, message_id, profile_id, type, event, identifiers,
			occurred_at, received_at) VALUES ($1, $2, 'p1', 1, 'Signed Up', '[]', $3, $3)`, i+1, fmt.Sprintf("old-%d", i), at)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `UPDATE event.log_head SET last_seq = $1`, len(received))
	require.NoError(t, err)

	require.NoError(t, pg.Migrate(ctx, pool, "event", migrations.FS))

	found := partitionOf(t, pool)
	require.Len(t, found, len(received))
	for i, at := range received {
		require.Equal(t, partitionName(at), found[fmt.Sprintf("old-%d", i)])
	}
	now := time.Now()
	for i := range 4 {
		require.Contains(t, partitions(t, pool), partitionName(monthStart(now, i)))
	}

	store := postgres.New(pool)
	appended, err := store.Append(ctx, []event.Event{
		eventAt("old-1", now.UTC().Truncate(time.Microsecond)),
		eventAt("new-0", now.UTC().Truncate(time.Microsecond)),
	})
	require.NoError(t, err)
	require.True(t, appended[0].Duplicate)
	require.Equal(t, int64(2), appended[0].Event.Seq)
	require.True(t, appended[0].Event.ReceivedAt.Equal(received[1]))
	require.False(t, appended[1].Duplicate)
	require.Equal(t, int64(len(received)+2), appended[1].Event.Seq)

	read, err := store.ReadAfter(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"old-0", "old-1", "old-2", "new-0"}, messageIDsOf(read))
}

func messageIDsOf(events []event.Event) []string {
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.MessageID
	}
	return ids
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

// BenchmarkReadAfter measures what each consumer of the log (the segment
// and metrics services) costs the event service per page: reading
// benchBatchSize events after a cursor, as StreamEvents does.
func BenchmarkReadAfter(b *testing.B) {
	store := postgres.New(pgtest.NewPool(b, "event", migrations.FS))
	const batches = 10
	for n := range batches {
		if _, err := store.Append(context.Background(), benchBatch(n)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		read, err := store.ReadAfter(context.Background(), int64(n%batches*benchBatchSize), benchBatchSize)
		if err != nil {
			b.Fatal(err)
		}
		if len(read) != benchBatchSize {
			b.Fatalf("read %d events, want %d", len(read), benchBatchSize)
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
