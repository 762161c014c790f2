package benchsuite

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestQuantile(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	s := l.Summary()
	require.Equal(t, 100, s.N)
	require.Equal(t, 50*time.Millisecond, s.P50)
	require.Equal(t, 99*time.Millisecond, s.P99)
	require.Equal(t, 100*time.Millisecond, s.Max)
	require.Zero(t, Quantile(nil, 0.5))
	require.Equal(t, time.Duration(7), Quantile([]time.Duration{7}, 0.99))
}

func TestOpenLoopFiresEveryCallInOrderOnSchedule(t *testing.T) {
	var ats []time.Time
	n, start := OpenLoop(context.Background(), 1000, 50*time.Millisecond, func(i int, at time.Time) {
		require.Len(t, ats, i, "calls fire in order")
		require.False(t, time.Now().Before(at), "call %d fired before its instant", i)
		ats = append(ats, at)
	})
	require.Equal(t, 50, n)
	require.Len(t, ats, 50)
	for i, at := range ats {
		require.Equal(t, time.Duration(i)*time.Millisecond, at.Sub(start), "call %d", i)
	}
}

func TestOpenLoopStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var fired atomic.Int64
	OpenLoop(ctx, 1000, time.Hour, func(i int, _ time.Time) {
		if fired.Add(1) == 10 {
			cancel()
		}
	})
	require.EqualValues(t, 10, fired.Load())
}
