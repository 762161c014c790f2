package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

const (
	// claimNoticesSQL hands out sequence numbers; the row lock it takes is
	// held until commit, which makes the change log commit in order.
	claimNoticesSQL = `-- name: ClaimNotices
UPDATE profile.notice_head SET last_seq = last_seq + $1 WHERE id RETURNING last_seq`

	insertNoticesSQL = `-- name: InsertNotices
INSERT INTO profile.notices (seq, kind, notice_time, profile_id, other_id, identifiers, kept, rule, consents)
SELECT u.seq, u.kind, u.notice_time, u.profile_id::uuid, NULLIF(u.other_id, '')::uuid, u.identifiers, u.kept, u.rule, u.consents
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::jsonb[])
	AS u(seq, kind, notice_time, profile_id, other_id, identifiers, kept, rule, consents)`

	listNoticesSQL = `-- name: ListNotices
SELECT seq, kind, notice_time, profile_id::text, COALESCE(other_id::text, ''), identifiers, kept, rule, consents
FROM profile.notices
WHERE seq > $1
ORDER BY seq
LIMIT $2`

	redactNoticesSQL = `-- name: RedactNotices
UPDATE profile.notices SET identifiers = '[]', kept = '[]', consents = '[]'
WHERE profile_id = ANY($1::text[]::uuid[]) OR other_id = ANY($1::text[]::uuid[])`
)

// consentJSON is the stored form of a consent in a notice.
type consentJSON struct {
	Purpose string    `json:"p"`
	Granted bool      `json:"g"`
	Source  string    `json:"s"`
	Time    time.Time `json:"t"`
}

// appendNotices appends notices to the change log in tx, numbering them
// after the last committed notice. Every change that other services must
// learn of calls it in the transaction that makes the change; the lock it
// takes on notice_head is the last lock such a transaction takes, so it
// adds no lock-order cycle.
func appendNotices(ctx context.Context, tx pgx.Tx, notices ...profile.Notice) error {
	if len(notices) == 0 {
		return nil
	}
	var last int64
	if err := tx.QueryRow(ctx, claimNoticesSQL, len(notices)).Scan(&last); err != nil {
		return fmt.Errorf("claim change log sequence: %w", err)
	}
	n := len(notices)
	seqs, kinds, times := make([]int64, n), make([]string, n), make([]time.Time, n)
	profiles, others, rules := make([]string, n), make([]string, n), make([]string, n)
	ids, kept, consents := make([][][2]string, n), make([][][2]string, n), make([][]consentJSON, n)
	for i, nt := range notices {
		seqs[i] = last - int64(n) + int64(i) + 1
		kinds[i], times[i], profiles[i], others[i], rules[i] = nt.Kind.String(), nt.Time, nt.Profile, nt.Other, nt.Rule
		ids[i], kept[i] = pairs(nt.Identifiers), pairs(nt.Kept)
		consents[i] = make([]consentJSON, len(nt.Consents))
		for j, c := range nt.Consents {
			consents[i][j] = consentJSON{Purpose: c.Purpose, Granted: c.Granted, Source: c.Source, Time: c.Time}
		}
	}
	if _, err := tx.Exec(ctx, insertNoticesSQL, seqs, kinds, times, profiles, others, ids, kept, rules, consents); err != nil {
		return fmt.Errorf("append to change log: %w", err)
	}
	return nil
}

// consentNotice returns a NoticeConsent with the consents of the live
// profile id as of tx, or false when it has none.
func consentNotice(ctx context.Context, tx pgx.Tx, id string, at time.Time) (profile.Notice, bool, error) {
	consents, err := readConsents(ctx, tx, id)
	if err != nil || len(consents) == 0 {
		return profile.Notice{}, false, err
	}
	return profile.Notice{Kind: profile.NoticeConsent, Time: at, Profile: id, Consents: consents}, true, nil
}

// redactNotices drops the identifiers and consents (whose sources may name
// the person) from every notice about one of ids, for an erasure, in tx.
func redactNotices(ctx context.Context, tx pgx.Tx, ids []string) error {
	if _, err := tx.Exec(ctx, redactNoticesSQL, ids); err != nil {
		return fmt.Errorf("redact change log: %w", err)
	}
	return nil
}

// Notices returns the change log after the position after. Entries are
// committed in sequence order (see appendNotices), so a reader never skips
// one that commits later.
func (s *Store) Notices(ctx context.Context, after int64, limit int) ([]profile.Notice, error) {
	rows, err := s.pool.Query(ctx, listNoticesSQL, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	notices, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (profile.Notice, error) {
		var (
			n         profile.Notice
			kind      string
			ids, kept [][2]string
			consents  []consentJSON
		)
		if err := row.Scan(&n.Seq, &kind, &n.Time, &n.Profile, &n.Other, &ids, &kept, &n.Rule, &consents); err != nil {
			return n, err
		}
		n.Kind = profile.ParseNoticeKind(kind)
		n.Time = n.Time.UTC()
		if len(ids) > 0 {
			n.Identifiers = unpair(ids)
		}
		if len(kept) > 0 {
			n.Kept = unpair(kept)
		}
		for _, c := range consents {
			n.Consents = append(n.Consents, profile.Consent{Purpose: c.Purpose, Granted: c.Granted, Source: c.Source, Time: c.Time.UTC()})
		}
		return n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	return notices, nil
}

// announceMerges appends a NoticeMerged for each merge of change, and a
// NoticeConsent for the survivor when a merged profile brought consents.
func announceMerges(ctx context.Context, tx pgx.Tx, change profile.Change) error {
	u := change.Update
	if u == nil || len(u.Merges) == 0 {
		return nil
	}
	var notices []profile.Notice
	consented := false
	for _, m := range u.Merges {
		notices = append(notices, profile.Notice{Kind: profile.NoticeMerged, Time: m.Time, Profile: u.ProfileID, Other: m.Merged,
			Identifiers: m.Identifiers, Rule: m.Rule})
		mc, err := readConsents(ctx, tx, m.Merged)
		if err != nil {
			return err
		}
		consented = consented || len(mc) > 0
	}
	if consented {
		n, ok, err := consentNotice(ctx, tx, u.ProfileID, u.Time)
		if err != nil {
			return err
		}
		if ok {
			notices = append(notices, n)
		}
	}
	return appendNotices(ctx, tx, notices...)
}

// announceUnmerge appends the NoticeUnmerged of sp, which split restored
// out of survivor, and a NoticeConsent for each of the two that has
// consents.
func announceUnmerge(ctx context.Context, tx pgx.Tx, survivor profile.Profile, restored string, sp profile.Split) error {
	moved := map[profile.Identifier]bool{}
	for _, id := range sp.Move {
		moved[id] = true
	}
	var kept []profile.Identifier
	for _, id := range survivor.Identifiers {
		if !moved[id] {
			kept = append(kept, id)
		}
	}
	slices.SortFunc(kept, profile.Compare)
	notices := []profile.Notice{{Kind: profile.NoticeUnmerged, Time: sp.Time, Profile: survivor.ID, Other: restored,
		Identifiers: sp.Move, Kept: kept}}
	for _, id := range []string{survivor.ID, restored} {
		n, ok, err := consentNotice(ctx, tx, id, sp.Time)
		if err != nil {
			return err
		}
		if ok {
			notices = append(notices, n)
		}
	}
	return appendNotices(ctx, tx, notices...)
}

const liveRootSQL = `-- name: LiveRoot
WITH RECURSIVE chain (id, merged_into) AS (
	SELECT id, merged_into FROM profile.profiles WHERE id = $1::text::uuid
	UNION ALL
	SELECT p.id, p.merged_into FROM profile.profiles p JOIN chain c ON p.id = c.merged_into
)
SELECT id::text FROM chain WHERE merged_into IS NULL`

// announceConsents appends a NoticeConsent with the consents, after the
// change, of the live profile that id is or was merged into. Its time is
// the latest of the answers given.
func announceConsents(ctx context.Context, tx pgx.Tx, id string, given []profile.Consent) error {
	var root string
	if err := tx.QueryRow(ctx, liveRootSQL, id).Scan(&root); err != nil {
		return fmt.Errorf("find live profile: %w", err)
	}
	var at time.Time
	for _, c := range given {
		if c.Time.After(at) {
			at = c.Time
		}
	}
	n, ok, err := consentNotice(ctx, tx, root, at)
	if err != nil || !ok {
		return err
	}
	return appendNotices(ctx, tx, n)
}
