package clv_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/metrics/clv"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSummarize(t *testing.T) {
	txs := []clv.Transaction{
		{CustomerID: "b", Date: day("2024-01-10"), Amount: 5},
		{CustomerID: "a", Date: day("2024-01-01"), Amount: 10},
		// Same day as the first purchase: merged into it, not a repeat.
		{CustomerID: "a", Date: time.Date(2024, 1, 1, 18, 30, 0, 0, time.UTC), Amount: 2},
		{CustomerID: "a", Date: day("2024-01-08"), Amount: 20},
		// Two purchases on one day count as one repeat of 30 + 10.
		{CustomerID: "a", Date: day("2024-01-15"), Amount: 30},
		{CustomerID: "a", Date: day("2024-01-15"), Amount: 10},
		// After the calibration end: ignored.
		{CustomerID: "a", Date: day("2024-02-01"), Amount: 1000},
		{CustomerID: "c", Date: day("2024-02-01"), Amount: 7},
		// On the calibration end: counted.
		{CustomerID: "b", Date: day("2024-01-29"), Amount: 8},
	}
	end := day("2024-01-29")

	weeks, err := clv.Summarize(txs, end, clv.Week)
	require.NoError(t, err)
	require.Equal(t, []clv.Customer{
		{ID: "b", Frequency: 1, Recency: 19.0 / 7, T: 19.0 / 7, Monetary: 8, Total: 13},
		{ID: "a", Frequency: 2, Recency: 2, T: 4, Monetary: 30, Total: 72},
	}, weeks)

	days, err := clv.Summarize(txs, end, clv.Day)
	require.NoError(t, err)
	require.Equal(t, []clv.Customer{
		{ID: "b", Frequency: 1, Recency: 19, T: 19, Monetary: 8, Total: 13},
		{ID: "a", Frequency: 2, Recency: 14, T: 28, Monetary: 30, Total: 72},
	}, days)
}

func TestSummarizeUsesTheLocalCalendarDate(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	// 23:30 UTC on the 1st is already the 2nd in Tokyo: two purchase days.
	txs := []clv.Transaction{
		{CustomerID: "a", Date: time.Date(2024, 1, 1, 10, 0, 0, 0, tokyo), Amount: 1},
		{CustomerID: "a", Date: time.Date(2024, 1, 2, 8, 30, 0, 0, tokyo), Amount: 2},
	}
	got, err := clv.Summarize(txs, day("2024-01-03"), clv.Day)
	require.NoError(t, err)
	require.Equal(t, []clv.Customer{{ID: "a", Frequency: 1, Recency: 1, T: 2, Monetary: 2, Total: 3}}, got)
}

func TestSummarizeRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		txs  []clv.Transaction
		unit clv.Unit
	}{
		"empty customer id": {txs: []clv.Transaction{{Date: day("2024-01-01"), Amount: 1}}, unit: clv.Week},
		"negative amount":   {txs: []clv.Transaction{{CustomerID: "a", Date: day("2024-01-01"), Amount: -1}}, unit: clv.Week},
		"unknown unit":      {txs: []clv.Transaction{{CustomerID: "a", Date: day("2024-01-01"), Amount: 1}}, unit: 0},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := clv.Summarize(tc.txs, day("2024-02-01"), tc.unit)
			require.ErrorIs(t, err, clv.ErrInvalidInput)
		})
	}
}

func TestParseUnit(t *testing.T) {
	for in, want := range map[string]clv.Unit{"week": clv.Week, "Weeks": clv.Week, "day": clv.Day, " days ": clv.Day} {
		got, err := clv.ParseUnit(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := clv.ParseUnit("month")
	require.EqualError(t, err, `unit "month": use week or day`)
	require.Equal(t, "week", clv.Week.String())
	require.Equal(t, 7.0, clv.Week.Days())
	require.Equal(t, 1.0, clv.Day.Days())
}
