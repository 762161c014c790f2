package segment_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// gen draws random event streams and random definitions from the language.
type gen struct {
	r *rand.Rand
}

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

var (
	randomNames      = []string{"Order Completed", "Email Clicked", "Product Added"}
	randomWindows    = []string{"30m", "2h", "6h", "1d", "3d", "1h..6h", "6h..2d", "1d..3d"}
	randomCategories = []string{"shoes", "bags"}
	randomGaps       = []string{"30m", "2h", "6h"}
)

func (g gen) filter() string {
	switch g.r.IntN(4) {
	case 0:
		return fmt.Sprintf(`{"category": %q}`, g.pick(randomCategories...))
	case 1:
		return fmt.Sprintf(`{"discount_used": %t}`, g.r.IntN(2) == 0)
	case 2:
		return fmt.Sprintf(`{"category": %q, "items": %d}`, g.pick(randomCategories...), 1+g.r.IntN(2))
	}
	return ""
}

// args joins the arguments of a call, with an optional window and filter.
func (g gen) args(base string, windowed bool) string {
	args := []string{base}
	if windowed && g.r.IntN(4) > 0 {
		args = append(args, fmt.Sprintf("%q", g.pick(randomWindows...)))
	}
	if f := g.filter(); f != "" {
		args = append(args, f)
	}
	return strings.Join(args, ", ")
}

// gapArgs draws the gap of a sequence or abandoned call and an optional
// window.
func (g gen) gapArgs() string {
	args := fmt.Sprintf("%q", g.pick(randomGaps...))
	if g.r.IntN(2) == 0 {
		args += fmt.Sprintf(", %q", g.pick(randomWindows...))
	}
	return args
}

func (g gen) atom() string {
	name := fmt.Sprintf("%q", g.pick(randomNames...))
	op := g.pick(">=", "<", "==", ">")
	switch g.r.IntN(9) {
	case 0, 1:
		return fmt.Sprintf("count(%s) %s %d", g.args(name, true), op, g.r.IntN(3))
	case 2:
		return fmt.Sprintf(`%s(%s) %s %d.0`, g.pick("sum", "avg", "min", "max"), g.args(name+`, "revenue"`, true), op, 10*g.r.IntN(8))
	case 3:
		return fmt.Sprintf(`%s(%s) %s %d`, g.pick("days_since_last", "days_since_first"), g.args(name, false), op, g.r.IntN(3))
	case 4:
		return fmt.Sprintf(`last_time(%s) > timestamp(%q)`, g.args(name, false), t0.Add(time.Duration(g.r.IntN(48))*time.Hour).Format(time.RFC3339))
	case 5:
		return fmt.Sprintf(`has(traits.tier) && traits.tier == %q`, g.pick("gold", "silver"))
	case 6:
		steps := make([]string, 2+g.r.IntN(2))
		for i := range steps {
			steps[i] = fmt.Sprintf("%q", g.pick(randomNames...))
		}
		return fmt.Sprintf(`sequence([%s], %s)`, strings.Join(steps, ", "), g.gapArgs())
	case 7:
		return fmt.Sprintf(`abandoned(%q, %q, %s)`, g.pick(randomNames...), g.pick(randomNames...), g.gapArgs())
	}
	return fmt.Sprintf("count(%s) == 0", g.args(name, true))
}

func (g gen) definition(depth int) string {
	if depth == 0 || g.r.IntN(3) == 0 {
		return g.atom()
	}
	switch g.r.IntN(3) {
	case 0:
		return "(" + g.definition(depth-1) + ") && (" + g.definition(depth-1) + ")"
	case 1:
		return "(" + g.definition(depth-1) + ") || (" + g.definition(depth-1) + ")"
	}
	return "!(" + g.definition(depth-1) + ")"
}

// event draws an event of a profile at about now: mostly in the last two
// days, sometimes a few minutes ahead of the clock.
func (g gen) event(seq int64, profile string, now time.Time) segment.Event {
	ev := segment.Event{Seq: seq, Resource: fmt.Sprintf("events/%d", seq), Profile: profile}
	if g.r.IntN(6) == 0 {
		ev.Identify, ev.Time = true, now
		ev.Traits = map[string]any{"tier": g.pick("gold", "silver")}
		if g.r.IntN(4) == 0 {
			ev.Traits["tier"] = nil
		}
		return ev
	}
	ev.Name = g.pick(randomNames...)
	ev.Time = now.Add(-time.Duration(g.r.Int64N(int64(48*time.Hour))) + 10*time.Minute).Truncate(time.Minute)
	if g.r.IntN(4) > 0 {
		ev.Numbers = map[string]float64{"revenue": float64(5 * g.r.IntN(20)), "items": float64(1 + g.r.IntN(2))}
	}
	ev.Strings = map[string]string{"category": g.pick(randomCategories...)}
	if g.r.IntN(2) == 0 {
		ev.Flags = map[string]bool{"discount_used": g.r.IntN(2) == 0}
	}
	return ev
}

// nextBoundary returns the first instant after now at which an event
// crosses the edge of one of the windows the generator uses, completes one
// more day since it happened or becomes older than a gap (abandonment),
// computed independently of the library.
func nextBoundary(events []segment.Event, now time.Time) time.Time {
	edges := []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour, 48 * time.Hour, 72 * time.Hour}
	var next time.Time
	for _, ev := range events {
		if ev.Name == "" {
			continue
		}
		for _, d := range edges {
			if at := ev.Time.Add(d); at.After(now) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next
}

// def is a definition as recompute evaluates it.
type def struct {
	id    string
	cond  *condition.Condition
	group string
}

// recompute evaluates every profile from scratch, from all of its events,
// at now, against defs in their order (each after the segments it tests;
// the segments of a group by priority, the first match winning), and
// returns the memberships as "segment profile".
func recompute(t *testing.T, defs []def, events []segment.Event, now time.Time) []string {
	facts := map[string]*condition.Facts{}
	for _, ev := range events {
		f := facts[ev.Profile]
		if f == nil {
			f = &condition.Facts{Traits: map[string]any{}}
			facts[ev.Profile] = f
		}
		if ev.Identify {
			for k, v := range ev.Traits {
				if v == nil {
					delete(f.Traits, k)
				} else {
					f.Traits[k] = v
				}
			}
		}
		if ev.Name != "" {
			f.Add(condition.Event{Name: ev.Name, Time: ev.Time, Numbers: ev.Numbers, Strings: ev.Strings, Flags: ev.Flags})
		}
	}
	var out []string
	for p, f := range facts {
		in, won := map[string]bool{}, map[string]bool{}
		f.InSegment = func(id string) bool { return in[id] }
		for _, d := range defs {
			if d.group != "" && won[d.group] {
				continue
			}
			if ok, err := d.cond.Eval(f, now); err == nil && ok {
				in[d.id], won[d.group] = true, true
				out = append(out, d.id+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// randomRun is one run of a randomized comparison: its generator, an
// engine on a clock of its own, and the definitions created on it, compiled
// for the recompute and described for failure messages.
type randomRun struct {
	t    *testing.T
	g    gen
	clk  *clock
	e    *segment.Engine
	defs []def
	srcs []string
}

// newRandomRun starts a run with the generator of seed and stream.
func newRandomRun(t *testing.T, seed, stream uint64) *randomRun {
	clk := &clock{now: t0}
	return &randomRun{t: t, g: gen{r: rand.New(rand.NewPCG(seed, stream))}, clk: clk,
		e: segment.NewEngine(memory.New(), segment.Options{Now: clk.Now})}
}

// create creates a segment on the run's engine and records its definition.
func (r *randomRun) create(id, src, group string, priority int32) {
	c, err := condition.Compile(src)
	require.NoError(r.t, err, src)
	_, err = r.e.CreateSegment(context.Background(), segment.Segment{ID: id, Condition: src, Group: group, Priority: priority})
	require.NoError(r.t, err)
	r.defs = append(r.defs, def{id: id, cond: c, group: group})
	r.srcs = append(r.srcs, fmt.Sprintf("%s (group %q, priority %d): %s", id, group, priority, src))
}

func memberships(t *testing.T, e *segment.Engine, profiles []string) []string {
	var out []string
	for _, p := range profiles {
		ms, err := e.ProfileMemberships(context.Background(), p)
		require.NoError(t, err)
		for _, m := range ms {
			out = append(out, m.Segment+" "+p)
		}
	}
	slices.Sort(out)
	return out
}

// TestIncrementalEqualsRecompute drives the engine with thousands of random
// event streams against random definitions, advancing a clock, and checks
// after every step that the memberships kept incrementally — events applied
// as they come, backfills of segments created mid-stream, and time-driven
// re-evaluation by the scheduler — are exactly those a full recompute from
// scratch finds at the same instant.
func TestIncrementalEqualsRecompute(t *testing.T) {
	runs, profilesPerRun, steps := 300, 8, 30
	if testing.Short() {
		runs = 30
	}
	streams, checked := 0, 0
	for run := range runs {
		seed := uint64(run)
		r := newRandomRun(t, seed, 0x5e9)
		g, clk, e, create := r.g, r.clk, r.e, r.create
		ctx := context.Background()
		create("s1", g.definition(2), "", 0)
		create("s2", g.definition(2), "", 0)
		// s4 tests s1 and s2; the stages of group "g" exclude each other.
		create("s4", fmt.Sprintf(`in_segment("s1") && (%s) || !in_segment("s2") && (%s)`, g.definition(1), g.definition(1)), "", 0)
		create("s5", g.definition(2), "g", 1)
		create("s6", fmt.Sprintf(`in_segment("s4") || (%s)`, g.definition(1)), "g", 2)

		profiles := make([]string, profilesPerRun)
		for i := range profiles {
			profiles[i] = fmt.Sprintf("profiles/r%d-p%d", run, i)
		}
		streams += len(profiles)
		var events []segment.Event
		check := func(step int, what string) {
			t.Helper()
			now := clk.Now().UTC().Truncate(time.Microsecond)
			want := recompute(t, r.defs, events, now)
			got := memberships(t, e, profiles)
			if !slices.Equal(want, got) {
				t.Fatalf("seed %d, step %d, %s at %s:\nincremental %v\nrecompute   %v\ndefinitions:\n  %s",
					seed, step, what, now, got, want, strings.Join(r.srcs, "\n  "))
			}
			checked++
		}
		for step := range steps {
			// Time passes: to the next scheduled check exactly, to the next
			// instant at which any window of the library could change
			// (which a late schedule would miss), or by a random stretch.
			next, err := e.NextCheck(ctx)
			require.NoError(t, err)
			boundary := nextBoundary(events, clk.Now())
			switch r := g.r.IntN(3); {
			case r == 0 && !next.IsZero():
				clk.Set(next)
			case r == 1 && !boundary.IsZero():
				clk.Set(boundary)
			default:
				clk.Set(clk.Now().Add(time.Duration(g.r.Int64N(int64(12 * time.Hour)))).Truncate(time.Second))
			}
			for {
				n, err := e.CheckDue(ctx)
				require.NoError(t, err)
				if n < segment.CheckBatch {
					break
				}
			}
			check(step, "after the scheduler")

			if step == steps/3 {
				// s6 moves ahead of s5 in their group.
				_, err := e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "s6", Priority: ptr(int32(0)), Author: "test", Reason: "reorder"})
				require.NoError(t, err)
				r.defs[3], r.defs[4] = r.defs[4], r.defs[3]
				check(step, "after reordering a group")
			}
			if step == steps/2 {
				create("s3", fmt.Sprintf(`in_segment("s5") != (%s)`, g.definition(2)), "", 0)
				check(step, "after creating a segment")
			}
			batch := make([]segment.Event, 1+g.r.IntN(3))
			for i := range batch {
				batch[i] = g.event(int64(len(events)+i+1), profiles[g.r.IntN(len(profiles))], clk.Now())
			}
			require.NoError(t, e.ApplyEvents(ctx, batch))
			events = append(events, batch...)
			check(step, "after applying events")
		}
	}
	t.Logf("%d event streams, %d comparisons of every membership", streams, checked)
}

func ptr[T any](v T) *T { return &v }

// clock is a settable clock for the engine.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
