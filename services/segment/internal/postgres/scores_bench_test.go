package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

// BenchmarkReplaceScores stores a refresh of 100,000 customers' scores in
// which a share of them changed, as the segment service does every
// --scores-interval, and reports the changed profiles found per second.
// The baseline is the first refresh, when every row is new, measured in
// the same run: "vs-first" is a refresh's time over the first's.
func BenchmarkReplaceScores(b *testing.B) {
	const customers = 100_000
	ctx := context.Background()
	store := postgres.New(pgtest.NewPool(b, "segment", migrations.FS))
	scores := func(changedEvery, round int) map[string]condition.RFM {
		out := make(map[string]condition.RFM, customers)
		for i := range customers {
			r := condition.RFM{Recency: 1 + i%5, Frequency: 1 + i/5%5, Monetary: 1 + i/25%5, RecencyDays: int64(i % 365), Orders: int64(1 + i%7), Revenue: float64(i % 1000)}
			if changedEvery > 0 && i%changedEvery == 0 {
				r.RecencyDays += int64(round)
			}
			out[fmt.Sprintf("profiles/p%06d", i)] = r
		}
		return out
	}
	replace := func(s map[string]condition.RFM) int {
		var changed []string
		if err := store.Update(ctx, func(tx segment.Tx) error {
			var err error
			changed, err = tx.ReplaceScores(ctx, s)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		return len(changed)
	}
	first := b.Elapsed()
	b.Run("first", func(b *testing.B) {
		b.StopTimer()
		for range b.N {
			replace(nil)
			s := scores(0, 0)
			b.StartTimer()
			if n := replace(s); n != customers {
				b.Fatalf("%d changed, want %d", n, customers)
			}
			b.StopTimer()
		}
		first = b.Elapsed() / max(1, time.Duration(b.N))
	})
	for _, every := range []int{100, 1} {
		b.Run(fmt.Sprintf("changed=1/%d", every), func(b *testing.B) {
			b.StopTimer()
			replace(scores(0, 0))
			for i := range b.N {
				s := scores(every, i+1)
				b.StartTimer()
				if n := replace(s); n != customers/every {
					b.Fatalf("%d changed, want %d", n, customers/every)
				}
				b.StopTimer()
			}
			per := b.Elapsed() / max(1, time.Duration(b.N))
			b.ReportMetric(float64(per)/float64(first), "vs-first")
		})
	}
}
