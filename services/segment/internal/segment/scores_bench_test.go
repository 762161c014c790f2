package segment_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// BenchmarkApplyScores refreshes the scores of 100,000 customers of which
// 1% changed, in the memory store, and compares it with the baseline a
// refresh without the incremental path would cost: re-evaluating every
// customer against the RFM segment (an update of its condition, which
// backfills it), measured in the same run. "vs-full" is the refresh's time
// over the baseline's.
func BenchmarkApplyScores(b *testing.B) {
	const customers = 100_000
	ctx := context.Background()
	e := segment.NewEngine(memory.New(), segment.Options{Now: func() time.Time { return t0 }})
	for _, s := range []segment.Segment{
		{ID: "champions", Condition: `rfm.recency >= 4 && rfm.frequency >= 4`},
		{ID: "buyers", Condition: `count("Order Completed") >= 1`},
	} {
		if _, err := e.CreateSegment(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	name := func(i int) string { return fmt.Sprintf("profiles/p%06d", i) }
	for start := 0; start < customers; start += 1000 {
		batch := make([]segment.Event, 0, 1000)
		for i := start; i < start+1000; i++ {
			batch = append(batch, segment.Event{Seq: int64(i + 1), Resource: fmt.Sprintf("events/%d", i+1), Profile: name(i),
				Name: "Order Completed", Time: t0.Add(-time.Hour), Numbers: map[string]float64{"revenue": 10}})
		}
		if err := e.ApplyEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	scores := func(round int) segment.Scores {
		s := segment.Scores{Store: condition.StoreStatistics{AverageOrderValue: 10, Orders: customers, Customers: customers},
			RFM: make(map[string]condition.RFM, customers)}
		for i := range customers {
			r := condition.RFM{Recency: 1 + i%5, Frequency: 1 + i/5%5, Monetary: 1 + i/25%5, Orders: 1, Revenue: 10}
			if i%100 == 0 {
				r.RecencyDays = int64(round)
			}
			s.RFM[name(i)] = r
		}
		return s
	}
	if _, err := e.ApplyScores(ctx, scores(0)); err != nil {
		b.Fatal(err)
	}

	var full time.Duration
	b.Run("baseline=every-customer", func(b *testing.B) {
		for i := range b.N {
			cond := fmt.Sprintf(`rfm.recency >= 4 && rfm.frequency >= %d`, 3+i%2)
			if _, err := e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "champions", Condition: &cond, Author: "bench", Reason: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
		full = b.Elapsed() / time.Duration(max(1, b.N))
	})
	round := 0
	b.Run("refresh=1%-changed", func(b *testing.B) {
		b.StopTimer()
		for range b.N {
			round++
			s := scores(round)
			b.StartTimer()
			res, err := e.ApplyScores(ctx, s)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Profiles != customers/100 {
				b.Fatalf("%d profiles changed, want %d", res.Profiles, customers/100)
			}
		}
		per := b.Elapsed() / time.Duration(max(1, b.N))
		b.ReportMetric(float64(per)/float64(full), "vs-full")
	})
}
