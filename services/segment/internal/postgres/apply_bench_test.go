package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

const (
	// applyBatch is the largest batch the event consumer delivers.
	applyBatch = 500
	// applyKnown is how many profiles the known variant cycles through.
	applyKnown = 5_000
)

// BenchmarkApplyEvents measures ApplyEvents on Postgres with the segment of
// the watch benchmark, count("Bench Event", "1d") >= 1, one batch of
// applyBatch events per iteration:
//
//   - new: each event is a new visitor's, who enters the segment (what the
//     watch benchmark sends);
//   - known: each event is one more of a member among applyKnown, whose
//     facts are read and whose next check moves, with no change recorded.
func BenchmarkApplyEvents(b *testing.B) {
	b.Run("new", func(b *testing.B) {
		benchmarkApply(b, 0, func(i int) string { return fmt.Sprintf("profiles/new-%d", i) })
	})
	b.Run("known", func(b *testing.B) {
		benchmarkApply(b, applyKnown, func(i int) string { return fmt.Sprintf("profiles/known-%d", i%applyKnown) })
	})
}

// benchmarkApply applies, on a fresh store, seed events (not timed) and
// then a batch per iteration, the i-th event of the run belonging to
// profile(i).
func benchmarkApply(b *testing.B, seed int, profile func(i int) string) {
	ctx := context.Background()
	engine := segment.NewEngine(postgres.New(pgtest.NewPool(b, "segment", migrations.FS)), segment.Options{})
	_, err := engine.CreateSegment(ctx, segment.Segment{ID: "bench", Condition: `count("Bench Event", "1d") >= 1`})
	require.NoError(b, err)
	seq := 0
	batch := func() []segment.Event {
		events := make([]segment.Event, applyBatch)
		now := time.Now()
		for i := range events {
			seq++
			events[i] = segment.Event{Seq: int64(seq), Resource: fmt.Sprintf("events/%d", seq), Profile: profile(seq - 1), Name: "Bench Event", Time: now}
		}
		return events
	}
	for seq < seed {
		require.NoError(b, engine.ApplyEvents(ctx, batch()))
	}
	start := time.Now()
	for b.Loop() {
		require.NoError(b, engine.ApplyEvents(ctx, batch()))
	}
	elapsed := time.Since(start)
	events := float64(b.N * applyBatch)
	b.ReportMetric(events/elapsed.Seconds(), "events/s")
	b.ReportMetric(elapsed.Seconds()*1e6/events, "ms/1k-events")
	b.ReportMetric(0, "ns/op")
}
