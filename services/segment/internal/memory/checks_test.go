package memory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// scheduled is a check in a plain list.
type scheduled struct {
	at      time.Time
	profile *profile
}

// randomChecks schedules n profiles at random seconds of the next n
// seconds, in the heap and in a plain list.
func randomChecks(n int, seed uint64) (*checks, []scheduled) {
	r := rand.New(rand.NewPCG(seed, 1))
	h, all := newChecks(), make([]scheduled, 0, n)
	for i := range n {
		c := scheduled{at: t0.Add(time.Duration(r.IntN(n)) * time.Second), profile: &profile{name: "profiles/" + strconv.Itoa(i)}}
		h.set(c.profile, c.at)
		all = append(all, c)
	}
	return h, all
}

// scanDue is the obvious implementation: look at every check.
func scanDue(all []scheduled, now time.Time, limit int) []string {
	var due []scheduled
	for _, c := range all {
		if !c.at.After(now) {
			due = append(due, c)
		}
	}
	slices.SortFunc(due, func(a, b scheduled) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.profile.name, b.profile.name)
	})
	out := make([]string, 0, min(limit, len(due)))
	for _, c := range due[:min(limit, len(due))] {
		out = append(out, c.profile.name)
	}
	return out
}

// TestChecksDueMatchesScan moves and removes random checks and compares the
// heap's due profiles with a scan of every check.
func TestChecksDueMatchesScan(t *testing.T) {
	for seed := range uint64(20) {
		h, all := randomChecks(500, seed)
		r := rand.New(rand.NewPCG(seed, 2))
		for range 300 {
			i := r.IntN(len(all))
			if r.IntN(4) == 0 {
				all[i].at = time.Time{}
			} else {
				all[i].at = t0.Add(time.Duration(r.IntN(500)) * time.Second)
			}
			h.set(all[i].profile, all[i].at)
		}
		var set []scheduled
		for _, c := range all {
			if !c.at.IsZero() {
				set = append(set, c)
			}
			got, ok := h.get(c.profile)
			require.Equal(t, !c.at.IsZero(), ok)
			require.True(t, c.at.Equal(got), "seed %d %s", seed, c.profile.name)
		}
		require.Equal(t, len(set), h.Len())
		for _, now := range []time.Time{t0.Add(-time.Second), t0, t0.Add(50 * time.Second), t0.Add(250 * time.Second), t0.Add(time.Hour)} {
			for _, limit := range []int{1, 7, 100, 1000} {
				require.Equal(t, scanDue(set, now, limit), nilIfEmpty(h.due(now, limit)), "seed %d now %s limit %d", seed, now, limit)
			}
		}
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return []string{}
	}
	return s
}

// BenchmarkDueChecks measures finding the 100 due profiles among n
// scheduled ones, against scanning every check in the same run: the
// x-faster-than-scan metric is the ratio of their times.
func BenchmarkDueChecks(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("scheduled=%d", n), func(b *testing.B) {
			h, all := randomChecks(n, 1)
			now := t0.Add(100 * time.Second)
			var heapTime, scanTime time.Duration
			for b.Loop() {
				start := time.Now()
				h.due(now, 500)
				heapTime += time.Since(start)
				start = time.Now()
				scanDue(all, now, 500)
				scanTime += time.Since(start)
			}
			b.ReportMetric(float64(scanTime)/float64(heapTime), "x-faster-than-scan")
		})
	}
}
