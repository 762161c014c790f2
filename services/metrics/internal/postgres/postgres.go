// Package postgres is the Postgres metrics store, on pgx/v5, in the
// "metrics" schema. Apply locks the membership feed's cursor row first,
// which serializes appliers (replicas included): a change is counted by
// exactly one transaction.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// membershipFeed is the metrics.feed_cursors row of the segment service's
// membership changes.
const membershipFeed = "segment.membership_changes"

// Store is a metrics.Store in Postgres.
type Store struct {
	pool *pgxpool.Pool
}

var _ metrics.Store = (*Store)(nil)

// New returns a store on pool; the metrics migrations must be applied.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

const cursorSQL = `-- name: GetFeedCursor
SELECT seq FROM metrics.feed_cursors WHERE feed = $1`

// Cursor returns the position of the last membership change applied.
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, cursorSQL, membershipFeed).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read membership feed cursor: %w", err)
	}
	return seq, nil
}

const lockCursorSQL = `-- name: LockFeedCursor
SELECT seq FROM metrics.feed_cursors WHERE feed = $1 FOR UPDATE`

const setCursorSQL = `-- name: SetFeedCursor
UPDATE metrics.feed_cursors SET seq = $2 WHERE feed = $1`

const addTotalsSQL = `-- name: AddSegmentTotals
INSERT INTO metrics.segment_totals AS t (segment, size, entered_total, exited_total, update_time)
SELECT b.segment, b.entered - b.exited, b.entered, b.exited, b.update_time
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS b (segment, entered, exited, update_time)
ON CONFLICT (segment) DO UPDATE SET
    size = t.size + excluded.size,
    entered_total = t.entered_total + excluded.entered_total,
    exited_total = t.exited_total + excluded.exited_total,
    update_time = GREATEST(t.update_time, excluded.update_time)`

// insertDaysSQL creates the missing day rows, empty and carrying the size
// at the end of the latest earlier day; addDaysSQL then adds the batch's
// movement to every row from the batch's first day of the segment on.
const insertDaysSQL = `-- name: InsertSegmentDays
INSERT INTO metrics.segment_days (segment, day, entered, exited, size)
SELECT b.segment, b.day, 0, 0, COALESCE((
    SELECT d.size FROM metrics.segment_days d
    WHERE d.segment = b.segment AND d.day < b.day
    ORDER BY d.day DESC LIMIT 1), 0)
FROM unnest($1::text[], $2::date[]) AS b (segment, day)
ON CONFLICT (segment, day) DO NOTHING`

const addDaysSQL = `-- name: AddSegmentDays
WITH b AS (
    SELECT * FROM unnest($1::text[], $2::date[], $3::bigint[], $4::bigint[]) AS b (segment, day, entered, exited)
)
UPDATE metrics.segment_days d SET
    entered = d.entered + u.entered,
    exited = d.exited + u.exited,
    size = d.size + u.net
FROM (
    SELECT r.segment, r.day,
        COALESCE(sum(b.entered) FILTER (WHERE b.day = r.day), 0)::bigint AS entered,
        COALESCE(sum(b.exited) FILTER (WHERE b.day = r.day), 0)::bigint AS exited,
        sum(b.entered - b.exited)::bigint AS net
    FROM metrics.segment_days r JOIN b ON b.segment = r.segment AND b.day <= r.day
    GROUP BY r.segment, r.day
) u
WHERE d.segment = u.segment AND d.day = u.day`

// Apply applies the changes after the stored cursor and stores cursor, in
// one transaction; the writes go to the server in one round trip.
func (s *Store) Apply(ctx context.Context, changes []metrics.Change, cursor int64) (int, error) {
	var applied int
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var stored int64
		if err := tx.QueryRow(ctx, lockCursorSQL, membershipFeed).Scan(&stored); err != nil {
			return fmt.Errorf("lock membership feed cursor: %w", err)
		}
		fresh, err := metrics.Fresh(changes, stored, cursor)
		if err != nil {
			return err
		}
		if len(fresh) == 0 && cursor <= stored {
			return nil
		}
		var (
			batch                          pgx.Batch
			segments, daySegments          []string
			entered, exited, dayIn, dayOut []int64
			updateTimes, days              []time.Time
		)
		for _, d := range metrics.Summarize(fresh) {
			segments = append(segments, d.Segment)
			entered = append(entered, d.Entered)
			exited = append(exited, d.Exited)
			updateTimes = append(updateTimes, d.UpdateTime)
			for _, day := range d.Days {
				daySegments = append(daySegments, d.Segment)
				days = append(days, day.Date)
				dayIn = append(dayIn, day.Entered)
				dayOut = append(dayOut, day.Exited)
			}
		}
		if len(segments) > 0 {
			batch.Queue(addTotalsSQL, segments, entered, exited, updateTimes)
			batch.Queue(insertDaysSQL, daySegments, days)
			batch.Queue(addDaysSQL, daySegments, days, dayIn, dayOut)
		}
		batch.Queue(setCursorSQL, membershipFeed, max(stored, cursor))
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("apply membership changes: %w", err)
		}
		applied = len(fresh)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return applied, nil
}

const totalsSQL = `-- name: GetSegmentTotals
SELECT size, entered_total, exited_total, update_time FROM metrics.segment_totals WHERE segment = $1`

const daysSQL = `-- name: ListSegmentDays
SELECT day, entered, exited, size FROM metrics.segment_days WHERE segment = $1 ORDER BY day`

// SegmentMetrics reads a segment's totals and days from one snapshot.
func (s *Store) SegmentMetrics(ctx context.Context, id string) (metrics.SegmentMetrics, error) {
	m := metrics.SegmentMetrics{Segment: id}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, totalsSQL, id).Scan(&m.Size, &m.EnteredTotal, &m.ExitedTotal, &m.UpdateTime)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: segments/%s", metrics.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("get segment totals: %w", err)
		}
		m.UpdateTime = m.UpdateTime.UTC()
		rows, _ := tx.Query(ctx, daysSQL, id)
		m.History, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (metrics.Day, error) {
			var d metrics.Day
			err := row.Scan(&d.Date, &d.Entered, &d.Exited, &d.Size)
			return d, err
		})
		if err != nil {
			return fmt.Errorf("list segment days: %w", err)
		}
		return nil
	})
	if err != nil {
		return metrics.SegmentMetrics{}, err
	}
	return m, nil
}
