package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

const (
	suppressionKeySQL = `-- name: SuppressionKey
SELECT value FROM profile.secrets WHERE name = 'suppression_key'`

	suppressedSQL = `-- name: Suppressed
SELECT hash FROM profile.suppressions WHERE hash = ANY($1::bytea[])`

	// treeSQL returns the live profile that $1 is or was merged into, then
	// the profiles merged into it, directly or not, in id order.
	treeSQL = `-- name: ProfileTree
WITH RECURSIVE chain (id, merged_into) AS (
	SELECT id, merged_into FROM profile.profiles WHERE id = $1::text::uuid
	UNION ALL
	SELECT p.id, p.merged_into FROM profile.profiles p JOIN chain c ON p.id = c.merged_into
), tree (id, depth) AS (
	SELECT id, 0 FROM chain WHERE merged_into IS NULL
	UNION ALL
	SELECT p.id, 1 FROM profile.profiles p JOIN tree t ON p.merged_into = t.id
)
SELECT id::text FROM tree ORDER BY depth, id`

	lockTreeSQL = `-- name: LockProfileTree
SELECT id::text, merged_into IS NULL FROM profile.profiles WHERE id = ANY($1::text[]::uuid[]) ORDER BY id FOR UPDATE`

	eraseIdentifiersSQL = `-- name: EraseIdentifiers
DELETE FROM profile.identifiers WHERE profile_id = ANY($1::text[]::uuid[]) RETURNING type, value`

	suppressSQL = `-- name: Suppress
INSERT INTO profile.suppressions (hash, suppress_time) SELECT h, $2 FROM unnest($1::bytea[]) AS u(h)
ON CONFLICT (hash) DO NOTHING`

	eraseConsentsSQL = `-- name: EraseConsents
DELETE FROM profile.consents WHERE profile_id = ANY($1::text[]::uuid[])`

	eraseMergesSQL = `-- name: EraseMerges
DELETE FROM profile.merges WHERE survivor_id = ANY($1::text[]::uuid[]) OR merged_id = ANY($1::text[]::uuid[])`

	// scrubMergesSQL removes erased identifiers ($1, as JSON pairs) from
	// the merge log entries of other profiles. Erasures are rare, so the
	// scan of the merge log is affordable.
	scrubMergesSQL = `-- name: ScrubMerges
UPDATE profile.merges SET
	identifiers = (SELECT COALESCE(jsonb_agg(e ORDER BY n), '[]') FROM jsonb_array_elements(identifiers) WITH ORDINALITY AS x(e, n)
		WHERE NOT e = ANY($1::text[]::jsonb[])),
	trigger = (SELECT COALESCE(jsonb_agg(e ORDER BY n), '[]') FROM jsonb_array_elements(trigger) WITH ORDINALITY AS x(e, n)
		WHERE NOT e = ANY($1::text[]::jsonb[]))
WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(identifiers || trigger) AS e WHERE e = ANY($1::text[]::jsonb[]))`

	eraseProfilesSQL = `-- name: EraseProfiles
DELETE FROM profile.profiles WHERE id = ANY($1::text[]::uuid[])`

	recordErasureSQL = `-- name: RecordErasure
INSERT INTO profile.erasures (erase_time, profiles, identifiers, consents, merges) VALUES ($1, $2, $3, $4, $5)`

	treeConsentsSQL = `-- name: TreeConsents
SELECT profile_id::text, purpose, granted, source, consent_time FROM profile.consents
WHERE profile_id = ANY($1::text[]::uuid[])
ORDER BY array_position($1::text[], profile_id::text), purpose`
)

// SuppressionKey returns the secret made by the migration that created the
// suppression list.
func (s *Store) SuppressionKey(ctx context.Context) ([]byte, error) {
	var key []byte
	if err := s.pool.QueryRow(ctx, suppressionKeySQL).Scan(&key); err != nil {
		return nil, fmt.Errorf("read suppression key: %w", err)
	}
	return key, nil
}

// Suppressed returns which of hashes are suppressed, in one statement.
func (s *Store) Suppressed(ctx context.Context, hashes [][]byte) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, suppressedSQL, hashes)
	if err != nil {
		return nil, fmt.Errorf("read suppressions: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("read suppressions: %w", err)
	}
	out := make(map[string]bool, len(found))
	for _, h := range found {
		out[string(h)] = true
	}
	return out, nil
}

// errTreeChanged makes Erase start over: the tree changed between reading
// and locking it.
var errTreeChanged = errors.New("profile tree changed while it was locked")

// Erase deletes the person in one transaction, retrying transactions that
// lost a race.
func (s *Store) Erase(ctx context.Context, id string, at time.Time, hash func(profile.Identifier) []byte) (profile.Erasure, error) {
	if uuid.Validate(id) != nil {
		return profile.Erasure{}, profile.ErrNotFound
	}
	for attempt := 1; ; attempt++ {
		var e profile.Erasure
		err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			e, err = erase(ctx, tx, id, at, hash)
			return err
		})
		if err == nil || attempt == maxAttempts || !(retryable(err) || errors.Is(err, errTreeChanged)) {
			return e, err
		}
	}
}

func erase(ctx context.Context, tx pgx.Tx, id string, at time.Time, hash func(profile.Identifier) []byte) (profile.Erasure, error) {
	tree, err := readTree(ctx, tx, id)
	if err != nil {
		return profile.Erasure{}, err
	}
	// Lock the tree, then read it again: a merge into it or of its root
	// elsewhere, committed meanwhile, changes it, and the erasure starts
	// over.
	rows, err := tx.Query(ctx, lockTreeSQL, tree)
	if err != nil {
		return profile.Erasure{}, fmt.Errorf("lock profiles: %w", err)
	}
	if _, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var (
			pid  string
			live bool
		)
		err := row.Scan(&pid, &live)
		return pid, err
	}); err != nil {
		return profile.Erasure{}, fmt.Errorf("lock profiles: %w", err)
	}
	again, err := readTree(ctx, tx, id)
	if err != nil {
		return profile.Erasure{}, err
	}
	if !slices.Equal(tree, again) {
		return profile.Erasure{}, errTreeChanged
	}
	e := profile.Erasure{Profile: tree[0], Profiles: tree, Time: at}

	rows, err = tx.Query(ctx, eraseIdentifiersSQL, tree)
	if err != nil {
		return e, fmt.Errorf("erase identifiers: %w", err)
	}
	if e.Identifiers, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (profile.Identifier, error) {
		var x profile.Identifier
		err := row.Scan(&x.Type, &x.Value)
		return x, err
	}); err != nil {
		return e, fmt.Errorf("erase identifiers: %w", err)
	}
	hashes := make([][]byte, len(e.Identifiers))
	pairsJSON := make([]string, len(e.Identifiers))
	for i, x := range e.Identifiers {
		hashes[i] = hash(x)
		raw, err := json.Marshal([2]string{x.Type, x.Value})
		if err != nil {
			return e, err
		}
		pairsJSON[i] = string(raw)
	}

	b := &pgx.Batch{}
	b.Queue(suppressSQL, hashes, at)
	b.Queue(eraseConsentsSQL, tree)
	b.Queue(eraseMergesSQL, tree)
	b.Queue(scrubMergesSQL, pairsJSON)
	// The matching signals hold names, postcodes, addresses and devices.
	b.Queue(deleteMatchDataSQL, tree)
	b.Queue(eraseProfilesSQL, tree)
	results := tx.SendBatch(ctx, b)
	var counts [6]int64
	for i := range counts {
		tag, err := results.Exec()
		if err != nil {
			results.Close()
			return e, fmt.Errorf("erase profile: %w", err)
		}
		counts[i] = tag.RowsAffected()
	}
	if err := results.Close(); err != nil {
		return e, fmt.Errorf("erase profile: %w", err)
	}
	e.Consents, e.Merges, e.MergesScrubbed = int(counts[1]), int(counts[2]), int(counts[3])
	if _, err := tx.Exec(ctx, recordErasureSQL, at, len(tree), len(e.Identifiers), e.Consents, e.Merges); err != nil {
		return e, fmt.Errorf("record erasure: %w", err)
	}
	if err := appendNotices(ctx, tx, profile.Notice{Kind: profile.NoticeErased, Profile: e.Profile, Time: at}); err != nil {
		return e, err
	}
	return e, redactNotices(ctx, tx, tree)
}

// readTree returns the ids of the live profile that id is or was merged
// into and of the profiles merged into it, live first; it wraps
// ErrNotFound for unknown ids.
func readTree(ctx context.Context, q querier, id string) ([]string, error) {
	rows, err := q.Query(ctx, treeSQL, id)
	if err != nil {
		return nil, fmt.Errorf("read profile tree: %w", err)
	}
	tree, err := pgx.CollectRows(rows, pgx.RowTo[string])
	switch {
	case err != nil:
		return nil, fmt.Errorf("read profile tree: %w", err)
	case len(tree) == 0:
		return nil, profile.ErrNotFound
	}
	return tree, nil
}

// Tree returns the live profile that id is or was merged into, the
// profiles merged into it and their recorded consents, from one snapshot.
func (s *Store) Tree(ctx context.Context, id string) (profile.Profile, []profile.Profile, []profile.RecordedConsent, error) {
	if uuid.Validate(id) != nil {
		return profile.Profile{}, nil, nil, profile.ErrNotFound
	}
	var (
		root     profile.Profile
		merged   []profile.Profile
		consents []profile.RecordedConsent
	)
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"); err != nil {
			return err
		}
		tree, err := readTree(ctx, tx, id)
		if err != nil {
			return err
		}
		for i, pid := range tree {
			p, err := oneProfile(ctx, tx, rawProfileSQL, pid)
			if err != nil {
				return err
			}
			if i == 0 {
				root = p
			} else {
				merged = append(merged, p)
			}
		}
		rows, err := tx.Query(ctx, treeConsentsSQL, tree)
		if err != nil {
			return fmt.Errorf("read consents: %w", err)
		}
		consents, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (profile.RecordedConsent, error) {
			var c profile.RecordedConsent
			err := row.Scan(&c.Profile, &c.Purpose, &c.Granted, &c.Source, &c.Time)
			c.Time = c.Time.UTC()
			return c, err
		})
		if err != nil {
			return fmt.Errorf("read consents: %w", err)
		}
		return nil
	})
	return root, merged, consents, err
}
