package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

var _ segment.BackfillPusher = (*tx)(nil)

// pushBackfillSQL does a backfill in one statement. grouped reads the facts
// of the condition's events once, only those that can matter ({since}: see
// pushdown.scope), computing what the aggregates read of
// each ({projected}), grouped by profile: the aggregates of the calls
// ({columns}) in any order, the profile's next check ({check}), and
// whether its sums are the same in any order ({exact}); reordered computes
// the sums again in the order of the facts ({ordered}) for the profiles
// where they are not (left out when there are none: see pushReorderedSQL).
// agg keeps the known profiles and whether each
// matches ({member}). The changes are the entries of the matching
// non-members and the exits of the known members that no longer match,
// numbered after the last change in the order of the profiles' names, as
// the engine's pages record them. Parameters: $1 the event names, $2 the
// segment, $3 now, $4 the revision, $5 the reason, $6 the trace context,
// $7 the last change number.
const pushBackfillSQL = `-- name: PushBackfill
WITH grouped AS MATERIALIZED (
  SELECT f.profile, {check} AS next_check,
    {exact} AS exact{columns}
  FROM (
    SELECT f.profile, f.seq, f.event_time{projected}
    FROM segment.facts f
    WHERE f.name = ANY($1::text[]){since}
    OFFSET 0
  ) f
  GROUP BY f.profile
),{reordered}
agg AS MATERIALIZED (
  SELECT g.profile, ({member}) IS TRUE AS member, g.next_check
  FROM grouped g
  JOIN segment.profiles p ON p.profile = g.profile{reorderedJoin}
),
current AS MATERIALIZED (
  SELECT m.profile FROM segment.memberships m
  WHERE m.segment = $2 AND EXISTS (SELECT 1 FROM segment.profiles p WHERE p.profile = m.profile)
),
changed AS MATERIALIZED (
  SELECT a.profile, 'entered' AS kind FROM agg a
  WHERE a.member AND NOT EXISTS (SELECT 1 FROM current c WHERE c.profile = a.profile)
  UNION ALL
  SELECT c.profile, 'exited' FROM current c
  WHERE NOT EXISTS (SELECT 1 FROM agg a WHERE a.profile = c.profile AND a.member)
),
logged AS (
  INSERT INTO segment.changes (seq, segment, profile, kind, change_time, segment_revision, reason, trace_context)
  SELECT $7::bigint + row_number() OVER (ORDER BY c.profile), $2, c.profile, c.kind, $3, $4, $5, $6::jsonb FROM changed c
),
entered AS (
  INSERT INTO segment.memberships (` + membershipColumns + `)
  SELECT $2, c.profile, $3, $4 FROM changed c WHERE c.kind = 'entered'
),
exited AS (
  DELETE FROM segment.memberships m USING changed c
  WHERE m.segment = $2 AND m.profile = c.profile AND c.kind = 'exited'
),
checked AS (
  UPDATE segment.profiles p SET next_check = a.next_check FROM agg a
  WHERE p.profile = a.profile AND a.next_check IS NOT NULL AND (p.next_check IS NULL OR a.next_check < p.next_check)
  RETURNING 1
)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM checked)`

// pushReorderedSQL is the reordered CTE of pushBackfillSQL, and
// pushReorderedJoinSQL its join in agg, left out when the condition has no
// sums or averages.
const (
	pushReorderedSQL = `
reordered AS MATERIALIZED (
  SELECT f.profile{ordered}
  FROM (
    SELECT f.profile, f.seq, f.event_time{projected}
    FROM segment.facts f
    WHERE f.name = ANY($1::text[]){since} AND f.profile IN (SELECT profile FROM grouped WHERE NOT exact)
    OFFSET 0
  ) f
  GROUP BY f.profile
),`
	pushReorderedJoinSQL = `
  LEFT JOIN reordered o ON o.profile = g.profile`
)

// backfillWorkMem is the memory each sort or hash of a pushed-down
// backfill may use before spilling to disk: grouping a million profiles'
// aggregates needs more than the default.
const backfillWorkMem = "64MB"

// The settings of a pushed-down backfill: backfillWorkMem, and no JIT
// compilation, which the planner's estimates for the statement's joins of
// CTEs (far above the actual rows) would trigger with optimization, at a
// cost of hundreds of milliseconds, more than the statement takes at
// 20,000 profiles.
const (
	setBackfillSettingsSQL = `-- name: SetBackfillSettings
SELECT current_setting('work_mem'), current_setting('jit'), set_config('work_mem', $1, true), set_config('jit', 'off', true)`
	resetBackfillSettingsSQL = `-- name: ResetBackfillSettings
SELECT set_config('work_mem', $1, true), set_config('jit', $2, true)`
)

// PushBackfill computes the backfill of a segment in Postgres when its
// condition compiles to SQL (see compilePushdown). A data exception (a sum
// overflowing float8, which Go computes as infinity) rolls it back and
// leaves the backfill to the engine.
func (t *tx) PushBackfill(ctx context.Context, b segment.PushedBackfill) (segment.PushResult, error) {
	trace, err := json.Marshal(b.TraceContext)
	if err != nil {
		return segment.PushResult{}, fmt.Errorf("trace context: %w", err)
	}
	if b.TraceContext == nil {
		trace = []byte("{}")
	}
	names := b.Condition.EventNames()
	if names == nil {
		names = []string{}
	}
	args := []any{names, b.Segment.ID, b.Now, b.Segment.Revision, b.Reason, string(trace), t.lastChange}
	p, member, ok := compilePushdown(b.Condition, b.Now, args)
	if !ok {
		return segment.PushResult{}, nil
	}
	recorded, checked, err := t.runPushdown(ctx, p.statement(member), p.args)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		return segment.PushResult{}, nil
	}
	if err != nil {
		return segment.PushResult{}, fmt.Errorf("push backfill of segments/%s: %w", b.Segment.ID, err)
	}
	last := t.lastChange + recorded
	if _, err := t.tx.Exec(ctx, setLastChangeSQL, last); err != nil {
		return segment.PushResult{}, fmt.Errorf("set last change: %w", err)
	}
	t.lastChange = last
	return segment.PushResult{Done: true, Recorded: int(recorded), Scheduled: checked > 0}, nil
}

// runPushdown runs a pushed-down backfill statement with its settings
// (see setBackfillSettingsSQL) in a savepoint, rolled back when it fails,
// and returns the number of changes it recorded and of checks it moved.
// The transaction's settings are restored after it.
func (t *tx) runPushdown(ctx context.Context, sql string, args []any) (recorded, checked int64, err error) {
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if err == nil {
			err = sp.Commit(ctx)
		} else if rerr := sp.Rollback(ctx); rerr != nil {
			err = fmt.Errorf("roll back to savepoint: %w (after %v)", rerr, err)
		}
	}()
	var workMem, jit string
	if err := sp.QueryRow(ctx, setBackfillSettingsSQL, backfillWorkMem).Scan(&workMem, &jit, nil, nil); err != nil {
		return 0, 0, fmt.Errorf("set work_mem and jit: %w", err)
	}
	// Planned for each backfill with its parameters, as Memberships is:
	// a generic plan, which the statement cache would settle on for a
	// condition backfilled often, does not know how many facts a window
	// keeps.
	args = append([]any{pgx.QueryExecModeExec}, args...)
	if err := sp.QueryRow(ctx, sql, args...).Scan(&recorded, &checked); err != nil {
		return 0, 0, err
	}
	if _, err := sp.Exec(ctx, resetBackfillSettingsSQL, workMem, jit); err != nil {
		return 0, 0, fmt.Errorf("reset work_mem and jit: %w", err)
	}
	return recorded, checked, nil
}
