package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

var _ event.ProfileChangeStore = (*Store)(nil)

const (
	profileCursorSQL = `-- name: ProfileCursor
SELECT last_seq FROM event.profile_cursor`

	lockProfileCursorSQL = `-- name: LockProfileCursor
SELECT last_seq FROM event.profile_cursor FOR UPDATE`

	setProfileCursorSQL = `-- name: SetProfileCursor
UPDATE event.profile_cursor SET last_seq = $1`

	rekeyEventsSQL = `-- name: RekeyEvents
UPDATE event.events SET profile_id = $2 WHERE profile_id = $1`

	// moveBackSQL gives back to the restored profile $2 the events of the
	// survivor $1 that carry one of the identifiers $3 and none of $4
	// (event.Unmerge.MovesBack).
	moveBackSQL = `-- name: MoveEventsBack
UPDATE event.events e SET profile_id = $2
WHERE e.profile_id = $1
	AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.identifiers) x JOIN jsonb_array_elements($3::jsonb) m ON x = m)
	AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(e.identifiers) x JOIN jsonb_array_elements($4::jsonb) k ON x = k)`

	// redirectSQL points the merged profile $1, and every profile merged
	// into it before, at the survivor $2, for appends resolved before the
	// merge (see Append).
	redirectSQL = `-- name: RedirectProfile
WITH moved AS (
	UPDATE event.profile_redirects SET to_id = $2 WHERE to_id = $1
)
INSERT INTO event.profile_redirects (from_id, to_id) VALUES ($1, $2)
ON CONFLICT (from_id) DO UPDATE SET to_id = excluded.to_id`

	// eraseProfilesSQL records the erased profile $1, and every profile
	// merged into it before, as hashes in event.erased_profiles; it runs
	// before unredirectSQL forgets the merged ones.
	eraseProfilesSQL = `-- name: EraseProfiles
INSERT INTO event.erased_profiles (hash)
SELECT sha256(convert_to(id, 'UTF8')) FROM (
	SELECT $1::text AS id
	UNION SELECT from_id FROM event.profile_redirects WHERE to_id = $1
) AS erased
ON CONFLICT DO NOTHING`

	// recordUnmergeSQL keeps the unmerge $1 of $3 out of $2, with the
	// hashes of the identifiers moved back ($4) and kept ($5), for appends
	// resolved before it (see unmergesSQL).
	recordUnmergeSQL = `-- name: RecordUnmerge
INSERT INTO event.profile_unmerges (seq, survivor, restored, moved, kept) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (seq) DO NOTHING`

	lastUnmergeSQL = `-- name: SetLastUnmerge
UPDATE event.log_head SET last_unmerge = GREATEST(last_unmerge, $1)`

	unredirectSQL = `-- name: UnredirectProfile
DELETE FROM event.profile_redirects WHERE from_id = $1 OR to_id = $1`

	// deleteMessageIDsSQL deletes the message ids of the profile's events;
	// it runs before deleteEventsSQL.
	deleteMessageIDsSQL = `-- name: DeleteProfileMessageIDs
DELETE FROM event.message_ids WHERE message_id IN (SELECT message_id FROM event.events WHERE profile_id = $1)`

	deleteEventsSQL = `-- name: DeleteProfileEvents
DELETE FROM event.events WHERE profile_id = $1`

	// redactUpdatesSQL drops the consents (their sources may name the
	// person) from the markers of the erased profile $1 and of every
	// profile merged into it, directly or not, as earlier markers tell.
	redactUpdatesSQL = `-- name: RedactProfileUpdates
WITH RECURSIVE tree (id) AS (
	SELECT $1::text
	UNION
	SELECT u.profiles[2] FROM event.profile_updates u JOIN tree ON u.profiles[1] = tree.id WHERE u.kind = 1
)
UPDATE event.profile_updates SET consents = NULL
WHERE consents IS NOT NULL AND profiles && ARRAY(SELECT id FROM tree)`

	insertUpdateSQL = `-- name: InsertProfileUpdate
INSERT INTO event.profile_updates (seq, kind, profiles, consents, update_time) VALUES ($1, $2, $3, $4, $5)`

	readUpdatesAfterSQL = `-- name: ReadProfileUpdatesAfter
SELECT seq, kind, profiles, consents, update_time FROM event.profile_updates WHERE seq > $1 ORDER BY seq LIMIT $2`
)

// ProfileCursor implements event.ProfileChangeStore.
func (s *Store) ProfileCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, profileCursorSQL).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read profile change cursor: %w", err)
	}
	return seq, nil
}

// ApplyProfileChange implements event.ProfileChangeStore. It locks the
// cursor row, then takes the log_head lock before touching any event, as
// Append does, so that it and appends wait on one lock and never on each
// other's rows; events appended before it are re-keyed by it, and appends
// after it see its result.
func (s *Store) ApplyProfileChange(ctx context.Context, c event.ProfileChange) (bool, error) {
	applied := false
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		applied = false
		var cursor int64
		if err := tx.QueryRow(ctx, lockProfileCursorSQL).Scan(&cursor); err != nil {
			return fmt.Errorf("lock profile change cursor: %w", err)
		}
		if c.Seq <= cursor {
			return nil
		}
		var seq int64
		if err := tx.QueryRow(ctx, reserveSQL, 1).Scan(&seq, nil); err != nil {
			return fmt.Errorf("reserve sequence: %w", err)
		}
		b := &pgx.Batch{}
		switch c.Kind {
		case event.UpdateMerged:
			b.Queue(rekeyEventsSQL, c.Other, c.Profile)
			b.Queue(redirectSQL, c.Other, c.Profile)
		case event.UpdateUnmerged:
			moved, err := json.Marshal(nonNil(c.Identifiers))
			if err != nil {
				return err
			}
			kept, err := json.Marshal(nonNil(c.Kept))
			if err != nil {
				return err
			}
			b.Queue(moveBackSQL, c.Profile, c.Other, moved, kept)
			b.Queue(unredirectSQL, c.Other)
			b.Queue(recordUnmergeSQL, c.Seq, c.Profile, c.Other, hashes(c.Identifiers), hashes(c.Kept))
			b.Queue(lastUnmergeSQL, c.Seq)
		case event.UpdateErased:
			b.Queue(deleteMessageIDsSQL, c.Profile)
			b.Queue(deleteEventsSQL, c.Profile)
			b.Queue(redactUpdatesSQL, c.Profile)
			b.Queue(eraseProfilesSQL, c.Profile)
			b.Queue(unredirectSQL, c.Profile)
		}
		u := c.Marker()
		var consents []byte
		if u.Consents != nil {
			var err error
			if consents, err = json.Marshal(u.Consents); err != nil {
				return err
			}
		}
		b.Queue(insertUpdateSQL, seq, int16(u.Kind), u.Profiles, consents, u.Time)
		b.Queue(setProfileCursorSQL, c.Seq)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("apply profile change %d: %w", c.Seq, err)
		}
		applied = true
		return nil
	})
	return applied, err
}

// hashes are the event.IdentifierHash of ids.
func hashes(ids []event.Identifier) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h := event.IdentifierHash(id)
		out[i] = h[:]
	}
	return out
}

func nonNil(ids []event.Identifier) []event.Identifier {
	if ids == nil {
		return []event.Identifier{}
	}
	return ids
}

// readLogSQL reads the log after a cursor: events and markers merged by
// sequence, in one statement and so from one snapshot (an entry committed
// between two reads could otherwise be seen while a smaller one committed
// before it is not).
const readLogSQL = `-- name: ReadLogAfter
(SELECT ` + columns + `, NULL::smallint AS kind, NULL::text[] AS profiles, NULL::jsonb AS consents, NULL::timestamptz AS update_time
	FROM event.events WHERE seq > $1 ORDER BY seq LIMIT $2)
UNION ALL
(SELECT seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, kind, profiles, consents, update_time
	FROM event.profile_updates WHERE seq > $1 ORDER BY seq LIMIT $2)
ORDER BY seq
LIMIT $2`

// readAfter returns at most limit log entries after the position after.
func readAfter(ctx context.Context, q querier, after int64, limit int) ([]event.Event, error) {
	rows, err := q.Query(ctx, readLogSQL, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (event.Event, error) {
		var (
			ev                 event.Event
			messageID, profile *string
			name               *string
			typ, kind          *int16
			occurred, received *time.Time
			profiles           []string
			consents           []event.Consent
			updated            *time.Time
		)
		if err := row.Scan(&ev.Seq, &messageID, &profile, &typ, &name, (*identifiersColumn)(&ev.Identifiers),
			rawJSON(&ev.Properties), rawJSON(&ev.Traits), rawJSON(&ev.Context),
			&occurred, &received, (*traceContextColumn)(&ev.TraceContext), &kind, &profiles, &consents, &updated); err != nil {
			return ev, err
		}
		if kind != nil {
			u := &event.ProfileUpdate{Kind: event.UpdateKind(*kind), Profiles: profiles, Consents: consents}
			if updated != nil {
				u.Time = updated.UTC()
			}
			for i := range u.Consents {
				u.Consents[i].Time = u.Consents[i].Time.UTC()
			}
			return event.Event{Seq: ev.Seq, Update: u}, nil
		}
		ev.MessageID, ev.ProfileID, ev.Name, ev.Type = *messageID, *profile, *name, event.Type(*typ)
		ev.OccurredAt, ev.ReceivedAt = occurred.UTC(), received.UTC()
		return ev, nil
	})
}
