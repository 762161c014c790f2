package memory_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// BenchmarkResidentMemory measures the memory goal: the segment service's
// in-memory store and engine holding the behavioral state of
// BENCH_MEMORY_PROFILES profiles (default 100,000) with 20 events each of
// a typical mix (orders with a revenue and a category, page and product
// views), evaluated against three typical segments. Reported:
//
//   - heap-bytes/profile: live heap after GC, less the heap before loading,
//     per profile (runtime/metrics /memory/classes/heap/objects:bytes);
//   - rss-bytes/profile: the growth of the process's resident set per
//     profile (includes memory the Go runtime keeps but does not use);
//   - raw-bytes/profile: the baseline, the bytes of the events themselves
//     (name, 8-byte time and sequence, property keys and values);
//   - heap/raw: the ratio of the two.
//
// BENCH_HEAP_PROFILE names a file to write a heap profile to while the
// state is loaded. The Postgres-backed service keeps this state in Postgres and holds no
// per-profile state in memory.
func BenchmarkResidentMemory(b *testing.B) {
	n := 100_000
	if v := os.Getenv("BENCH_MEMORY_PROFILES"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "BENCH_MEMORY_PROFILES")
	}
	const perProfile = 20
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		heap0, rss0 := liveHeap(), rss(b)
		e := segment.NewEngine(memory.New(), segment.Options{})
		for id, cond := range map[string]string{
			"buyers":   `count("Order Completed", "30d") >= 1`,
			"big":      `sum("Order Completed", "revenue", "90d") > 300.0`,
			"browsers": `count("Page Viewed", "7d") >= 5 && count("Order Completed", "30d") == 0`,
		} {
			_, err := e.CreateSegment(ctx, segment.Segment{ID: id, Condition: cond})
			require.NoError(b, err)
		}
		r := rand.New(rand.NewPCG(7, 7))
		raw := 0
		events := make([]segment.Event, 0, 1000)
		seq := int64(0)
		for i := range n {
			profile := fmt.Sprintf("profiles/p%07d", i)
			for range perProfile {
				seq++
				ev := segment.Event{Seq: seq, Resource: fmt.Sprintf("events/%d", seq), Profile: profile, Name: "Page Viewed",
					Time: now.Add(-time.Duration(r.Int64N(int64(90 * 24 * time.Hour)))).Truncate(time.Second)}
				switch k := r.IntN(10); {
				case k < 3:
					ev.Name = "Order Completed"
					ev.Numbers = map[string]float64{"revenue": float64(r.IntN(150))}
					ev.Strings = map[string]string{"category": []string{"shoes", "bags", "hats"}[r.IntN(3)]}
					raw += len("revenue") + 8 + len("category") + len(ev.Strings["category"])
				case k < 8:
				default:
					ev.Name = "Product Viewed"
				}
				raw += len(ev.Name) + 8 + 8
				events = append(events, ev)
				if len(events) == cap(events) {
					require.NoError(b, e.ApplyEvents(ctx, events))
					events = events[:0]
				}
			}
		}
		require.NoError(b, e.ApplyEvents(ctx, events))
		heap, rssNow := liveHeap()-heap0, rss(b)-rss0
		members, err := e.ListMembers(ctx, "buyers", "", 1)
		require.NoError(b, err)
		require.NotEmpty(b, members)
		if path := os.Getenv("BENCH_HEAP_PROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		runtime.KeepAlive(e)
		b.Logf("%d profiles × %d events: live heap %d MiB (%.0f B/profile), RSS +%d MiB (%.0f B/profile), raw events %.0f B/profile",
			n, perProfile, heap>>20, float64(heap)/float64(n), rssNow>>20, float64(rssNow)/float64(n), float64(raw)/float64(n))
		b.ReportMetric(float64(heap)/float64(n), "heap-bytes/profile")
		b.ReportMetric(float64(rssNow)/float64(n), "rss-bytes/profile")
		b.ReportMetric(float64(raw)/float64(n), "raw-bytes/profile")
		b.ReportMetric(float64(heap)/float64(raw), "heap/raw")
	}
}

// writeHeapProfile writes a heap profile of what is live now to path.
func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	runtime.GC()
	f, err := os.Create(path)
	require.NoError(b, err)
	defer f.Close()
	require.NoError(b, pprof.WriteHeapProfile(f))
}

// liveHeap returns the bytes of live heap objects after a full GC.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// rss returns the resident set size of the process, from /proc.
func rss(b *testing.B) int64 {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
