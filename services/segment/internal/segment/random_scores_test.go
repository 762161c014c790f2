package segment_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// scoreAtom draws a comparison over rfm.* and store.*, alone or mixed with
// the behavioral functions.
func (g gen) scoreAtom() string {
	op := g.pick(">=", "<=", "==", ">", "<")
	switch g.r.IntN(8) {
	case 0:
		return fmt.Sprintf("rfm.%s %s %d", g.pick("recency", "frequency", "monetary"), op, g.r.IntN(6))
	case 1:
		return fmt.Sprintf("rfm.cell == %q", g.pick("000", "555", "111", "531", "155"))
	case 2:
		return fmt.Sprintf("rfm.revenue %s %d.0 * store.avg_order_value", op, 1+g.r.IntN(3))
	case 3:
		return fmt.Sprintf("rfm.%s %s %d", g.pick("recency_days", "orders"), op, g.r.IntN(4))
	case 4:
		return fmt.Sprintf(`sum("Order Completed", "revenue", %q) %s store.order_value_%s`, g.pick(randomWindows...), op, g.pick("p25", "p50", "p75", "p90", "p99"))
	case 5:
		return fmt.Sprintf("store.%s %s %d", g.pick("customers", "orders"), op, 2*g.r.IntN(3))
	case 6:
		return fmt.Sprintf("rfm.recency >= 4 && rfm.frequency >= %d", 1+g.r.IntN(5))
	}
	return fmt.Sprintf("count(%q) >= 1 && rfm.monetary %s %d", g.pick(randomNames...), op, g.r.IntN(6))
}

// scored draws a definition with at least one score atom.
func (g gen) scored(depth int) string {
	if g.r.IntN(2) == 0 {
		return "(" + g.scoreAtom() + ") && (" + g.definition(depth) + ")"
	}
	return "(" + g.scoreAtom() + ") || (" + g.definition(depth) + ")"
}

// scores draws a refresh: each profile, known or not yet, has scores from a
// few values (so that a refresh often leaves some unchanged) or none, and
// the store one of three sets of statistics.
func (g gen) scores(profiles []string) segment.Scores {
	stores := []condition.StoreStatistics{
		{AverageOrderValue: 20, P25: 5, P50: 15, P75: 30, P90: 60, P99: 90, Orders: 4, Customers: 2},
		{AverageOrderValue: 45, P25: 10, P50: 40, P75: 70, P90: 80, P99: 95, Orders: 6, Customers: 4},
		{},
	}
	s := segment.Scores{Store: stores[g.r.IntN(len(stores))], RFM: map[string]condition.RFM{}}
	for _, p := range profiles {
		if g.r.IntN(3) == 0 {
			continue
		}
		s.RFM[p] = condition.RFM{
			Recency: 1 + g.r.IntN(5), Frequency: 1 + g.r.IntN(5), Monetary: 1 + g.r.IntN(5),
			RecencyDays: int64(g.r.IntN(4)), Orders: int64(1 + g.r.IntN(3)), Revenue: float64(20 * g.r.IntN(6)),
		}
	}
	return s
}

// recomputeScored is recompute with the latest scores.
func recomputeScored(defs []def, events []segment.Event, scores segment.Scores, now time.Time) []string {
	facts := map[string]*condition.Facts{}
	for _, ev := range events {
		f := facts[ev.Profile]
		if f == nil {
			f = &condition.Facts{Traits: map[string]any{}, RFM: scores.RFM[ev.Profile], Store: scores.Store}
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

// TestIncrementalEqualsRecomputeWithScores is TestIncrementalEqualsRecompute
// with definitions that read rfm.* and store.* and random refreshes of the
// scores between events and time passing: refreshes re-evaluate only the
// profiles and segments scores can change, and must leave exactly the
// memberships a full recompute with the latest scores finds.
func TestIncrementalEqualsRecomputeWithScores(t *testing.T) {
	runs, profilesPerRun, steps := 200, 8, 24
	if testing.Short() {
		runs = 20
	}
	checked, refreshes := 0, 0
	for run := range runs {
		seed := uint64(run)
		r := newRandomRun(t, seed, 0x5c0)
		g, clk, e, create := r.g, r.clk, r.e, r.create
		ctx := context.Background()
		create("s1", g.scored(1), "", 0)
		create("s2", g.definition(2), "", 0)
		// s4 depends on scores only through s1; the stages of group "g"
		// exclude each other, one of them reading scores.
		create("s4", fmt.Sprintf(`in_segment("s1") && (%s) || in_segment("s2")`, g.definition(1)), "", 0)
		create("s5", g.scored(1), "g", 1)
		create("s6", fmt.Sprintf(`in_segment("s4") || (%s)`, g.definition(1)), "g", 2)

		profiles := make([]string, profilesPerRun)
		for i := range profiles {
			profiles[i] = fmt.Sprintf("profiles/r%d-p%d", run, i)
		}
		var events []segment.Event
		var scores segment.Scores
		check := func(step int, what string) {
			t.Helper()
			now := clk.Now().UTC().Truncate(time.Microsecond)
			want := recomputeScored(r.defs, events, scores, now)
			got := memberships(t, e, profiles)
			if !slices.Equal(want, got) {
				t.Fatalf("seed %d, step %d, %s at %s:\nincremental %v\nrecompute   %v\nscores %+v\ndefinitions:\n  %s",
					seed, step, what, now, got, want, scores, strings.Join(r.srcs, "\n  "))
			}
			checked++
		}
		for step := range steps {
			if g.r.IntN(2) == 0 {
				next, err := e.NextCheck(ctx)
				require.NoError(t, err)
				if g.r.IntN(2) == 0 && !next.IsZero() {
					clk.Set(next)
				} else {
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
			}
			if g.r.IntN(2) == 0 {
				scores = g.scores(profiles)
				_, err := e.ApplyScores(ctx, scores)
				require.NoError(t, err)
				refreshes++
				check(step, "after a refresh of the scores")
			}
			if step == steps/2 {
				create("s3", fmt.Sprintf(`in_segment("s5") != (%s)`, g.scored(1)), "", 0)
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
	t.Logf("%d refreshes of the scores, %d comparisons of every membership", refreshes, checked)
}
