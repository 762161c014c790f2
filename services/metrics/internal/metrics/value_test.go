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

func TestPercentileInterpolatesBetweenClosestRanks(t *testing.T) {
	values := []float64{1, 2, 3, 4}
	require.InDelta(t, 1, metrics.Percentile(values, 0), 1e-12)
	require.InDelta(t, 1.75, metrics.Percentile(values, 25), 1e-12)
	require.InDelta(t, 2.5, metrics.Percentile(values, 50), 1e-12)
	require.InDelta(t, 3.7, metrics.Percentile(values, 90), 1e-12)
	require.InDelta(t, 4, metrics.Percentile(values, 100), 1e-12)
	require.InDelta(t, 7, metrics.Percentile([]float64{7}, 99), 1e-12)
	require.Zero(t, metrics.Percentile(nil, 50))
}

func TestStatisticsValuesEachOrderAtItsDaysMean(t *testing.T) {
	from, to := jun(1, 0), jun(10, 0)
	st := metrics.Statistics([]metrics.ProfileDay{
		{Profile: "profiles/a", Date: jun(1, 0), Orders: 3, Revenue: 30},
		{Profile: "profiles/a", Date: jun(2, 0), Opens: 1},
		{Profile: "profiles/b", Date: jun(2, 0), Clicks: 1},
		{Profile: "profiles/c", Date: jun(3, 0), Orders: 1, Revenue: 50},
	}, from, to)
	// Values 10, 10, 10, 50.
	require.Equal(t, metrics.StoreStatistics{From: from, To: to, Orders: 4, Revenue: 80, Customers: 2,
		P25: 10, P50: 10, P75: 20, P90: 38, P99: 48.8}, roundStats(st))
	require.InDelta(t, 20, st.AverageOrderValue(), 1e-12)
	require.Zero(t, metrics.Statistics(nil, from, to).AverageOrderValue())
}

// roundStats rounds the percentiles to 1e-9 so that exact comparisons
// ignore floating-point noise.
func roundStats(s metrics.StoreStatistics) metrics.StoreStatistics {
	r := func(v float64) float64 { return float64(int64(v*1e9+0.5)) / 1e9 }
	s.P25, s.P50, s.P75, s.P90, s.P99 = r(s.P25), r(s.P50), r(s.P75), r(s.P90), r(s.P99)
	return s
}

// TestScoreRFMQuintiles scores ten customers: customer i ordered i+1 times
// for 10 each on day 10-i: c9 is best on frequency and monetary, c0 on
// recency.
func TestScoreRFMQuintiles(t *testing.T) {
	var activity []metrics.ProfileDay
	for i := range 10 {
		activity = append(activity, metrics.ProfileDay{
			Profile: fmt.Sprintf("profiles/c%d", i), Date: jun(10-i, 0), Orders: int64(i + 1), Revenue: float64(10 * (i + 1)),
		})
	}
	// A tie: c10 has c9's values.
	activity = append(activity, metrics.ProfileDay{Profile: "profiles/c10", Date: jun(1, 0), Orders: 10, Revenue: 100})
	scores := metrics.ScoreRFM(activity, jun(10, 0))
	require.Len(t, scores, 11)
	// Frequency: c_i beats i customers (c9 and c10 beat 9); score 1 + 5i/11.
	for i, want := range []int{1, 1, 1, 2, 2, 3, 3, 4, 4, 5} {
		r := scores[fmt.Sprintf("profiles/c%d", i)]
		require.Equal(t, want, r.FrequencyScore, "c%d", i)
		require.Equal(t, want, r.MonetaryScore, "c%d", i)
		require.EqualValues(t, 11, r.Customers)
		require.True(t, r.HasOrders)
		require.EqualValues(t, i, r.RecencyDays)
	}
	require.Equal(t, scores["profiles/c9"].FrequencyScore, scores["profiles/c10"].FrequencyScore, "ties score alike")
	// Recency: c0 ordered on day 10 (0 days), beating the 10 others.
	require.Equal(t, 5, scores["profiles/c0"].RecencyScore)
	require.Equal(t, 1, scores["profiles/c9"].RecencyScore)
	require.Equal(t, 1, scores["profiles/c10"].RecencyScore, "c9 and c10 both ordered 9 days ago")
}

func TestScoreRFMSingleCustomer(t *testing.T) {
	scores := metrics.ScoreRFM([]metrics.ProfileDay{{Profile: "profiles/a", Date: jun(3, 0), Orders: 1, Revenue: 5}}, jun(10, 0))
	require.Equal(t, map[string]metrics.RFM{"profiles/a": {HasOrders: true, RecencyDays: 7, Frequency: 1, Monetary: 5,
		RecencyScore: 1, FrequencyScore: 1, MonetaryScore: 1, Customers: 1}}, scores)
}

// TestValueFitsOncePerDay shows the cache: orders applied after a day's
// fit change the historical value at once and the prediction's fit only
// for another day.
func TestValueFitsOncePerDay(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	var events []metrics.Event
	for i := range 12 {
		for k := range 3 {
			events = append(events, metrics.Event{Seq: int64(len(events) + 1), Profile: fmt.Sprintf("profiles/c%d", i),
				Action: metrics.Order, Time: time.Date(2025, 1, 1+i+k*(9+i), 9, 0, 0, 0, time.UTC), Revenue: float64(10 + i + k)})
		}
	}
	_, err := store.ApplyEvents(ctx, events, int64(len(events)))
	require.NoError(t, err)
	tracker := metrics.NewTracker(store, nil)
	end := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	opts := metrics.ValueOptions{From: end.AddDate(0, 0, -364), To: end, HorizonDays: 30}
	before, err := tracker.Value(ctx, "profiles/c0", opts)
	require.NoError(t, err)
	require.NotNil(t, before.Prediction, before.Unavailable)
	require.EqualValues(t, 12, before.Prediction.FittedCustomers)

	_, err = store.ApplyEvents(ctx, []metrics.Event{{Seq: 100, Profile: "profiles/new", Action: metrics.Order,
		Time: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC), Revenue: 7}}, 100)
	require.NoError(t, err)
	cached, err := tracker.Value(ctx, "profiles/c0", opts)
	require.NoError(t, err)
	require.Equal(t, before.Prediction, cached.Prediction, "the day's fit is reused")
	require.EqualValues(t, 13, cached.RFM.Customers, "RFM reads the store every time")

	opts.To = end.AddDate(0, 0, 1)
	refit, err := tracker.Value(ctx, "profiles/c0", opts)
	require.NoError(t, err)
	require.EqualValues(t, 13, refit.Prediction.FittedCustomers, "another day fits again")
}
