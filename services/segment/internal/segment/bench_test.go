package segment_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// BenchmarkTimeDrivenTick measures one minute of time-driven evaluation —
// the scheduler evaluating exactly the profiles whose orders leave a 7-day
// window in that minute — over 20,000 profiles with orders spread over 30
// days, against evaluating every profile once, the least a periodic rescan
// must do, measured in the same run. x-cheaper-than-rescan is the ratio of
// their times; evaluated/tick is how many profiles a tick evaluated.
func BenchmarkTimeDrivenTick(b *testing.B) {
	const profiles = 20_000
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(memory.New(), segment.Options{Now: clk.Now})
	const cond = `count("Order Completed", "7d") >= 1`
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "recent", Condition: cond})
	require.NoError(b, err)
	r := rand.New(rand.NewPCG(1, 2))
	events := make([]segment.Event, profiles)
	for i := range events {
		events[i] = segment.Event{Seq: int64(i + 1), Resource: fmt.Sprintf("events/%d", i+1), Profile: fmt.Sprintf("profiles/p%05d", i),
			Name: "Order Completed", Time: t0.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Second)}
	}
	require.NoError(b, e.ApplyEvents(ctx, events))

	var tick, rescan time.Duration
	evaluated := 0
	for b.Loop() {
		clk.Set(clk.Now().Add(time.Minute))
		start := time.Now()
		for {
			n, err := e.CheckDue(ctx)
			require.NoError(b, err)
			evaluated += n
			if n < segment.CheckBatch {
				break
			}
		}
		tick += time.Since(start)
		start = time.Now()
		_, err := e.PreviewSegment(ctx, cond, 0)
		require.NoError(b, err)
		rescan += time.Since(start)
	}
	b.ReportMetric(float64(rescan)/float64(tick), "x-cheaper-than-rescan")
	b.ReportMetric(float64(evaluated)/float64(b.N), "evaluated/tick")
}
