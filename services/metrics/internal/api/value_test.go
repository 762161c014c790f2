package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// seedOrders gives a 10 on June 1 and 30 on June 9, b two orders of 60 on
// June 5, and c an order of 20 on June 10 (the API's today).
func seedOrders(t *testing.T, f *fixture) {
	t.Helper()
	order := func(seq int64, profile string, at time.Time, revenue float64) metrics.Event {
		return metrics.Event{Seq: seq, Profile: "profiles/" + profile, Action: metrics.Order, Time: at, Revenue: revenue}
	}
	_, err := f.tracker.ApplyEvents(context.Background(), []metrics.Event{
		order(1, "a", at(1, 9), 10),
		order(2, "b", at(5, 9), 40),
		order(3, "b", at(5, 10), 80),
		order(4, "a", at(9, 9), 30),
		order(5, "c", at(10, 9), 20),
	}, 5)
	require.NoError(t, err)
}

func TestGetStoreStatistics(t *testing.T) {
	f := start(t)
	seedOrders(t, f)
	ctx := context.Background()
	resp, err := f.client.GetStoreStatistics(ctx, &metricsv1.GetStoreStatisticsRequest{})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(&metricsv1.StoreStatistics{
		StartDate: "2024-06-11", EndDate: "2025-06-10", Orders: 5, Revenue: 180, Customers: 3, AverageOrderValue: 36,
		OrderValueP25: 20, OrderValueP50: 30, OrderValueP75: 60, OrderValueP90: 60, OrderValueP99: 60,
	}, resp.GetStatistics(), protocmp.Transform()))

	resp, err = f.client.GetStoreStatistics(ctx, &metricsv1.GetStoreStatisticsRequest{EndDate: "2025-06-09", WindowDays: 5})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(&metricsv1.StoreStatistics{
		StartDate: "2025-06-05", EndDate: "2025-06-09", Orders: 3, Revenue: 150, Customers: 2, AverageOrderValue: 50,
		OrderValueP25: 45, OrderValueP50: 60, OrderValueP75: 60, OrderValueP90: 60, OrderValueP99: 60,
	}, resp.GetStatistics(), protocmp.Transform()))
}

func TestGetProfileValue(t *testing.T) {
	f := start(t)
	seedOrders(t, f)
	resp, err := f.client.GetProfileValue(context.Background(), &metricsv1.GetProfileValueRequest{Profile: "profiles/a"})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(&metricsv1.ProfileValue{
		Profile: "profiles/a", StartDate: "2024-06-11", EndDate: "2025-06-10",
		Rfm: &metricsv1.RFM{HasOrders: true, RecencyDays: 1, Frequency: 2, Monetary: 40,
			RecencyScore: 2, FrequencyScore: 2, MonetaryScore: 2, Customers: 3},
		HistoricalClv: 40, OrdersToDate: 2, HorizonDays: 365,
		PredictionUnavailableReason: "not enough data: BG/NBD needs at least 10 customers with repeat purchases, got 1 of 3 customers",
	}, resp.GetValue(), protocmp.Transform()))
}

func TestValueRequestsAreValidated(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		fields []string
	}{
		{"statistics", func() error {
			_, err := f.client.GetStoreStatistics(ctx, &metricsv1.GetStoreStatisticsRequest{EndDate: "2025-02-30", WindowDays: 3661})
			return err
		}, []string{"end_date", "window_days"}},
		{"value", func() error {
			_, err := f.client.GetProfileValue(ctx, &metricsv1.GetProfileValueRequest{
				Profile: "p1", WindowDays: -1, HorizonDays: -1, MonthlyDiscountRate: 1.5,
			})
			return err
		}, []string{"profile", "window_days", "horizon_days", "monthly_discount_rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(tt.call())
			require.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			require.Equal(t, tt.fields, fields)
		})
	}
}
