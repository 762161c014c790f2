package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

var _ metrics.ProfileStore = (*Store)(nil)

const (
	deleteProfileDaysSQL = `-- name: DeleteProfileDays
DELETE FROM metrics.profile_days WHERE profile = ANY($1::text[])`

	deleteProfilesSQL = `-- name: DeleteProfiles
DELETE FROM metrics.profiles WHERE profile = ANY($1::text[])`

	addErasedSQL = `-- name: AddErasedProfiles
INSERT INTO metrics.erased_profiles (hash) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING`
	eraseMembershipChangesSQL = `-- name: EraseMembershipChanges
DELETE FROM metrics.membership_changes WHERE profile = ANY($1::text[])`
)

// RewriteProfiles applies a marker in one transaction, with the event
// feed's cursor locked as ApplyEvents locks it.
func (s *Store) RewriteProfiles(ctx context.Context, r metrics.ProfileRewrite) (bool, error) {
	applied := false
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		applied = false
		var stored int64
		if err := tx.QueryRow(ctx, lockCursorSQL, eventFeed).Scan(&stored); err != nil {
			return fmt.Errorf("lock event feed cursor: %w", err)
		}
		if r.Seq <= stored {
			return nil
		}
		var batch pgx.Batch
		gone := append(append([]string{}, r.Delete...), r.Erase...)
		if len(gone) > 0 {
			batch.Queue(deleteProfileDaysSQL, gone)
			batch.Queue(deleteProfilesSQL, gone)
		}
		if len(r.Erase) > 0 {
			batch.Queue(eraseMembershipChangesSQL, r.Erase)
			keys := make([][]byte, len(r.Erase))
			for i, p := range r.Erase {
				keys[i] = metrics.ErasedKey(p)
			}
			batch.Queue(addErasedSQL, keys)
		}
		var rebuilt []string
		var events []metrics.Event
		for p, evs := range r.Rebuild {
			rebuilt = append(rebuilt, p)
			for _, ev := range evs {
				ev.Profile = p
				events = append(events, ev)
			}
		}
		if len(rebuilt) > 0 {
			batch.Queue(deleteProfileDaysSQL, rebuilt)
		}
		delta := metrics.SummarizeEvents(events)
		queueActivity(&batch, delta)
		batch.Queue(setCursorSQL, eventFeed, r.Seq)
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("rewrite profiles at %d: %w", r.Seq, err)
		}
		applied = true
		return nil
	})
	return applied, err
}
