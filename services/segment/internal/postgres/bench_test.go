package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

const (
	// benchProfiles and benchEvents size the generated facts: benchEvents
	// events of each of benchProfiles profiles, over the 30 days before
	// benchNow.
	benchProfiles = 20_000
	benchEvents   = 20
)

// benchNow is the instant both the engine and the SQL evaluate at.
var benchNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// benchCase is a typical condition and the hand-written SQL computing its
// members from segment.facts, with $1 the evaluation instant.
type benchCase struct {
	name      string
	condition string
	sql       string
}

var benchCases = []benchCase{
	{
		name:      "count-sum-30d",
		condition: `count("Order Completed", "30d") >= 3 && sum("Order Completed", "revenue", "30d") > 200.0`,
		sql: `SELECT profile FROM segment.facts
WHERE name = 'Order Completed' AND event_time > $1::timestamptz - interval '30 days'
GROUP BY profile HAVING count(*) >= 3 AND sum((numbers->>'revenue')::float8) > 200 ORDER BY profile`,
	},
	{
		name:      "count-7d",
		condition: `count("Page Viewed", "7d") >= 5`,
		sql: `SELECT profile FROM segment.facts
WHERE name = 'Page Viewed' AND event_time > $1::timestamptz - interval '7 days'
GROUP BY profile HAVING count(*) >= 5 ORDER BY profile`,
	},
	{
		name:      "sum-7d",
		condition: `sum("Order Completed", "revenue", "7d") > 100.0`,
		sql: `SELECT profile FROM segment.facts
WHERE name = 'Order Completed' AND event_time > $1::timestamptz - interval '7 days'
GROUP BY profile HAVING sum((numbers->>'revenue')::float8) > 100 ORDER BY profile`,
	},
	{
		name:      "count-filter-14d",
		condition: `count("Order Completed", "14d", {"category": "shoes"}) >= 2`,
		sql: `SELECT profile FROM segment.facts
WHERE name = 'Order Completed' AND event_time > $1::timestamptz - interval '14 days' AND strings->>'category' = 'shoes'
GROUP BY profile HAVING count(*) >= 2 ORDER BY profile`,
	},
}

// BenchmarkEvaluation measures, on the same generated Postgres facts
// (20,000 profiles with 20 events each), the engine against the
// equivalent hand-written SQL GROUP BY over segment.facts, and fails when
// the two find different members:
//
//   - eval/<condition>: profile × segment evaluations per second of the
//     engine evaluating every profile (reading its facts from Postgres);
//     engine/sql is its rate over the SQL query's;
//   - backfill: the time to create a segment, evaluating and recording the
//     membership of every profile; sql/backfill is the SQL query's time
//     over the backfill's (the share of SQL's speed the backfill reaches).
func BenchmarkEvaluation(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b, "segment", migrations.FS)
	seedFacts(b, ctx, postgres.New(pool))
	_, err := pool.Exec(ctx, "ANALYZE segment.facts")
	require.NoError(b, err)
	engine := segment.NewEngine(postgres.New(pool), segment.Options{Now: func() time.Time { return benchNow }})

	for _, c := range benchCases {
		b.Run("eval/"+c.name, func(b *testing.B) {
			var engineTime, sqlTime time.Duration
			var found int
			for b.Loop() {
				start := time.Now()
				preview, err := engine.PreviewSegment(ctx, c.condition, benchProfiles)
				require.NoError(b, err)
				engineTime += time.Since(start)
				start = time.Now()
				want := sqlMembers(b, ctx, pool, c.sql)
				sqlTime += time.Since(start)
				require.Equal(b, want, preview.Sample, "the engine and SQL disagree on %s", c.condition)
				require.EqualValues(b, benchProfiles, preview.Total)
				found = len(want)
			}
			evals := float64(benchProfiles * b.N)
			b.ReportMetric(evals/engineTime.Seconds(), "engine-evals/s")
			b.ReportMetric(evals/sqlTime.Seconds(), "sql-evals/s")
			b.ReportMetric(float64(sqlTime)/float64(engineTime), "engine/sql")
			b.ReportMetric(float64(found), "members")
		})
	}

	c := benchCases[0]
	b.Run("backfill", func(b *testing.B) {
		var backfillTime, sqlTime time.Duration
		n := 0
		for b.Loop() {
			n++
			id := fmt.Sprintf("backfill-%d", n)
			start := time.Now()
			_, err := engine.CreateSegment(ctx, segment.Segment{ID: id, Condition: c.condition})
			require.NoError(b, err)
			backfillTime += time.Since(start)
			start = time.Now()
			want := sqlMembers(b, ctx, pool, c.sql)
			sqlTime += time.Since(start)
			require.Equal(b, want, members(b, ctx, engine, id), "the backfill and SQL disagree on %s", c.condition)
		}
		b.ReportMetric(float64(backfillTime.Milliseconds())/float64(b.N), "backfill-ms")
		b.ReportMetric(float64(sqlTime.Milliseconds())/float64(b.N), "sql-ms")
		b.ReportMetric(float64(sqlTime)/float64(backfillTime), "sql/backfill")
	})
}

// seedFacts stores benchProfiles profiles with benchEvents events each,
// drawn from a seeded generator: page views, product views and orders with
// a revenue and a category, over the 30 days before benchNow.
func seedFacts(b *testing.B, ctx context.Context, store *postgres.Store) {
	b.Helper()
	r := rand.New(rand.NewPCG(5, 5))
	categories := []string{"shoes", "bags", "hats"}
	const batch = 1000
	seq := int64(0)
	for first := 0; first < benchProfiles; first += batch {
		var profiles []*segment.Profile
		var facts []segment.Fact
		for i := first; i < first+batch; i++ {
			name := fmt.Sprintf("profiles/p%05d", i)
			profiles = append(profiles, &segment.Profile{Name: name})
			for range benchEvents {
				seq++
				e := condition.Event{Time: benchNow.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Second)}
				switch k := r.IntN(10); {
				case k < 3:
					e.Name = "Order Completed"
					e.Numbers = map[string]float64{"revenue": float64(r.IntN(150))}
					e.Strings = map[string]string{"category": categories[r.IntN(len(categories))]}
				case k < 8:
					e.Name = "Page Viewed"
				default:
					e.Name = "Product Viewed"
				}
				facts = append(facts, segment.Fact{Profile: name, Seq: seq, Event: e})
			}
		}
		require.NoError(b, store.Update(ctx, func(tx segment.Tx) error {
			if err := tx.SaveProfiles(ctx, profiles); err != nil {
				return err
			}
			return tx.AddFacts(ctx, facts)
		}))
	}
}

// sqlMembers runs a hand-written membership query at benchNow.
func sqlMembers(b *testing.B, ctx context.Context, pool *pgxpool.Pool, sql string) []string {
	b.Helper()
	rows, err := pool.Query(ctx, sql, benchNow)
	require.NoError(b, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(b, err)
	return out
}

// members lists every member of a segment, by profile.
func members(b *testing.B, ctx context.Context, engine *segment.Engine, id string) []string {
	b.Helper()
	var out []string
	for after := ""; ; {
		page, err := engine.ListMembers(ctx, id, after, 1000)
		require.NoError(b, err)
		if len(page) == 0 {
			return out
		}
		for _, m := range page {
			out = append(out, m.Profile)
		}
		after = page[len(page)-1].Profile
	}
}
