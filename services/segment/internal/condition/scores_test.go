package condition_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

func TestScoreVariables(t *testing.T) {
	scored := facts()
	scored.RFM = condition.RFM{Recency: 5, Frequency: 4, Monetary: 3, RecencyDays: 2, Orders: 5, Revenue: 150}
	scored.Store = condition.StoreStatistics{AverageOrderValue: 40, P25: 10, P50: 30, P75: 60, P90: 90, P99: 120, Orders: 700, Customers: 90}
	tests := []struct {
		condition     string
		scored, empty bool
	}{
		{`rfm.recency == 5 && rfm.frequency == 4 && rfm.monetary == 3`, true, false},
		{`rfm.recency == 0 && rfm.frequency == 0 && rfm.monetary == 0`, false, true},
		{`rfm.cell == "543"`, true, false},
		{`rfm.cell == "000"`, false, true},
		{`rfm.cell.startsWith("5")`, true, false},
		{`rfm.recency >= 4 && rfm.frequency >= 4`, true, false},
		{`rfm.recency_days == 2 && rfm.orders == 5 && rfm.revenue == 150.0`, true, false},
		{`rfm.orders == 0 && rfm.revenue == 0.0 && rfm.recency_days == 0`, false, true},
		{`store.avg_order_value == 40.0 && store.orders == 700 && store.customers == 90`, true, false},
		{`store.order_value_p25 == 10.0 && store.order_value_p50 == 30.0 && store.order_value_p75 == 60.0 && store.order_value_p90 == 90.0 && store.order_value_p99 == 120.0`, true, false},
		{`store.avg_order_value == 0.0 && store.customers == 0`, false, true},
		// DESIGN.md's example: 150 of revenue in 180 days against 3 × 40.
		{`sum("Order Completed", "revenue", "180d") >= 3.0 * store.avg_order_value`, true, true},
		{`rfm.revenue > 3.0 * store.avg_order_value`, true, false},
		{`rfm.revenue > store.order_value_p90`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			c, err := condition.Compile(tt.condition)
			require.NoError(t, err)
			got, err := c.Eval(scored, now)
			require.NoError(t, err)
			require.Equal(t, tt.scored, got, "with scores")
			got, err = c.Eval(facts(), now)
			require.NoError(t, err)
			require.Equal(t, tt.empty, got, "before any refresh")
		})
	}
}

func TestScoreUses(t *testing.T) {
	tests := []struct {
		condition  string
		rfm, store bool
	}{
		{`count("Order Completed") > 0`, false, false},
		{`traits.rfm == 1`, false, false},
		{`rfm.recency >= 4`, true, false},
		{`sum("Order Completed", "revenue", "180d") >= 3.0 * store.avg_order_value`, false, true},
		{`rfm.revenue > store.order_value_p90`, true, true},
	}
	for _, tt := range tests {
		c, err := condition.Compile(tt.condition)
		require.NoError(t, err)
		require.Equal(t, tt.rfm, c.UsesRFM(), tt.condition)
		require.Equal(t, tt.store, c.UsesStore(), tt.condition)
	}
}

func TestUnknownScoreFieldsAreReportedWhereTheyAre(t *testing.T) {
	tests := []struct {
		condition string
		want      []condition.Issue
	}{
		{`rfm.nope > 1`, []condition.Issue{{Line: 1, Column: 1,
			Message: `rfm has no field "nope"; it has recency, frequency, monetary, recency_days, orders, revenue, cell`}}},
		{"count(\"Order Completed\") > 0 &&\n  store.aov > 10.0", []condition.Issue{{Line: 2, Column: 3,
			Message: `store has no field "aov"; it has avg_order_value, order_value_p25, order_value_p50, order_value_p75, order_value_p90, order_value_p99, orders, customers`}}},
		{`rfm == 5`, []condition.Issue{{Line: 1, Column: 1, Message: `rfm is not a value of its own: use one of its fields, such as rfm.recency`}}},
		{`rfm.recency == "5"`, nil},
	}
	for _, tt := range tests {
		_, err := condition.Compile(tt.condition)
		var ce *condition.Error
		require.True(t, errors.As(err, &ce), "%s: %v", tt.condition, err)
		if tt.want == nil {
			// A type error keeps the checker's own message.
			require.Contains(t, ce.Error(), "no matching overload")
			continue
		}
		require.Equal(t, tt.want, ce.Issues)
	}
}

func TestCloseScoreFieldNamesAreSuggested(t *testing.T) {
	_, err := condition.Compile("count(\"Order Completed\") > 1 &&\n  rfm.recncy >= 4")
	var ce *condition.Error
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, []condition.Issue{{Line: 2, Column: 3,
		Message: `rfm has no field "recncy" (did you mean 'rfm.recency'?); it has recency, frequency, monetary, recency_days, orders, revenue, cell`}}, ce.Issues)
}
