package api_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// TestListProfileScores pages through the scores of seedOrders' customers
// on June 10: a (last order 1 day ago, 2 orders, 40), b (5 days, 2, 120)
// and c (0 days, 1, 20). With n = 3, a score is 1 + ⌊5k/3⌋ for k
// customers strictly worse: recency a 2 (k=1), b 1, c 4 (k=2); frequency
// a and b 2 (k=1, tied), c 1; monetary a 2, b 4, c 1.
func TestListProfileScores(t *testing.T) {
	f := start(t)
	seedOrders(t, f)
	ctx := context.Background()
	rfm := func(days, orders int64, revenue float64, r, fr, m int32) *metricsv1.RFM {
		return &metricsv1.RFM{HasOrders: true, RecencyDays: days, Frequency: orders, Monetary: revenue,
			RecencyScore: r, FrequencyScore: fr, MonetaryScore: m, Customers: 3}
	}
	stats := &metricsv1.StoreStatistics{
		StartDate: "2024-06-11", EndDate: "2025-06-10", Orders: 5, Revenue: 180, Customers: 3, AverageOrderValue: 36,
		OrderValueP25: 20, OrderValueP50: 30, OrderValueP75: 60, OrderValueP90: 60, OrderValueP99: 60,
	}

	first, err := f.client.ListProfileScores(ctx, &metricsv1.ListProfileScoresRequest{PageSize: 2})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]*metricsv1.ProfileScores{
		{Profile: "profiles/a", Rfm: rfm(1, 2, 40, 2, 2, 2)},
		{Profile: "profiles/b", Rfm: rfm(5, 2, 120, 1, 2, 4)},
	}, first.GetScores(), protocmp.Transform()))
	require.Empty(t, cmp.Diff(stats, first.GetStatistics(), protocmp.Transform()))
	require.NotEmpty(t, first.GetNextPageToken())

	// An order between the pages does not mix two computations: the next
	// page reads the first page's, whatever window the request names.
	_, err = f.tracker.ApplyEvents(ctx, []metrics.Event{
		{Seq: 6, Profile: "profiles/d", Action: metrics.Order, Time: at(10, 11), Revenue: 500},
	}, 6)
	require.NoError(t, err)
	second, err := f.client.ListProfileScores(ctx, &metricsv1.ListProfileScoresRequest{PageSize: 2, WindowDays: 3, PageToken: first.GetNextPageToken()})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]*metricsv1.ProfileScores{
		{Profile: "profiles/c", Rfm: rfm(0, 1, 20, 4, 1, 1)},
	}, second.GetScores(), protocmp.Transform()))
	require.Empty(t, cmp.Diff(stats, second.GetStatistics(), protocmp.Transform()))
	require.Empty(t, second.GetNextPageToken())

	// A new listing sees d, and a window of the last 5 days (June 6 to 10)
	// only a, c and d.
	fresh, err := f.client.ListProfileScores(ctx, &metricsv1.ListProfileScoresRequest{WindowDays: 5})
	require.NoError(t, err)
	var got []string
	for _, s := range fresh.GetScores() {
		got = append(got, s.GetProfile())
		require.EqualValues(t, 3, s.GetRfm().GetCustomers())
	}
	require.Equal(t, []string{"profiles/a", "profiles/c", "profiles/d"}, got)
	require.EqualValues(t, 3, fresh.GetStatistics().GetOrders())
	require.Equal(t, "2025-06-06", fresh.GetStatistics().GetStartDate())
	require.Empty(t, fresh.GetNextPageToken())
}

func TestListProfileScoresIsValidated(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	fields := func(err error) []string {
		st := status.Convert(err)
		require.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
		var out []string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					out = append(out, v.GetField())
				}
			}
		}
		return out
	}
	_, err := f.client.ListProfileScores(ctx, &metricsv1.ListProfileScoresRequest{PageSize: -1, EndDate: "2025-13-01", WindowDays: 3661})
	require.Equal(t, []string{"page_size", "end_date", "window_days"}, fields(err))
	_, err = f.client.ListProfileScores(ctx, &metricsv1.ListProfileScoresRequest{PageToken: "not a token"})
	require.Equal(t, []string{"page_token"}, fields(err))
}
