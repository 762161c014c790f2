package storegen

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAdvance(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := t0.Add(10 * day)
	got, ok := advance(t0, 1.5, end)
	require.True(t, ok)
	require.Equal(t, t0.Add(36*time.Hour), got)
	// A customer with a tiny rate draws gaps far beyond what a Duration
	// holds; they must end the process, not wrap around to the past.
	for _, gap := range []float64{10, 1e6, 1e300, math.Inf(1)} {
		got, ok = advance(t0, gap, end)
		require.False(t, ok, gap)
		require.Equal(t, end, got)
	}
}
