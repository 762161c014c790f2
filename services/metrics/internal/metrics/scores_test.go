package metrics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/metrics/internal/memory"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// seedCustomers gives n customers one to three order days each in the 30
// days up to to.
func seedCustomers(tb testing.TB, n int, to time.Time) *metrics.Tracker {
	tb.Helper()
	var events []metrics.Event
	for i := range n {
		for d := range 1 + i%3 {
			events = append(events, metrics.Event{Seq: int64(len(events) + 1), Profile: fmt.Sprintf("profiles/p%06d", i),
				Action: metrics.Order, Time: to.AddDate(0, 0, -(i+7*d)%30), Revenue: float64(10 + i%97)})
		}
	}
	tracker := metrics.NewTracker(memory.New(), nil)
	_, err := tracker.ApplyEvents(context.Background(), events, int64(len(events)))
	require.NoError(tb, err)
	return tracker
}

func TestScoresPagesOneComputation(t *testing.T) {
	to := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	tracker := seedCustomers(t, 25, to)
	ctx := context.Background()
	first, err := tracker.Scores(ctx, to.AddDate(0, 0, -364), to, 0)
	require.NoError(t, err)
	require.Len(t, first.Profiles, 25)
	require.EqualValues(t, 25, first.Statistics.Customers)
	again, err := tracker.Scores(ctx, to.AddDate(0, 0, -364), to, first.ID)
	require.NoError(t, err)
	require.Same(t, first, again, "a page of the same listing reads the same computation")
	other, err := tracker.Scores(ctx, to.AddDate(0, 0, -29), to, first.ID)
	require.NoError(t, err)
	require.NotEqual(t, first.ID, other.ID, "another window is computed anew")

	var got []string
	for after, more := "", true; more; {
		var page []metrics.ProfileScores
		page, more = first.Page(after, 10)
		for _, p := range page {
			got = append(got, p.Profile)
		}
		after = page[len(page)-1].Profile
	}
	require.Len(t, got, 25)
	require.IsIncreasing(t, got)
}

// BenchmarkListProfileScores lists every customer's scores in pages of
// 10,000, as the segment service's refresh does, for 10,000 and 100,000
// customers. ns/profile staying about the same between the two shows the
// listing grows linearly: one read and one scoring per listing, whatever
// the number of pages.
func BenchmarkListProfileScores(b *testing.B) {
	to := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			tracker := seedCustomers(b, n, to)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				s, err := tracker.Scores(ctx, to.AddDate(0, 0, -364), to, 0)
				if err != nil {
					b.Fatal(err)
				}
				for after, more := "", true; more; {
					var page []metrics.ProfileScores
					if s, err = tracker.Scores(ctx, to.AddDate(0, 0, -364), to, s.ID); err != nil {
						b.Fatal(err)
					}
					page, more = s.Page(after, 10_000)
					after = page[len(page)-1].Profile
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/profile")
		})
	}
}
