// Package benchsuite measures the performance goals of the whole suite that
// only a running server shows: event → membership change latency on the
// watch stream, and "segments of profile X" lookups, each under an
// open-loop load and beside a baseline measured in the same run (a
// grpc.health.v1 Check at the same offered rate on the same server). The
// benchmarks are in its _test.go files; this file holds the load generator
// and the latency statistics they share.
package benchsuite

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// LoadSeconds is how long each load of a benchmark runs: BENCH_SECONDS, a
// positive number of seconds, else 3 s.
func LoadSeconds() (time.Duration, error) {
	v := os.Getenv("BENCH_SECONDS")
	if v == "" {
		return 3 * time.Second, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || !(s > 0) {
		return 0, fmt.Errorf("BENCH_SECONDS=%q: want a positive number of seconds", v)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// Latencies collects durations from many goroutines.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Summary is the distribution of a set of durations.
type Summary struct {
	N             int
	P50, P99, Max time.Duration
}

// Summary sorts the durations recorded so far and summarizes them.
func (l *Latencies) Summary() Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.d)
	return Summary{N: len(l.d), P50: Quantile(l.d, 0.50), P99: Quantile(l.d, 0.99), Max: Quantile(l.d, 1)}
}

// String formats s in milliseconds.
func (s Summary) String() string {
	return fmt.Sprintf("n=%d p50=%.3fms p99=%.3fms max=%.3fms", s.N, Ms(s.P50), Ms(s.P99), Ms(s.Max))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted by the
// nearest-rank method: the smallest value with at least q of the values at
// or below it. It is 0 for no values.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Ms converts d to fractional milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// OpenLoop offers rate calls per second for d, calling fire(i, at) for
// call i at its scheduled instant at, on the calling goroutine, without
// waiting for earlier calls to finish: fire must start its call (in a
// goroutine) and return. A call that fires late still carries its
// scheduled instant, so latency measured from at includes the time the
// generator fell behind (no coordinated omission). It returns the number
// of calls fired and the instant the schedule started.
func OpenLoop(ctx context.Context, rate float64, d time.Duration, fire func(i int, at time.Time)) (int, time.Time) {
	start := time.Now()
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < total && ctx.Err() == nil; {
		due := min(total, int(time.Since(start)/interval)+1)
		for ; i < due && ctx.Err() == nil; i++ {
			fire(i, start.Add(time.Duration(i)*interval))
		}
		if i < total {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	return total, start
}
