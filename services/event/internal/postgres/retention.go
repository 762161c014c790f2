package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

var _ event.RetentionStore = (*Store)(nil)

const (
	// partitionsSQL lists the monthly partitions of event.events.
	partitionsSQL = `-- name: ListEventsPartitions
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'event.events'::regclass AND c.relname ~ '^events_p[0-9]{6}$'
ORDER BY c.relname`

	// retentionLockSQL keeps two replicas from applying the policy at once.
	retentionLockSQL = `-- name: LockRetention
SELECT pg_advisory_xact_lock(hashtext('event.retention'))`

	deleteExpiredMessageIDsSQL = `-- name: DeleteExpiredMessageIDs
DELETE FROM event.message_ids WHERE received_at < $1`

	deleteMonthMessageIDsSQL = `-- name: DeleteMonthMessageIDs
DELETE FROM event.message_ids WHERE received_at >= $1 AND received_at < $2`

	deleteExpiredEventsSQL = `-- name: DeleteExpiredEvents
DELETE FROM event.events WHERE received_at < $1`

	anonymizedBeforeSQL = `-- name: AnonymizedBefore
SELECT anonymized_before FROM event.retention WHERE id FOR UPDATE`

	// anonymizeSQL anonymizes, as event.Anonymize does, the events received
	// from $4 (the previous run's cutoff) to $1: $2 are the context keys
	// kept, $3 the personal property keys dropped.
	anonymizeSQL = `-- name: AnonymizeEvents
WITH anonymized AS (
	UPDATE event.events e SET
		profile_id = '',
		identifiers = '[]',
		traits = NULL,
		context = (SELECT jsonb_object_agg(k, v) FROM jsonb_each(e.context) AS c(k, v) WHERE k = ANY($2::text[])),
		properties = (SELECT jsonb_object_agg(k, v) FROM jsonb_each(e.properties) AS p(k, v)
			WHERE NOT lower(k) = ANY($3::text[])
			AND NOT (jsonb_typeof(v) = 'string'
				AND lower(v #>> '{}') IN (SELECT lower(i ->> 'value') FROM jsonb_array_elements(e.identifiers) AS i)))
	WHERE e.received_at >= $4 AND e.received_at < $1 AND e.profile_id <> ''
	RETURNING 1
)
SELECT count(*) FROM anonymized`

	setAnonymizedBeforeSQL = `-- name: SetAnonymizedBefore
UPDATE event.retention SET anonymized_before = $1 WHERE id AND anonymized_before < $1`
)

// DeleteBefore drops the monthly partitions received entirely before
// cutoff, each with its message ids, and deletes the older rows of the
// partition cutoff falls in and of the DEFAULT partition. Dropping a
// partition costs no more than its catalog entry, however many events it
// holds; each drop is its own short transaction, since it locks the whole
// events table against appends until it commits.
func (s *Store) DeleteBefore(ctx context.Context, cutoff time.Time) (event.RetentionResult, error) {
	var res event.RetentionResult
	rows, err := s.pool.Query(ctx, partitionsSQL)
	if err != nil {
		return res, fmt.Errorf("list partitions: %w", err)
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return res, fmt.Errorf("list partitions: %w", err)
	}
	for _, part := range parts {
		start, err := time.Parse("200601", part[len("events_p"):])
		if err != nil {
			return res, fmt.Errorf("partition %s: %w", part, err)
		}
		end := start.AddDate(0, 1, 0)
		if end.After(cutoff) {
			continue
		}
		var n int64
		err = pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, retentionLockSQL); err != nil {
				return fmt.Errorf("lock retention: %w", err)
			}
			table := "event." + pgx.Identifier{part}.Sanitize()
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				return fmt.Errorf("count partition %s: %w", part, err)
			}
			if _, err := tx.Exec(ctx, "DROP TABLE "+table); err != nil {
				return fmt.Errorf("drop partition %s: %w", part, err)
			}
			if _, err := tx.Exec(ctx, deleteMonthMessageIDsSQL, start, end); err != nil {
				return fmt.Errorf("delete message ids: %w", err)
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		// A dropped month is made again should an event ever be received
		// in it.
		s.mu.Lock()
		delete(s.months, monthOf(start))
		s.mu.Unlock()
		res.Deleted += n
		res.DroppedPartitions = append(res.DroppedPartitions, part)
	}
	err = pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, retentionLockSQL); err != nil {
			return fmt.Errorf("lock retention: %w", err)
		}
		tag, err := tx.Exec(ctx, deleteExpiredEventsSQL, cutoff)
		if err != nil {
			return fmt.Errorf("delete events: %w", err)
		}
		res.Deleted += tag.RowsAffected()
		if _, err := tx.Exec(ctx, deleteExpiredMessageIDsSQL, cutoff); err != nil {
			return fmt.Errorf("delete message ids: %w", err)
		}
		return nil
	})
	return res, err
}

// AnonymizeBefore anonymizes the events received since the previous run's
// cutoff and before cutoff, in one statement, and moves the mark.
func (s *Store) AnonymizeBefore(ctx context.Context, cutoff time.Time) (event.RetentionResult, error) {
	res := event.RetentionResult{}
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var from time.Time
		if err := tx.QueryRow(ctx, anonymizedBeforeSQL).Scan(&from); err != nil {
			return fmt.Errorf("read retention mark: %w", err)
		}
		if !from.Before(cutoff) {
			return nil
		}
		err := tx.QueryRow(ctx, anonymizeSQL, cutoff, event.KeptContextKeys, event.PersonalPropertyKeys, from).Scan(&res.Anonymized)
		if err != nil {
			return fmt.Errorf("anonymize events: %w", err)
		}
		if _, err := tx.Exec(ctx, setAnonymizedBeforeSQL, cutoff); err != nil {
			return fmt.Errorf("move retention mark: %w", err)
		}
		return nil
	})
	return res, err
}
