package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

// TestPushdownMatchesEvaluation runs the same random history against two
// databases: in one the store computes the backfills it can (count, sum,
// avg, min and max conditions) in SQL; in the other a wrapper hides that
// capability, so the engine evaluates every profile in Go. After each
// segment creation and update, the memberships, the change log (sequence
// numbers included) and the profiles' next checks must be identical, and
// the store must have done exactly the backfills of the supported
// conditions that are false for a profile without facts. The facts
// include events exactly at a window's edge and a microsecond either side,
// events in the future, orders without a revenue or with a non-numeric one,
// fractional revenues whose float sum depends on the order, profiles
// without facts, profiles whose facts are replaced between rounds and a
// deleted profile whose memberships stay.
func TestPushdownMatchesEvaluation(t *testing.T) {
	h := newPushHarness(t)
	h.both(func(tx segment.Tx) error { return seedPushFacts(h.ctx, tx, rand.New(rand.NewPCG(1, 2)), 0, 60, h.now) })
	h.both(func(tx segment.Tx) error { return seedEdges(h.ctx, tx, h.now) })
	for i, src := range edgeConditions {
		require.True(t, h.create(fmt.Sprintf("edge%d", i), src, ""), "not pushed down: %s", src)
	}
	// A sum that overflows float8 is an error in Postgres and infinity in
	// Go: the store leaves that backfill to the engine.
	require.False(t, h.create("overflow", `sum("Overflowed", "revenue") > 1.0`, ""), "an overflowing sum was pushed down")
	want := []string{"edge0 profiles/e0", "edge1 profiles/e0", "edge2 profiles/r0", "edge2 profiles/r2", "edge3 profiles/e1", "edge4 profiles/r2", "edge5 profiles/n0", "overflow profiles/o0"}
	require.Equal(t, want, dump(t, h.ctx, h.pushPool, `SELECT segment || ' ' || profile FROM segment.memberships WHERE profile NOT LIKE 'profiles/q%' ORDER BY 1`))
	require.Equal(t, []string{"0"}, dump(t, h.ctx, h.pushPool, `SELECT count(*) FROM segment.changes WHERE NOT trace_context ? 'traceparent'`),
		"changes without the trace context")

	g := pushGen{r: rand.New(rand.NewPCG(7, 11))}
	pushed, fellBack := 0, 0
	for round := range 60 {
		id := fmt.Sprintf("s%03d", round)
		// One segment in four of the rounds 3, 13, 23... shares its
		// exclusive group with the first: its backfills are left to Go.
		group := ""
		if round%10 == 3 {
			group = "g"
		}
		for step := range 2 {
			src, c, supported := g.compiled()
			empty, err := c.Eval(&condition.Facts{}, h.now)
			want := supported && !(err == nil && empty) && (group == "" || round == 3)
			var done bool
			if step == 0 {
				done = h.create(id, src, group)
			} else {
				done = h.update(id, src)
			}
			require.Equal(t, want, done, "round %d step %d: pushed %s", round, step, src)
			if want {
				pushed++
			} else {
				fellBack++
			}
		}
		h.checkDue()
		h.both(func(tx segment.Tx) error { return changeFacts(h.ctx, tx, round, h.now) })
		h.now = h.now.Add(time.Duration(g.r.IntN(3)) * pushStep)
	}
	t.Logf("%d backfills pushed down, %d evaluated in Go", pushed, fellBack)
	require.Greater(t, pushed, 30)
	require.Greater(t, fellBack, 30)
}

// pushHarness runs the same operations against two databases: in one the
// store computes the backfills it can; in the other a wrapper hides that
// capability.
type pushHarness struct {
	t                *testing.T
	ctx              context.Context
	pushPool, goPool *pgxpool.Pool
	pushStore        *pushCounter
	stores           []segment.Store
	engines          []*segment.Engine
	now              time.Time
}

// newPushHarness returns a harness whose engines evaluate at its now and
// record the trace context of a sampled remote span.
func newPushHarness(t *testing.T) *pushHarness {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	h := &pushHarness{t: t, now: pushNow}
	h.ctx = trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	h.pushPool = pgtest.NewPool(t, "segment", migrations.FS)
	h.goPool = pgtest.NewPool(t, "segment", migrations.FS)
	h.pushStore = &pushCounter{Store: postgres.New(h.pushPool)}
	h.stores = []segment.Store{h.pushStore, goOnly{Store: postgres.New(h.goPool)}}
	clock := segment.Options{Now: func() time.Time { return h.now }}
	for _, s := range h.stores {
		h.engines = append(h.engines, segment.NewEngine(s, clock))
	}
	return h
}

// both runs fn in a transaction of each store.
func (h *pushHarness) both(fn func(tx segment.Tx) error) {
	h.t.Helper()
	for _, s := range h.stores {
		require.NoError(h.t, s.Update(h.ctx, fn))
	}
}

// create creates a segment with both engines, requires the same state in
// both databases, and reports whether the store did the backfill.
func (h *pushHarness) create(id, src, group string) bool {
	h.t.Helper()
	return h.run(src, func(e *segment.Engine) error {
		_, err := e.CreateSegment(h.ctx, segment.Segment{ID: id, Condition: src, Group: group})
		return err
	})
}

// update changes a segment's condition as create creates one.
func (h *pushHarness) update(id, src string) bool {
	h.t.Helper()
	return h.run(src, func(e *segment.Engine) error {
		_, err := e.UpdateSegment(h.ctx, segment.SegmentUpdate{ID: id, Condition: &src, Reason: "test"})
		return err
	})
}

func (h *pushHarness) run(src string, fn func(e *segment.Engine) error) bool {
	h.t.Helper()
	before := h.pushStore.done
	for _, e := range h.engines {
		require.NoError(h.t, fn(e), src)
	}
	requireSameState(h.t, h.ctx, h.pushPool, h.goPool, src)
	return h.pushStore.done > before
}

// checkDue evaluates the checks that have come with both engines, so that
// the next backfills find profiles whose check they may move.
func (h *pushHarness) checkDue() {
	h.t.Helper()
	for _, e := range h.engines {
		for n := segment.CheckBatch; n == segment.CheckBatch; {
			var err error
			n, err = e.CheckDue(h.ctx)
			require.NoError(h.t, err)
		}
	}
	requireSameState(h.t, h.ctx, h.pushPool, h.goPool, "checks due")
}

// changeFacts adds facts, replaces or removes a profile's or deletes a
// profile after a round, so that the next updates find members to keep,
// to exit and to enter.
func changeFacts(ctx context.Context, tx segment.Tx, round int, now time.Time) error {
	r := rand.New(rand.NewPCG(uint64(round), 3))
	seq := int64(round+1) * 10_000
	switch round % 4 {
	case 0:
		return seedPushFacts(ctx, tx, r, seq, 8, now)
	case 1:
		return tx.ReplaceFacts(ctx, pushProfile(r.IntN(60)), nil)
	case 2:
		return tx.ReplaceFacts(ctx, pushProfile(r.IntN(60)), pushFacts(r, seq, 6, now))
	}
	if round == 7 {
		return tx.DeleteProfiles(ctx, []string{pushProfile(5)})
	}
	return nil
}

var pushNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// pushStep divides every window of the conditions; the evaluation instant
// moves by multiples of it.
const pushStep = 30 * time.Minute

// pushProfile names the i-th profile of the test; profiles 50 to 59 never
// get facts.
func pushProfile(i int) string { return fmt.Sprintf("profiles/q%02d", i) }

// seedPushFacts stores n profiles with random facts numbered after seq
// around now, and a next check for some.
func seedPushFacts(ctx context.Context, tx segment.Tx, r *rand.Rand, seq int64, n int, now time.Time) error {
	var profiles []*segment.Profile
	var facts []segment.Fact
	var checks []segment.Check
	for _, i := range r.Perm(60)[:n] {
		name := pushProfile(i)
		profiles = append(profiles, &segment.Profile{Name: name, Traits: map[string]any{"vip": i%3 == 0}})
		if i < 50 {
			for _, f := range pushFacts(r, seq, 1+r.IntN(12), now) {
				f.Profile = name
				facts = append(facts, f)
			}
			seq += 100
		}
		if r.IntN(4) == 0 {
			checks = append(checks, segment.Check{Profile: name, At: now.Add(time.Duration(r.IntN(48*60)) * time.Minute)})
		}
	}
	if err := tx.SaveProfiles(ctx, profiles); err != nil {
		return err
	}
	if err := tx.AddFacts(ctx, facts); err != nil {
		return err
	}
	return tx.SetNextChecks(ctx, checks)
}

// edgeConditions are tested first, over the facts of seedEdges; each
// decides one member (see the test).
var edgeConditions = []string{
	// e0's order is exactly 1h old: in the window, which includes its
	// start; e1's is exactly 6h old: out of both windows.
	`count("Order Completed", "1h..6h") >= 1`,
	`count("Order Completed", "6h") >= 1`,
	// Added in the order of the events (their sequence numbers), r0's
	// revenues make 0.6000000000000001 and r1's 0.6.
	`sum("Email Clicked", "revenue") > 0.6`,
	// e1's order is exactly 6h old: in the 6h..1d window, e0's is not.
	`count("Order Completed", "6h..1d") > 0 && count("Order Completed", "1d") > 0`,
	// r2's revenues add up to 2^53 in the order of the events.
	`sum("Email Clicked", "revenue") == 9007199254740992.0`,
	// n0's revenues are a number and a string: only the number adds up,
	// and only it has a value for min.
	`sum("Product Added", "revenue") == 7.0 && min("Product Added", "revenue") == 7.0`,
}

// seedEdges stores the profiles of edgeConditions.
func seedEdges(ctx context.Context, tx segment.Tx, now time.Time) error {
	order := func(seq int64, at time.Time) segment.Fact {
		return segment.Fact{Seq: seq, Event: condition.Event{Name: "Order Completed", Time: at}}
	}
	click := func(seq int64, revenue float64) segment.Fact {
		return segment.Fact{Seq: seq, Event: condition.Event{Name: "Email Clicked", Time: now.Add(-time.Hour), Numbers: map[string]float64{"revenue": revenue}}}
	}
	facts := map[string][]segment.Fact{
		"profiles/e0": {order(1, now.Add(-time.Hour))},
		"profiles/e1": {order(2, now.Add(-6*time.Hour))},
		"profiles/r0": {click(3, 0.1), click(4, 0.2), click(5, 0.3)},
		// Stored in the reverse order of their numbers: read in the
		// table's order, they would add up to 0.6000000000000001.
		"profiles/r1": {click(8, 0.1), click(7, 0.2), click(6, 0.3)},
		// Added in order, 2^53 + 1 + 1 is 2^53 (each 1 is lost to
		// rounding); in the table's order, 2^53 + 2.
		"profiles/r2": {click(13, 1), click(12, 1), click(11, 1<<53)},
		"profiles/o0": {
			{Seq: 14, Event: condition.Event{Name: "Overflowed", Time: now, Numbers: map[string]float64{"revenue": 1e308}}},
			{Seq: 15, Event: condition.Event{Name: "Overflowed", Time: now, Numbers: map[string]float64{"revenue": 1e308}}},
		},
		"profiles/n0": {
			{Seq: 9, Event: condition.Event{Name: "Product Added", Time: now, Numbers: map[string]float64{"revenue": 7}}},
			{Seq: 10, Event: condition.Event{Name: "Product Added", Time: now, Strings: map[string]string{"revenue": "3"}}},
		},
	}
	var profiles []*segment.Profile
	var all []segment.Fact
	for name, fs := range facts {
		profiles = append(profiles, &segment.Profile{Name: name})
		for _, f := range fs {
			f.Profile = name
			all = append(all, f)
		}
	}
	if err := tx.SaveProfiles(ctx, profiles); err != nil {
		return err
	}
	return tx.AddFacts(ctx, all)
}

// pushEdges are the lengths of the windows the conditions use, whose edges
// the facts straddle.
var pushEdges = []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour, 48 * time.Hour, 72 * time.Hour}

// pushRevenues are the revenues drawn; nil for none, a string for a
// non-numeric one.
var pushRevenues = []any{nil, nil, "12", 0.0, 10.0, 12.5, 0.1, 0.2, 0.3, -5.0, 1e-7, 33.3333, 70.0, 1e15}

// pushFacts draws n facts numbered after seq, without profile, around
// now.
func pushFacts(r *rand.Rand, seq int64, n int, now time.Time) []segment.Fact {
	facts := make([]segment.Fact, n)
	for k := range facts {
		e := condition.Event{Name: pushNames[r.IntN(len(pushNames))], Numbers: map[string]float64{}, Strings: map[string]string{}, Flags: map[string]bool{}}
		// The evaluation instant moves forward by steps of 30 minutes over
		// the rounds: edges are drawn around the next few instants.
		at := now.Add(time.Duration(r.IntN(4)) * pushStep)
		switch r.IntN(4) {
		case 0, 1:
			at = at.Add(-pushEdges[r.IntN(len(pushEdges))]).Add(time.Duration(r.IntN(3)-1) * time.Microsecond)
		case 2:
			at = at.Add(-time.Duration(r.Int64N(int64(96 * time.Hour))))
		default:
			at = at.Add(time.Duration(r.Int64N(int64(6 * time.Hour))))
		}
		e.Time = at.Truncate(time.Microsecond)
		switch v := pushRevenues[r.IntN(len(pushRevenues))].(type) {
		case float64:
			e.Numbers["revenue"] = v
		case string:
			e.Strings["revenue"] = v
		}
		if r.IntN(3) > 0 {
			e.Strings["category"] = pushCategories[r.IntN(len(pushCategories))]
		}
		if r.IntN(2) == 0 {
			e.Numbers["items"] = float64(1 + r.IntN(2))
		}
		if r.IntN(2) == 0 {
			e.Flags["discount_used"] = r.IntN(2) == 0
		}
		facts[k] = segment.Fact{Seq: seq + int64(k) + 1, Event: e}
	}
	return facts
}

var (
	pushNames      = []string{"Order Completed", "Email Clicked", "Product Added"}
	pushCategories = []string{"shoes", "bags"}
	pushWindows    = []string{"30m", "2h", "6h", "1d", "3d", "1h..6h", "6h..2d", "1d..3d"}
	pushOps        = []string{">=", ">", "<", "<=", "==", "!="}
)

// pushGen draws conditions: mostly of the subset computed in SQL, some
// outside it.
type pushGen struct{ r *rand.Rand }

func (g pushGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

// compiled returns a condition that compiles, compiled, and whether it is
// in the subset.
func (g pushGen) compiled() (string, *condition.Condition, bool) {
	for {
		src, supported := g.condition()
		// Some do not, such as an int compared with a double by ==.
		if c, err := condition.Compile(src); err == nil {
			return src, c, supported
		}
	}
}

// condition returns a condition and whether it is in the subset.
func (g pushGen) condition() (string, bool) {
	c := g.expr(2)
	switch g.r.IntN(8) {
	case 0:
		return "!(" + c + ")", false
	case 1:
		return `traits.vip == true && ` + c, false
	case 2:
		return fmt.Sprintf(`days_since_last(%q) <= 1 && (%s)`, g.pick(pushNames...), c), false
	case 3:
		return fmt.Sprintf(`count(%q) + 1 > 2 && (%s)`, g.pick(pushNames...), c), false
	}
	return c, true
}

func (g pushGen) expr(depth int) string {
	if depth == 0 || g.r.IntN(3) == 0 {
		return g.atom()
	}
	op := g.pick(" && ", " || ")
	return "(" + g.expr(depth-1) + op + g.expr(depth-1) + ")"
}

func (g pushGen) atom() string {
	op := g.pick(pushOps...)
	switch g.r.IntN(10) {
	case 0:
		return fmt.Sprintf("%d %s %s", g.r.IntN(3), op, g.call())
	case 1:
		return fmt.Sprintf("%s %s %s", g.call(), op, g.call())
	case 2:
		return g.pick("true", "false")
	case 3:
		return fmt.Sprintf("%s %s %s", g.call(), op, g.pick("0.3", "0.30000000000000004", "12.5", "22.5", "-5", "1u"))
	}
	return fmt.Sprintf("%s %s %d", g.call(), op, g.r.IntN(4)*10/g.pick2(1, 10))
}

func (g pushGen) pick2(a, b int) int {
	if g.r.IntN(2) == 0 {
		return a
	}
	return b
}

func (g pushGen) call() string {
	args := []string{fmt.Sprintf("%q", g.pick(pushNames...))}
	fn := g.pick("count", "count", "sum", "avg", "min", "max")
	if fn != "count" {
		args = append(args, fmt.Sprintf("%q", g.pick("revenue", "revenue", "items")))
	}
	if g.r.IntN(4) > 0 {
		args = append(args, fmt.Sprintf("%q", g.pick(pushWindows...)))
	}
	switch g.r.IntN(6) {
	case 0:
		args = append(args, fmt.Sprintf(`{"category": %q}`, g.pick(pushCategories...)))
	case 1:
		args = append(args, fmt.Sprintf(`{"discount_used": %t}`, g.r.IntN(2) == 0))
	case 2:
		args = append(args, fmt.Sprintf(`{"category": %q, "items": %d}`, g.pick(pushCategories...), 1+g.r.IntN(2)))
	}
	return fn + "(" + strings.Join(args, ", ") + ")"
}

// requireSameState compares the memberships, change logs and next checks
// of the two databases.
func requireSameState(t *testing.T, ctx context.Context, a, b *pgxpool.Pool, src string) {
	t.Helper()
	for _, q := range []string{
		`SELECT segment, profile, enter_time::text, segment_revision::text FROM segment.memberships ORDER BY segment, profile`,
		`SELECT seq::text, segment, profile, kind, change_time::text, segment_revision::text, reason, trace_context::text FROM segment.changes ORDER BY seq`,
		`SELECT profile, coalesce(next_check::text, '') FROM segment.profiles ORDER BY profile`,
	} {
		require.Equal(t, dump(t, ctx, b, q), dump(t, ctx, a, q), "pushed down (want evaluated in Go) for %s:\n%s", src, q)
	}
}

func dump(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q string) []string {
	t.Helper()
	rows, err := pool.Query(ctx, q)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		vals, err := row.Values()
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, " | "), err
	})
	require.NoError(t, err)
	return out
}

// pushCounter counts the backfills its store computes.
type pushCounter struct {
	segment.Store
	done int
}

func (s *pushCounter) Update(ctx context.Context, fn func(segment.Tx) error) error {
	return s.Store.Update(ctx, func(tx segment.Tx) error { return fn(countingTx{Tx: tx, store: s}) })
}

type countingTx struct {
	segment.Tx
	store *pushCounter
}

func (t countingTx) PushBackfill(ctx context.Context, b segment.PushedBackfill) (segment.PushResult, error) {
	r, err := t.Tx.(segment.BackfillPusher).PushBackfill(ctx, b)
	if r.Done {
		t.store.done++
	}
	return r, err
}

// goOnly hides the store's BackfillPusher: its transactions only have the
// methods of segment.Tx.
type goOnly struct{ segment.Store }

func (s goOnly) Update(ctx context.Context, fn func(segment.Tx) error) error {
	return s.Store.Update(ctx, func(tx segment.Tx) error { return fn(struct{ segment.Tx }{tx}) })
}
