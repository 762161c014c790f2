package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// testScores lists the RFM of every customer of the window of orders():
// the same scores each profile's value gives, and the same statistics.
func testScores(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.ApplyEvents(ctx, orders(), 8)
	require.NoError(t, err)
	tracker := metrics.NewTracker(s, nil)
	june1 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	got, err := tracker.Scores(ctx, june1, june10, 0)
	require.NoError(t, err)
	require.Equal(t, metrics.StoreStatistics{
		From: june1, To: june10, Orders: 5, Revenue: 180, Customers: 3,
		P25: 20, P50: 30, P75: 60, P90: 60, P99: 60,
	}, got.Statistics)
	require.Equal(t, []metrics.ProfileScores{
		{Profile: "profiles/p1", RFM: metrics.RFM{HasOrders: true, RecencyDays: 1, Frequency: 2, Monetary: 40,
			RecencyScore: 2, FrequencyScore: 2, MonetaryScore: 2, Customers: 3}},
		{Profile: "profiles/p2", RFM: metrics.RFM{HasOrders: true, RecencyDays: 5, Frequency: 2, Monetary: 120,
			RecencyScore: 1, FrequencyScore: 2, MonetaryScore: 4, Customers: 3}},
		{Profile: "profiles/p3", RFM: metrics.RFM{HasOrders: true, RecencyDays: 0, Frequency: 1, Monetary: 20,
			RecencyScore: 4, FrequencyScore: 1, MonetaryScore: 1, Customers: 3}},
	}, got.Profiles)
	for _, p := range got.Profiles {
		v, err := tracker.Value(ctx, p.Profile, metrics.ValueOptions{From: june1, To: june10, HorizonDays: 30})
		require.NoError(t, err)
		require.Equal(t, v.RFM, p.RFM, "%s: the listing and the profile's value agree", p.Profile)
	}
}
