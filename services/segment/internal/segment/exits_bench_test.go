package segment_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

// BenchmarkExitLateness measures the time-driven exit goal on the real
// clock, with the scheduler (RunScheduler) running as in the service:
// BENCH_EXITS profiles (default 2,000) have one event each, timed so that
// their membership of count("Bench Event", "10s") >= 1 ends at instants
// spread over two seconds; BENCH_BYSTANDERS others (default 10,000) are
// members of a one-hour segment and have nothing due. A watcher
// (Engine.Watch, which WatchMembershipChanges streams) records when each
// exit arrives. Reported:
//
//   - late-p50/p99/max-ms: exit arrival − the instant the membership
//     ended;
//   - timer-p99-ms: the lateness of a time.Timer set for the same instants
//     in the same process (the baseline: what this machine's scheduling
//     costs any timed work);
//   - evaluated/exit: profiles the scheduler evaluated per exit, counted
//     at the store; 1 means work is proportional to the changes;
//   - profiles/exit: all profiles per exit, what evaluating everyone once
//     per boundary would cost.
func BenchmarkExitLateness(b *testing.B) {
	exits, bystanders := envInt(b, "BENCH_EXITS", 2000), envInt(b, "BENCH_BYSTANDERS", 10_000)
	stores := []struct {
		name string
		new  func(b *testing.B) segment.Store
	}{
		{"postgres", func(b *testing.B) segment.Store { return postgres.New(pgtest.NewPool(b, "segment", migrations.FS)) }},
		{"memory", func(*testing.B) segment.Store { return memory.New() }},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			for b.Loop() {
				r := runExits(b, st.new(b), exits, bystanders)
				b.Logf("%s: %d exits over %d profiles; lateness %s; timer lateness %s; %d profiles evaluated (%.2f per exit)",
					st.name, exits, exits+bystanders, r.late, r.timer, r.evaluated, float64(r.evaluated)/float64(exits))
				b.ReportMetric(r.late.p50, "late-p50-ms")
				b.ReportMetric(r.late.p99, "late-p99-ms")
				b.ReportMetric(r.late.max, "late-max-ms")
				b.ReportMetric(r.timer.p99, "timer-p99-ms")
				b.ReportMetric(float64(r.evaluated)/float64(exits), "evaluated/exit")
				b.ReportMetric(float64(exits+bystanders)/float64(exits), "profiles/exit")
			}
		})
	}
}

type exitResult struct {
	late, timer lateness
	evaluated   int64
}

// lateness summarizes durations in milliseconds.
type lateness struct{ p50, p99, max float64 }

func (l lateness) String() string {
	return fmt.Sprintf("p50=%.1fms p99=%.1fms max=%.1fms", l.p50, l.p99, l.max)
}

func summarize(d []time.Duration) lateness {
	slices.Sort(d)
	at := func(q float64) float64 {
		i := min(len(d)-1, max(0, int(q*float64(len(d))+0.999999)-1))
		return float64(d[i]) / float64(time.Millisecond)
	}
	return lateness{p50: at(0.5), p99: at(0.99), max: at(1)}
}

func runExits(b *testing.B, inner segment.Store, exits, bystanders int) exitResult {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &countingStore{Store: inner}
	e := segment.NewEngine(store, segment.Options{})
	for id, cond := range map[string]string{"recent": `count("Bench Event", "10s") >= 1`, "hour": `count("Bench Event", "1h") >= 1`} {
		_, err := e.CreateSegment(ctx, segment.Segment{ID: id, Condition: cond})
		require.NoError(b, err)
	}

	var events []segment.Event
	seq := int64(0)
	add := func(profile string, at time.Time) {
		seq++
		events = append(events, segment.Event{Seq: seq, Resource: fmt.Sprintf("events/%d", seq), Profile: profile, Name: "Bench Event", Time: at})
	}
	for i := range bystanders {
		add(fmt.Sprintf("profiles/b%06d", i), time.Now().Add(-time.Minute))
	}
	for batch := range slices.Chunk(events, 1000) {
		require.NoError(b, e.ApplyEvents(ctx, batch))
	}
	events = events[:0]
	// The memberships end between lead and lead+2s from now, leaving lead
	// to apply their events.
	now := time.Now()
	lead := 2*time.Second + time.Duration(exits)*time.Millisecond
	ends := map[string]time.Time{}
	for i := range exits {
		end := now.Add(lead + time.Duration(i)*2*time.Second/time.Duration(exits)).Truncate(time.Millisecond)
		name := fmt.Sprintf("profiles/x%06d", i)
		ends[name] = end
		add(name, end.Add(-10*time.Second))
	}
	for batch := range slices.Chunk(events, 1000) {
		require.NoError(b, e.ApplyEvents(ctx, batch))
	}
	first := now.Add(lead).Truncate(time.Millisecond)
	require.True(b, time.Now().Before(first), "applying the events took longer than the lead; raise it")

	// The baseline: a timer per instant.
	var timerMu sync.Mutex
	var timerLate []time.Duration
	var timers sync.WaitGroup
	for _, end := range ends {
		timers.Add(1)
		time.AfterFunc(time.Until(end), func() {
			late := time.Since(end)
			timerMu.Lock()
			timerLate = append(timerLate, late)
			timerMu.Unlock()
			timers.Done()
		})
	}

	var mu sync.Mutex
	arrived := map[string]time.Time{}
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- e.Watch(ctx, 0, []string{"recent"}, func(changes []segment.Change) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range changes {
				if c.Kind == segment.Exited {
					arrived[c.Profile] = now
				}
			}
			return nil
		})
	}()
	store.evaluated.Store(0)
	schedulerDone := make(chan error, 1)
	go func() { schedulerDone <- e.RunScheduler(ctx) }()

	deadline := time.Now().Add(time.Minute + lead)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n == exits {
			break
		}
		require.True(b, time.Now().Before(deadline), "%d of %d exits arrived", n, exits)
		time.Sleep(10 * time.Millisecond)
	}
	evaluated := store.evaluated.Load()
	timers.Wait()
	cancel()
	require.NoError(b, <-schedulerDone)
	<-watchDone

	late := make([]time.Duration, 0, exits)
	for name, at := range arrived {
		end, ok := ends[name]
		require.True(b, ok, "%s exited but had no end", name)
		late = append(late, at.Sub(end))
	}
	return exitResult{late: summarize(late), timer: summarize(timerLate), evaluated: evaluated}
}

// countingStore counts the profiles read for evaluation in write
// transactions: every evaluation the engine performs reads its profile
// with Tx.Profiles.
type countingStore struct {
	segment.Store
	evaluated atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, fn func(segment.Tx) error) error {
	return s.Store.Update(ctx, func(tx segment.Tx) error { return fn(countingTx{Tx: tx, store: s}) })
}

type countingTx struct {
	segment.Tx
	store *countingStore
}

func (t countingTx) Profiles(ctx context.Context, names, events []string) (map[string]*segment.Profile, error) {
	t.store.evaluated.Add(int64(len(names)))
	return t.Tx.Profiles(ctx, names, events)
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, name)
	return n
}
