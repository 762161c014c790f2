// Package postgres is the Postgres metrics store, on pgx/v5, in the
// "metrics" schema. Apply and ApplyEvents lock their feed's cursor row
// first, which serializes the appliers of each feed (replicas included): an
// entry is counted by exactly one transaction.
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

// eventFeed is the metrics.feed_cursors row of the event log.
const eventFeed = "event.events"

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
		if fresh, err = withoutErased(ctx, tx, fresh); err != nil {
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
		if len(fresh) > 0 {
			queueChanges(&batch, fresh)
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

const insertChangesSQL = `-- name: InsertMembershipChanges
INSERT INTO metrics.membership_changes (seq, segment, profile, entered, change_time)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[])
ON CONFLICT (seq) DO NOTHING`

// seenSQL makes profiles known. Both feeds' appliers run it, in their own
// transactions: rows are locked in profile order, so they cannot deadlock.
// Nearly every event is of a profile known since earlier: such profiles
// are left out before the insert, and a conflicting row is rewritten only
// when its first_seen moves earlier, so that known profiles cost a lookup
// instead of a new row version and its index entries. first_seen only
// ever moves earlier, so a profile left out because its committed
// first_seen is already as early stays right whatever commits meanwhile.
const seenSQL = `-- name: UpsertProfiles
INSERT INTO metrics.profiles AS p (profile, first_seen)
SELECT profile, min(first_seen) FROM unnest($1::text[], $2::timestamptz[]) AS b (profile, first_seen)
WHERE NOT EXISTS (SELECT 1 FROM metrics.profiles k WHERE k.profile = b.profile AND k.first_seen <= b.first_seen)
GROUP BY profile ORDER BY profile
ON CONFLICT (profile) DO UPDATE SET first_seen = excluded.first_seen
WHERE excluded.first_seen < p.first_seen`

// queueChanges queues the writes that keep each membership change and
// make its profile known.
func queueChanges(batch *pgx.Batch, changes []metrics.Change) {
	var (
		seqs              []int64
		segments, profile []string
		entered           []bool
		times             []time.Time
	)
	for _, c := range changes {
		if c.Kind != metrics.Entered && c.Kind != metrics.Exited {
			continue
		}
		seqs = append(seqs, c.Seq)
		segments = append(segments, c.Segment)
		profile = append(profile, c.Profile)
		entered = append(entered, c.Kind == metrics.Entered)
		times = append(times, c.Time.UTC().Truncate(time.Microsecond))
	}
	if len(seqs) == 0 {
		return
	}
	batch.Queue(insertChangesSQL, seqs, segments, profile, entered, times)
	batch.Queue(seenSQL, profile, times)
}

const membershipsSQL = `-- name: ListMembershipChanges
SELECT seq, segment, profile, entered, change_time FROM metrics.membership_changes
WHERE segment = ANY($1::text[]) AND change_time < $2
ORDER BY change_time, seq`

// Memberships returns the changes of segments before before, ordered by
// time then position.
func (s *Store) Memberships(ctx context.Context, segments []string, before time.Time) ([]metrics.Change, error) {
	rows, _ := s.pool.Query(ctx, membershipsSQL, segments, before)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (metrics.Change, error) {
		var (
			c       metrics.Change
			entered bool
		)
		err := row.Scan(&c.Seq, &c.Segment, &c.Profile, &entered, &c.Time)
		c.Time = c.Time.UTC()
		c.Kind = metrics.Exited
		if entered {
			c.Kind = metrics.Entered
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list membership changes: %w", err)
	}
	return out, nil
}

// EventCursor returns the position of the last event applied.
func (s *Store) EventCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, cursorSQL, eventFeed).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read event feed cursor: %w", err)
	}
	return seq, nil
}

const addProfileDaysSQL = `-- name: AddProfileDays
INSERT INTO metrics.profile_days AS d (profile, day, orders, revenue, opens, clicks, unsubscribes)
SELECT * FROM unnest($1::text[], $2::date[], $3::bigint[], $4::float8[], $5::bigint[], $6::bigint[], $7::bigint[])
ON CONFLICT (profile, day) DO UPDATE SET
    orders = d.orders + excluded.orders,
    revenue = d.revenue + excluded.revenue,
    opens = d.opens + excluded.opens,
    clicks = d.clicks + excluded.clicks,
    unsubscribes = d.unsubscribes + excluded.unsubscribes`

// ApplyEvents applies the events after the stored event cursor and stores
// cursor, in one transaction and one round trip of writes.
func (s *Store) ApplyEvents(ctx context.Context, events []metrics.Event, cursor int64) (int, error) {
	var applied int
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var stored int64
		if err := tx.QueryRow(ctx, lockCursorSQL, eventFeed).Scan(&stored); err != nil {
			return fmt.Errorf("lock event feed cursor: %w", err)
		}
		fresh, err := metrics.FreshEvents(events, stored, cursor)
		if err != nil {
			return err
		}
		if len(fresh) == 0 && cursor <= stored {
			return nil
		}
		var batch pgx.Batch
		delta := metrics.SummarizeEvents(fresh)
		queueActivity(&batch, delta)
		batch.Queue(setCursorSQL, eventFeed, max(stored, cursor))
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("apply events: %w", err)
		}
		applied = len(fresh)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return applied, nil
}

const activitySQL = `-- name: ListProfileDays
SELECT profile, day, orders, revenue, opens, clicks, unsubscribes FROM metrics.profile_days
WHERE day BETWEEN $1 AND $2
ORDER BY profile COLLATE "C", day`

// Activity returns every profile's days from from to to, sorted by profile
// (bytewise) then date.
func (s *Store) Activity(ctx context.Context, from, to time.Time) ([]metrics.ProfileDay, error) {
	rows, _ := s.pool.Query(ctx, activitySQL, from, to)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (metrics.ProfileDay, error) {
		var d metrics.ProfileDay
		err := row.Scan(&d.Profile, &d.Date, &d.Orders, &d.Revenue, &d.Opens, &d.Clicks, &d.Unsubscribes)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list profile days: %w", err)
	}
	return out, nil
}

const profilesSQL = `-- name: CountProfiles
SELECT count(*) FROM metrics.profiles WHERE first_seen < $1`

// Profiles counts the profiles first seen before before.
func (s *Store) Profiles(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, profilesSQL, before).Scan(&n); err != nil {
		return 0, fmt.Errorf("count profiles: %w", err)
	}
	return n, nil
}

const experimentSQL = `-- name: GetExperiment
SELECT holdout_share, update_time FROM metrics.experiments WHERE segment = $1`

// Experiment returns a segment's experiment.
func (s *Store) Experiment(ctx context.Context, segment string) (metrics.Experiment, error) {
	e := metrics.Experiment{Segment: segment}
	err := s.pool.QueryRow(ctx, experimentSQL, segment).Scan(&e.HoldoutShare, &e.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return metrics.Experiment{}, metrics.ErrNoExperiment
	}
	if err != nil {
		return metrics.Experiment{}, fmt.Errorf("get experiment: %w", err)
	}
	e.UpdateTime = e.UpdateTime.UTC()
	return e, nil
}

const putExperimentSQL = `-- name: PutExperiment
INSERT INTO metrics.experiments (segment, holdout_share, update_time) VALUES ($1, $2, $3)
ON CONFLICT (segment) DO UPDATE SET holdout_share = excluded.holdout_share, update_time = excluded.update_time`

// PutExperiment creates or replaces a segment's experiment.
func (s *Store) PutExperiment(ctx context.Context, e metrics.Experiment) error {
	if _, err := s.pool.Exec(ctx, putExperimentSQL, e.Segment, e.HoldoutShare, e.UpdateTime); err != nil {
		return fmt.Errorf("put experiment: %w", err)
	}
	return nil
}

const erasedSQL = `-- name: ErasedProfiles
SELECT hash FROM metrics.erased_profiles WHERE hash = ANY($1::bytea[])`

// withoutErased drops the changes of erased profiles.
func withoutErased(ctx context.Context, tx pgx.Tx, changes []metrics.Change) ([]metrics.Change, error) {
	if len(changes) == 0 {
		return changes, nil
	}
	var keys [][]byte
	for _, c := range changes {
		keys = append(keys, metrics.ErasedKey(c.Profile))
	}
	rows, _ := tx.Query(ctx, erasedSQL, keys)
	found, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("read erased profiles: %w", err)
	}
	if len(found) == 0 {
		return changes, nil
	}
	erased := map[string]bool{}
	for _, h := range found {
		erased[string(h)] = true
	}
	return metrics.WithoutErased(changes, func(p string) bool { return erased[string(metrics.ErasedKey(p))] }), nil
}

// queueActivity queues the writes that add delta's profiles (first seen)
// and their daily activity.
func queueActivity(batch *pgx.Batch, delta metrics.EventDelta) {
	if len(delta.FirstSeen) > 0 {
		profiles := make([]string, 0, len(delta.FirstSeen))
		times := make([]time.Time, 0, len(delta.FirstSeen))
		for p, t := range delta.FirstSeen {
			profiles = append(profiles, p)
			times = append(times, t)
		}
		batch.Queue(seenSQL, profiles, times)
	}
	if n := len(delta.Days); n > 0 {
		var (
			profiles                            = make([]string, n)
			days                                = make([]time.Time, n)
			revenue                             = make([]float64, n)
			orders, opens, clicks, unsubscribes = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		)
		for i, d := range delta.Days {
			profiles[i], days[i], revenue[i] = d.Profile, d.Date, d.Revenue
			orders[i], opens[i], clicks[i], unsubscribes[i] = d.Orders, d.Opens, d.Clicks, d.Unsubscribes
		}
		batch.Queue(addProfileDaysSQL, profiles, days, orders, revenue, opens, clicks, unsubscribes)
	}
}
