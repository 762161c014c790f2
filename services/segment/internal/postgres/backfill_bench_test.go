package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

// BenchmarkBackfill measures the backfill goal at any size: creating a
// segment over BENCH_PROFILES profiles (default 20,000) with BENCH_EVENTS
// events each (default 20), drawn over the BENCH_SPAN_DAYS days before
// the evaluation instant (default 30, the widest window of the
// conditions; longer is a more realistic history), evaluating and
// recording the membership of every profile, against the equivalent hand-written SQL GROUP BY over the
// same facts in the same Postgres, and fails when the two find different
// members. The facts, drawn as BenchmarkEvaluation draws them, are loaded
// with COPY, with progress on stderr. Reported: backfill-s and sql-s, the
// times, and sql/backfill, the share of SQL's speed the backfill reaches
// (≥ 1 meets the goal), the backfill computed in Postgres unless
// BENCH_PUSHDOWN=off; sql-write-s and sql-write/backfill, the same for
// hand-written SQL doing the backfill's job: the same GROUP BY writing the
// members as memberships and entered changes of a scratch segment, in a
// transaction rolled back afterwards.
func BenchmarkBackfill(b *testing.B) {
	ctx := context.Background()
	profiles, events := benchSize(b, "BENCH_PROFILES", benchProfiles), benchSize(b, "BENCH_EVENTS", benchEvents)
	pool := pgtest.NewPool(b, "segment", migrations.FS)
	copyFacts(b, ctx, pool, profiles, events, benchSize(b, "BENCH_SPAN_DAYS", 30))
	store := &timedStore{Store: postgres.New(pool)}
	engine := segment.NewEngine(store, segment.Options{Now: func() time.Time { return benchNow }})
	c := benchCases[0]
	n := 0
	for b.Loop() {
		n++
		id := fmt.Sprintf("backfill-%d", n)
		store.reset()
		start := time.Now()
		_, err := engine.CreateSegment(ctx, segment.Segment{ID: id, Condition: c.condition})
		require.NoError(b, err)
		backfill := time.Since(start)
		b.Logf("backfill time by store call: %s; the rest (evaluation in Go, commit) %s",
			store.String(), (backfill - store.total()).Round(time.Millisecond))
		start = time.Now()
		want := sqlMembers(b, ctx, pool, c.sql)
		sql := time.Since(start)
		require.Equal(b, want, members(b, ctx, engine, id), "the backfill and SQL disagree on %s", c.condition)
		written, write := sqlWrite(b, ctx, pool, c.sql)
		require.Equal(b, len(want), written)
		b.Logf("%d profiles × %d events: backfill %s, SQL GROUP BY %s, SQL GROUP BY writing memberships and changes %s (%d members): sql/backfill %.3f, sql-write/backfill %.3f",
			profiles, events, backfill.Round(time.Millisecond), sql.Round(time.Millisecond), write.Round(time.Millisecond), len(want),
			sql.Seconds()/backfill.Seconds(), write.Seconds()/backfill.Seconds())
		b.ReportMetric(backfill.Seconds(), "backfill-s")
		b.ReportMetric(sql.Seconds(), "sql-s")
		b.ReportMetric(sql.Seconds()/backfill.Seconds(), "sql/backfill")
		b.ReportMetric(write.Seconds(), "sql-write-s")
		b.ReportMetric(write.Seconds()/backfill.Seconds(), "sql-write/backfill")
		b.ReportMetric(float64(len(want)), "members")
	}
}

// sqlWriteSQL writes the members that a hand-written membership query
// (%s, with $1 the evaluation instant) finds as the memberships and
// entered changes of the segment sql-write, numbered after the last
// change, as a backfill records them.
const sqlWriteSQL = `WITH members AS MATERIALIZED (%s),
entered AS (
  INSERT INTO segment.memberships (segment, profile, enter_time, segment_revision)
  SELECT 'sql-write', profile, $1, 1 FROM members
),
logged AS (
  INSERT INTO segment.changes (seq, segment, profile, kind, change_time, segment_revision, reason, trace_context)
  SELECT (SELECT last_change FROM segment.state) + row_number() OVER (ORDER BY profile), 'sql-write', profile, 'entered', $1, 1, 'segment created', '{}'
  FROM members
)
SELECT count(*) FROM members`

// sqlWrite runs a hand-written membership query writing its members (see
// sqlWriteSQL) in a transaction that it rolls back, and returns how many
// it wrote and the time until then.
func sqlWrite(b *testing.B, ctx context.Context, pool *pgxpool.Pool, query string) (int, time.Duration) {
	b.Helper()
	start := time.Now()
	tx, err := pool.Begin(ctx)
	require.NoError(b, err)
	defer func() { require.NoError(b, tx.Rollback(ctx)) }()
	_, err = tx.Exec(ctx, `INSERT INTO segment.segments (id, condition, revision, create_time, update_time) VALUES ('sql-write', 'false', 1, $1, $1)`, benchNow)
	require.NoError(b, err)
	var n int
	require.NoError(b, tx.QueryRow(ctx, fmt.Sprintf(sqlWriteSQL, query), benchNow).Scan(&n))
	return n, time.Since(start)
}

// benchSize reads a positive size from the environment, else def.
func benchSize(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, name)
	require.Positive(b, n, name)
	return n
}

// copyFacts loads profiles profiles with events facts each, over the span
// days before benchNow, into the segment schema with COPY, then analyzes
// the tables.
func copyFacts(b *testing.B, ctx context.Context, pool *pgxpool.Pool, profiles, events, span int) {
	b.Helper()
	start := time.Now()
	rows := make([][]any, profiles)
	for i := range rows {
		rows[i] = []any{profileName(i)}
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"segment", "profiles"}, []string{"profile"}, pgx.CopyFromRows(rows))
	require.NoError(b, err)
	src := &factSource{r: rand.New(rand.NewPCG(5, 5)), profiles: profiles, events: events, total: profiles * events, span: time.Duration(span) * 24 * time.Hour, start: start}
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"segment", "facts"},
		[]string{"profile", "seq", "name", "event_time", "numbers", "strings"}, src)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, "ANALYZE segment.facts; ANALYZE segment.profiles")
	require.NoError(b, err)
	fmt.Fprintf(os.Stderr, "loaded %d profiles and %d facts with COPY in %s\n", profiles, src.total, time.Since(start).Round(time.Second))
}

func profileName(i int) string { return fmt.Sprintf("profiles/p%07d", i) }

// factSource generates the facts row by row for COPY, without holding
// them, as seedFacts draws them: 30% orders with a revenue and a category,
// 50% page views, 20% product views, over the span before benchNow.
type factSource struct {
	r                       *rand.Rand
	profiles, events, total int
	span                    time.Duration
	i                       int
	start                   time.Time
	row                     []any
}

var factCategories = []string{"shoes", "bags", "hats"}

func (s *factSource) Next() bool {
	if s.i == s.total {
		return false
	}
	if s.i > 0 && s.i%1_000_000 == 0 {
		fmt.Fprintf(os.Stderr, "COPY segment.facts: %d of %d rows (%s)\n", s.i, s.total, time.Since(s.start).Round(time.Second))
	}
	at := benchNow.Add(-time.Duration(s.r.Int64N(int64(s.span)))).Truncate(time.Second)
	name, numbers, strs := "Product Viewed", "{}", "{}"
	switch k := s.r.IntN(10); {
	case k < 3:
		name = "Order Completed"
		numbers = fmt.Sprintf(`{"revenue": %d}`, s.r.IntN(150))
		strs = fmt.Sprintf(`{"category": %q}`, factCategories[s.r.IntN(len(factCategories))])
	case k < 8:
		name = "Page Viewed"
	}
	s.row = []any{profileName(s.i / s.events), int64(s.i + 1), name, at, numbers, strs}
	s.i++
	return true
}

func (s *factSource) Values() ([]any, error) { return s.row, nil }

func (s *factSource) Err() error { return nil }

// timedStore times the calls of write transactions by method, to show
// where a backfill spends its time.
type timedStore struct {
	segment.Store
	mu    sync.Mutex
	spent map[string]time.Duration
}

func (s *timedStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spent = map[string]time.Duration{}
}

func (s *timedStore) add(method string, start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spent[method] += time.Since(start)
}

func (s *timedStore) total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Duration
	for _, d := range s.spent {
		t += d
	}
	return t
}

func (s *timedStore) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, m := range slices.Sorted(maps.Keys(s.spent)) {
		parts = append(parts, fmt.Sprintf("%s %s", m, s.spent[m].Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

func (s *timedStore) Update(ctx context.Context, fn func(segment.Tx) error) error {
	return s.Store.Update(ctx, func(tx segment.Tx) error { return fn(timedTx{Tx: tx, store: s}) })
}

type timedTx struct {
	segment.Tx
	store *timedStore
}

func (t timedTx) ProfilePage(ctx context.Context, after string, limit int, events []string) ([]*segment.Profile, error) {
	defer t.store.add("ProfilePage", time.Now())
	return t.Tx.ProfilePage(ctx, after, limit, events)
}

func (t timedTx) Memberships(ctx context.Context, profiles []string) ([]segment.Membership, error) {
	defer t.store.add("Memberships", time.Now())
	return t.Tx.Memberships(ctx, profiles)
}

func (t timedTx) Record(ctx context.Context, changes []segment.Change) ([]segment.Change, error) {
	defer t.store.add("Record", time.Now())
	return t.Tx.Record(ctx, changes)
}

func (t timedTx) SetNextChecks(ctx context.Context, checks []segment.Check) error {
	defer t.store.add("SetNextChecks", time.Now())
	return t.Tx.SetNextChecks(ctx, checks)
}

// PushBackfill forwards to the store's, unless BENCH_PUSHDOWN is "off":
// the engine then evaluates every profile in Go.
func (t timedTx) PushBackfill(ctx context.Context, b segment.PushedBackfill) (segment.PushResult, error) {
	defer t.store.add("PushBackfill", time.Now())
	pusher, ok := t.Tx.(segment.BackfillPusher)
	if !ok || os.Getenv("BENCH_PUSHDOWN") == "off" {
		return segment.PushResult{}, nil
	}
	return pusher.PushBackfill(ctx, b)
}
