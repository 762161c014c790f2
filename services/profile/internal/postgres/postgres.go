// Package postgres is the profile Store on Postgres (pgx/v5), in the
// "profile" schema created by the service's migrations.
//
// Resolve is serialized per identifier and per profile, not globally: a
// transaction takes a transaction-scoped advisory lock on a hash of each
// requested identifier, in sorted order, and then row locks on the profiles
// that hold them, in id order. The advisory locks make two callers that see
// the same new identifier take turns, so the second finds the profile the
// first created (the primary key on (type, value) backs this up); the row
// locks keep a profile from being linked to and merged away at the same
// time. Locks are always taken identifiers first, then profiles, each in
// sorted order, so transactions do not deadlock on them; the rare deadlock
// that remains (a profile merged away while a transaction waited for it, so
// that it must lock the survivor out of order) is detected by Postgres and
// the transaction retried.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// maxAttempts bounds how often Resolve runs a transaction that failed on a
// deadlock, a serialization failure or a unique violation.
const maxAttempts = 5

// Store is the Postgres profile Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ profile.Store = (*Store)(nil)

// New returns a Store on pool, whose database has the profile migrations
// applied.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// profileColumns selects a profile p with its identifiers, in the order
// scanProfile reads them.
const profileColumns = `p.id::text, p.traits, p.trait_sources, p.create_time, p.update_time,
	COALESCE((SELECT jsonb_agg(jsonb_build_object('t', i.type, 'v', i.value, 'o', i.observe_time, 's', i.shared_time IS NOT NULL))
		FROM profile.identifiers i WHERE i.profile_id = p.id), '[]'::jsonb)`

const holdersSQL = `-- name: Holders
SELECT ` + profileColumns + `
FROM profile.profiles p
WHERE p.id IN (
	SELECT i.profile_id
	FROM profile.identifiers i
	JOIN unnest($1::text[], $2::text[]) AS u(type, value) ON i.type = u.type AND i.value = u.value
)`

// Holders returns the live profiles that hold any of ids, in one statement
// and so from one snapshot.
func (s *Store) Holders(ctx context.Context, ids []profile.Identifier) ([]profile.Profile, error) {
	types, values := split(ids)
	profiles, err := queryProfiles(ctx, s.pool, holdersSQL, types, values)
	if err != nil {
		return nil, fmt.Errorf("read profiles holding identifiers: %w", err)
	}
	return profiles, nil
}

const lockIdentifiersSQL = `-- name: LockIdentifiers
SELECT pg_advisory_xact_lock(u.k) FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, n) ORDER BY u.n`

const lockProfilesSQL = `-- name: LockProfiles
SELECT id FROM profile.profiles WHERE id = ANY($1::text[]::uuid[]) ORDER BY id FOR UPDATE`

// Resolve locks ids and their holders, decides and applies the change in
// one transaction, retrying transactions that lost a race.
func (s *Store) Resolve(ctx context.Context, ids []profile.Identifier, decide func([]profile.Profile) (profile.Change, error)) error {
	types, values := split(ids)
	keys := lockKeys(ids)
	for attempt := 1; ; attempt++ {
		err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockIdentifiersSQL, keys); err != nil {
				return fmt.Errorf("lock identifiers: %w", err)
			}
			holders, err := lockHolders(ctx, tx, types, values)
			if err != nil {
				return err
			}
			change, err := decide(holders)
			if err != nil {
				return err
			}
			return apply(ctx, tx, change)
		})
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
	}
}

// lockHolders row-locks the profiles that hold the identifiers and returns
// them as they are once locked. A profile may be merged away while the
// transaction waits for its lock, handing its identifiers to another
// profile, so the holders are read again after each round of locking until
// every holder is locked.
func lockHolders(ctx context.Context, tx pgx.Tx, types, values []string) ([]profile.Profile, error) {
	locked := map[string]bool{}
	for {
		holders, err := queryProfiles(ctx, tx, holdersSQL, types, values)
		if err != nil {
			return nil, fmt.Errorf("read profiles holding identifiers: %w", err)
		}
		var fresh []string
		for _, p := range holders {
			if !locked[p.ID] {
				fresh = append(fresh, p.ID)
			}
		}
		if len(fresh) == 0 {
			return holders, nil
		}
		slices.Sort(fresh)
		if _, err := tx.Exec(ctx, lockProfilesSQL, fresh); err != nil {
			return nil, fmt.Errorf("lock profiles: %w", err)
		}
		for _, id := range fresh {
			locked[id] = true
		}
	}
}

const (
	linkIdentifiersSQL = `-- name: LinkIdentifiers
INSERT INTO profile.identifiers (type, value, profile_id, observe_time, link_time)
SELECT u.type, u.value, $3::text::uuid, $4, $5 FROM unnest($1::text[], $2::text[]) AS u(type, value)`

	moveIdentifiersSQL = `-- name: MoveIdentifiers
UPDATE profile.identifiers SET profile_id = $1::text::uuid WHERE profile_id = $2::text::uuid`

	markMergedSQL = `-- name: MarkMerged
UPDATE profile.profiles SET merged_into = $1::text::uuid, update_time = $3 WHERE id = $2::text::uuid AND merged_into IS NULL`

	logMergeSQL = `-- name: LogMerge
INSERT INTO profile.merges (survivor_id, merged_id, reason, identifiers, merge_time, observe_time, rule, trigger, survivor_traits,
	survivor_sources)
VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6, $7, $8, $9, $10)`

	shareIdentifiersSQL = `-- name: ShareIdentifiers
UPDATE profile.identifiers i SET shared_time = $3
FROM unnest($1::text[], $2::text[]) AS u(type, value)
WHERE i.type = u.type AND i.value = u.value AND i.shared_time IS NULL`

	updateProfileSQL = `-- name: UpdateProfile
UPDATE profile.profiles SET traits = $2, trait_sources = $4, update_time = $3 WHERE id = $1::text::uuid AND merged_into IS NULL`
)

// apply writes change in one round trip.
func apply(ctx context.Context, tx pgx.Tx, change profile.Change) error {
	var w writes
	if err := w.add(change); err != nil {
		return err
	}
	if err := w.send(ctx, tx); err != nil {
		return err
	}
	return announceMerges(ctx, tx, change)
}

// writes are the statements of changes, sent in one round trip, with the
// number of rows each must affect.
type writes struct {
	b pgx.Batch
	// checks[i] says how many rows statement i must affect; -1 for any.
	checks []int64
	// created are the profiles the queued changes create, written first
	// by send, all in one statement and their identifiers in another:
	// new visitors resolved together are most of a busy store's
	// resolutions, and a statement each cost more than the rows.
	created []created
	// traitChanges are the queued changes' trait history, recorded last
	// by send in one statement, in order.
	traitChanges []profile.TraitChange
}

// created is a profile a change creates, and when its identifiers were
// observed.
type created struct {
	profile *profile.Profile
	observe time.Time
}

// send sends the statements queued, if any, and checks what they changed.
func (w *writes) send(ctx context.Context, tx pgx.Tx) error {
	if len(w.created) > 0 {
		first, checks, err := createStatements(w.created)
		if err != nil {
			return err
		}
		w.b.QueuedQueries = append(first, w.b.QueuedQueries...)
		w.checks = append(checks, w.checks...)
		w.created = nil
	}
	if len(w.traitChanges) > 0 {
		err := queueTraitChanges(func(rows int64, sql string, args ...any) {
			w.b.Queue(sql, args...)
			w.checks = append(w.checks, rows)
		}, w.traitChanges)
		if err != nil {
			return err
		}
		w.traitChanges = nil
	}
	if w.b.Len() == 0 {
		return nil
	}
	return sendChecked(ctx, tx, &w.b, w.checks)
}

const (
	createProfilesSQL = `-- name: CreateProfiles
INSERT INTO profile.profiles (id, traits, trait_sources, create_time, update_time)
SELECT u.id::uuid, u.traits::jsonb, u.sources::jsonb, u.create_time, u.update_time
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(id, traits, sources, create_time, update_time)`

	linkNewIdentifiersSQL = `-- name: LinkNewIdentifiers
INSERT INTO profile.identifiers (type, value, profile_id, observe_time, link_time)
SELECT u.type, u.value, u.profile_id::uuid, u.observe_time, u.link_time
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(type, value, profile_id, observe_time, link_time)`
)

// createStatements returns the statements that write the profiles of
// created and link their identifiers, with the rows each must affect.
func createStatements(created []created) ([]*pgx.QueuedQuery, []int64, error) {
	n := len(created)
	ids, traits, sources := make([]string, n), make([]string, n), make([]string, n)
	createTimes, updateTimes := make([]time.Time, n), make([]time.Time, n)
	var types, values, holders []string
	var observed, linked []time.Time
	for i, c := range created {
		p := c.profile
		t, err := json.Marshal(traitsOrEmpty(p.Traits))
		if err != nil {
			return nil, nil, fmt.Errorf("traits of %s: %w", p.ID, err)
		}
		src, err := json.Marshal(toSourcesJSON(p.Sources))
		if err != nil {
			return nil, nil, fmt.Errorf("trait sources of %s: %w", p.ID, err)
		}
		ids[i], traits[i], sources[i], createTimes[i], updateTimes[i] = p.ID, string(t), string(src), p.CreateTime, p.UpdateTime
		for _, id := range p.Identifiers {
			types, values, holders = append(types, id.Type), append(values, id.Value), append(holders, p.ID)
			observed, linked = append(observed, c.observe), append(linked, p.CreateTime)
		}
	}
	queries := []*pgx.QueuedQuery{{SQL: createProfilesSQL, Arguments: []any{ids, traits, sources, createTimes, updateTimes}}}
	checks := []int64{int64(n)}
	if len(types) > 0 {
		queries = append(queries, &pgx.QueuedQuery{SQL: linkNewIdentifiersSQL, Arguments: []any{types, values, holders, observed, linked}})
		checks = append(checks, int64(len(types)))
	}
	return queries, checks, nil
}

// add queues the statements of change, but for the notices of its merges
// (announceMerges), which read what the statements wrote.
func (w *writes) add(change profile.Change) error {
	queue := func(rows int64, sql string, args ...any) {
		w.b.Queue(sql, args...)
		w.checks = append(w.checks, rows)
	}
	if len(change.Share) > 0 {
		types, values := split(change.Share)
		queue(int64(len(types)), shareIdentifiersSQL, types, values, change.ObserveTime)
	}
	if p := change.Create; p != nil {
		w.created = append(w.created, created{profile: p, observe: change.ObserveTime})
	}
	if u := change.Update; u != nil {
		if len(u.Link) > 0 {
			types, values := split(u.Link)
			queue(int64(len(types)), linkIdentifiersSQL, types, values, u.ProfileID, change.ObserveTime, u.Time)
		}
		for _, m := range u.Merges {
			queue(-1, moveIdentifiersSQL, u.ProfileID, m.Merged)
			queue(1, markMergedSQL, u.ProfileID, m.Merged, m.Time)
			queue(1, logMergeSQL, u.ProfileID, m.Merged, m.Reason, pairs(m.Identifiers), m.Time, m.ObserveTime, m.Rule, pairs(m.Trigger), m.SurvivorTraits,
				sourcesOrNull(m.SurvivorSources))
		}
		queue(1, updateProfileSQL, u.ProfileID, traitsOrEmpty(u.Traits), u.Time, toSourcesJSON(u.Sources))
	}
	w.traitChanges = append(w.traitChanges, change.TraitChanges...)
	return nil
}

// sendChecked sends b in one round trip and checks that statement i
// changed checks[i] rows (any number when -1).
func sendChecked(ctx context.Context, tx pgx.Tx, b *pgx.Batch, checks []int64) error {
	results := tx.SendBatch(ctx, b)
	defer results.Close()
	for i, want := range checks {
		tag, err := results.Exec()
		if err != nil {
			return fmt.Errorf("apply change: %w", err)
		}
		if want >= 0 && tag.RowsAffected() != want {
			return fmt.Errorf("apply change: statement %d changed %d rows, want %d", i, tag.RowsAffected(), want)
		}
	}
	return results.Close()
}

const getProfileSQL = `-- name: GetProfile
WITH RECURSIVE chain (id, merged_into) AS (
	SELECT id, merged_into FROM profile.profiles WHERE id = $1::text::uuid
	UNION ALL
	SELECT p.id, p.merged_into FROM profile.profiles p JOIN chain c ON p.id = c.merged_into
)
SELECT ` + profileColumns + `
FROM profile.profiles p
WHERE p.id = (SELECT id FROM chain WHERE merged_into IS NULL)`

// Get returns the live profile that id is or was merged into.
func (s *Store) Get(ctx context.Context, id string) (profile.Profile, error) {
	if uuid.Validate(id) != nil {
		return profile.Profile{}, profile.ErrNotFound
	}
	return s.one(ctx, getProfileSQL, id)
}

const lookupProfileSQL = `-- name: LookupProfile
SELECT ` + profileColumns + `
FROM profile.profiles p
JOIN profile.identifiers h ON h.profile_id = p.id
WHERE h.type = $1 AND h.value = $2`

// Lookup returns the profile that holds id.
func (s *Store) Lookup(ctx context.Context, id profile.Identifier) (profile.Profile, error) {
	return s.one(ctx, lookupProfileSQL, id.Type, id.Value)
}

func (s *Store) one(ctx context.Context, sql string, args ...any) (profile.Profile, error) {
	return oneProfile(ctx, s.pool, sql, args...)
}

const listProfilesSQL = `-- name: ListProfiles
SELECT ` + profileColumns + `
FROM profile.profiles p
WHERE p.merged_into IS NULL AND p.id > $1::text::uuid
ORDER BY p.id
LIMIT $2`

// List returns live profiles after the id after, in id order.
func (s *Store) List(ctx context.Context, after string, limit int) ([]profile.Profile, error) {
	if after == "" {
		after = uuid.Nil.String()
	} else if err := uuid.Validate(after); err != nil {
		return nil, fmt.Errorf("list profiles after %q: %w", after, err)
	}
	profiles, err := queryProfiles(ctx, s.pool, listProfilesSQL, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	return profiles, nil
}

// mergeColumns selects a merge in the order scanMerge reads them.
const mergeColumns = `id, survivor_id::text, merged_id::text, reason, identifiers, merge_time, observe_time, rule, trigger,
	survivor_traits, survivor_sources, unmerge_time`

const listMergesSQL = `-- name: ListMerges
SELECT ` + mergeColumns + `
FROM profile.merges
WHERE (survivor_id = $1::text::uuid OR merged_id = $1::text::uuid) AND id > $2
ORDER BY id
LIMIT $3`

// Merges returns the merges the profile took part in, oldest first.
func (s *Store) Merges(ctx context.Context, id string, after int64, limit int) ([]profile.Merge, error) {
	if uuid.Validate(id) != nil {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, listMergesSQL, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list merges: %w", err)
	}
	merges, err := pgx.CollectRows(rows, scanMerge)
	if err != nil {
		return nil, fmt.Errorf("list merges: %w", err)
	}
	return merges, nil
}

func scanMerge(row pgx.CollectableRow) (profile.Merge, error) {
	var (
		m            profile.Merge
		ids, trigger [][2]string
		unmerged     *time.Time
		sources      map[string]sourceJSON
	)
	if err := row.Scan(&m.Seq, &m.Survivor, &m.Merged, &m.Reason, &ids, &m.Time, &m.ObserveTime, &m.Rule, &trigger,
		&m.SurvivorTraits, &sources, &unmerged); err != nil {
		return m, err
	}
	if sources != nil {
		m.SurvivorSources = fromSourcesJSON(sources)
		if m.SurvivorSources == nil {
			m.SurvivorSources = map[string]profile.TraitSource{}
		}
	}
	m.Identifiers = unpair(ids)
	m.Trigger = unpair(trigger)
	m.Time, m.ObserveTime = m.Time.UTC(), m.ObserveTime.UTC()
	if unmerged != nil {
		m.UnmergeTime = unmerged.UTC()
	}
	return m, nil
}

const (
	lockMergedSQL = `-- name: LockMerged
SELECT COALESCE(merged_into::text, '') FROM profile.profiles WHERE id = $1::text::uuid FOR UPDATE`

	rawProfileSQL = `-- name: RawProfile
SELECT ` + profileColumns + `
FROM profile.profiles p
WHERE p.id = $1::text::uuid`

	standingMergeSQL = `-- name: StandingMerge
SELECT ` + mergeColumns + `
FROM profile.merges
WHERE merged_id = $1::text::uuid AND survivor_id = $2::text::uuid AND unmerge_time IS NULL
ORDER BY id DESC
LIMIT 1`

	moveBackSQL = `-- name: MoveBack
UPDATE profile.identifiers i SET profile_id = $3::text::uuid
FROM unnest($1::text[], $2::text[]) AS u(type, value)
WHERE i.type = u.type AND i.value = u.value AND i.profile_id = $4::text::uuid`

	reviveSQL = `-- name: Revive
UPDATE profile.profiles SET merged_into = NULL, update_time = $2 WHERE id = $1::text::uuid AND merged_into IS NOT NULL`

	markUnmergedSQL = `-- name: MarkUnmerged
UPDATE profile.merges SET unmerge_time = $2 WHERE id = $1 AND unmerge_time IS NULL`
)

// Unmerge locks the merged profile and its survivor, plans and applies the
// split in one transaction, retrying transactions that lost a race.
func (s *Store) Unmerge(ctx context.Context, id string, plan func(survivor, merged profile.Profile, m profile.Merge) (profile.Split, error)) error {
	if uuid.Validate(id) != nil {
		return profile.ErrNotFound
	}
	for attempt := 1; ; attempt++ {
		err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			return unmerge(ctx, tx, id, plan)
		})
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
	}
}

func unmerge(ctx context.Context, tx pgx.Tx, id string, plan func(survivor, merged profile.Profile, m profile.Merge) (profile.Split, error)) error {
	var into string
	switch err := tx.QueryRow(ctx, lockMergedSQL, id).Scan(&into); {
	case errors.Is(err, pgx.ErrNoRows):
		return profile.ErrNotFound
	case err != nil:
		return fmt.Errorf("lock merged profile: %w", err)
	case into == "":
		return fmt.Errorf("profiles/%s is live: %w", id, profile.ErrNotMerged)
	}
	var further string
	if err := tx.QueryRow(ctx, lockMergedSQL, into).Scan(&further); err != nil {
		return fmt.Errorf("lock survivor: %w", err)
	}
	if further != "" {
		return fmt.Errorf("%w: profiles/%s was merged into profiles/%s, which was merged into profiles/%s since: unmerge profiles/%s first",
			profile.ErrConflict, id, into, further, into)
	}
	survivor, err := oneProfile(ctx, tx, rawProfileSQL, into)
	if err != nil {
		return err
	}
	merged, err := oneProfile(ctx, tx, rawProfileSQL, id)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, standingMergeSQL, id, into)
	if err != nil {
		return fmt.Errorf("read merge: %w", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanMerge)
	if err != nil {
		return fmt.Errorf("profiles/%s: read standing merge into profiles/%s: %w", id, into, err)
	}
	sp, err := plan(survivor, merged, m)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	var checks []int64
	queue := func(rows int64, sql string, args ...any) {
		b.Queue(sql, args...)
		checks = append(checks, rows)
	}
	if len(sp.Move) > 0 {
		types, values := split(sp.Move)
		queue(int64(len(types)), moveBackSQL, types, values, id, into)
	}
	queue(1, reviveSQL, id, sp.Time)
	queue(1, updateProfileSQL, into, traitsOrEmpty(sp.SurvivorTraits), sp.Time, toSourcesJSON(sp.SurvivorSources))
	queue(1, markUnmergedSQL, m.Seq, sp.Time)
	if len(sp.TraitChanges) > 0 {
		if err := queueTraitChanges(queue, sp.TraitChanges); err != nil {
			return err
		}
	}
	if err := sendChecked(ctx, tx, b, checks); err != nil {
		return err
	}
	return announceUnmerge(ctx, tx, survivor, id, sp)
}

func oneProfile(ctx context.Context, q querier, sql string, args ...any) (profile.Profile, error) {
	profiles, err := queryProfiles(ctx, q, sql, args...)
	switch {
	case err != nil:
		return profile.Profile{}, fmt.Errorf("read profile: %w", err)
	case len(profiles) == 0:
		return profile.Profile{}, profile.ErrNotFound
	}
	return profiles[0], nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func queryProfiles(ctx context.Context, q querier, sql string, args ...any) ([]profile.Profile, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (profile.Profile, error) {
		var (
			p       profile.Profile
			sources map[string]sourceJSON
			links   []link
		)
		if err := row.Scan(&p.ID, &p.Traits, &sources, &p.CreateTime, &p.UpdateTime, &links); err != nil {
			return p, err
		}
		p.Sources = fromSourcesJSON(sources)
		p.Identifiers = make([]profile.Identifier, len(links))
		p.Links = make(map[profile.Identifier]profile.Link, len(links))
		for i, l := range links {
			p.Identifiers[i] = profile.Identifier{Type: l.Type, Value: l.Value}
			p.Links[p.Identifiers[i]] = profile.Link{ObserveTime: l.ObserveTime.UTC(), Shared: l.Shared}
		}
		p.CreateTime, p.UpdateTime = p.CreateTime.UTC(), p.UpdateTime.UTC()
		return p, nil
	})
}

// link is the JSON form of one identifier in profileColumns.
type link struct {
	Type        string    `json:"t"`
	Value       string    `json:"v"`
	ObserveTime time.Time `json:"o"`
	Shared      bool      `json:"s"`
}

func split(ids []profile.Identifier) (types, values []string) {
	types, values = make([]string, len(ids)), make([]string, len(ids))
	for i, id := range ids {
		types[i], values[i] = id.Type, id.Value
	}
	return types, values
}

// pairs is the JSON form of identifiers in the merge log: [["email", "ana@example.com"], ...].
func pairs(ids []profile.Identifier) [][2]string {
	out := make([][2]string, len(ids))
	for i, id := range ids {
		out[i] = [2]string{id.Type, id.Value}
	}
	return out
}

func unpair(ids [][2]string) []profile.Identifier {
	out := make([]profile.Identifier, len(ids))
	for i, id := range ids {
		out[i] = profile.Identifier{Type: id[0], Value: id[1]}
	}
	return out
}

func traitsOrEmpty(traits map[string]any) map[string]any {
	if traits == nil {
		return map[string]any{}
	}
	return traits
}

// lockKeys returns the advisory lock keys of ids, sorted and distinct, so
// that every transaction takes them in the same order.
func lockKeys(ids []profile.Identifier) []int64 {
	keys := make([]int64, len(ids))
	for i, id := range ids {
		h := fnv.New64a()
		h.Write([]byte("barista.profile.identifier." + id.String()))
		keys[i] = int64(h.Sum64())
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// retryable reports whether err is a conflict with a concurrent transaction
// that a fresh attempt resolves: a deadlock, a serialization failure, or a
// unique violation (an identifier linked concurrently).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40P01", "40001", "23505":
		return true
	}
	return false
}

const (
	setConsentsSQL = `-- name: SetConsents
INSERT INTO profile.consents AS c (profile_id, purpose, granted, source, consent_time)
SELECT $1::text::uuid, u.purpose, u.granted, u.source, u.consent_time
FROM unnest($2::text[], $3::boolean[], $4::text[], $5::timestamptz[]) AS u(purpose, granted, source, consent_time)
ON CONFLICT (profile_id, purpose) DO UPDATE
SET granted = excluded.granted, source = excluded.source, consent_time = excluded.consent_time
WHERE (excluded.consent_time, NOT excluded.granted) > (c.consent_time, NOT c.granted)`

	consentsSQL = `-- name: Consents
WITH RECURSIVE tree (id) AS (
	SELECT $1::text::uuid
	UNION ALL
	SELECT p.id FROM profile.profiles p JOIN tree t ON p.merged_into = t.id
)
SELECT c.purpose, c.granted, c.source, c.consent_time
FROM profile.consents c
WHERE c.profile_id IN (SELECT id FROM tree)`
)

// SetConsents keeps, per purpose, the newer of the stored and the given
// consent of the profile, in one statement.
func (s *Store) SetConsents(ctx context.Context, id string, consents []profile.Consent) error {
	if uuid.Validate(id) != nil {
		return profile.ErrNotFound
	}
	purposes, sources := make([]string, len(consents)), make([]string, len(consents))
	granted, times := make([]bool, len(consents)), make([]time.Time, len(consents))
	for i, c := range consents {
		purposes[i], granted[i], sources[i], times[i] = c.Purpose, c.Granted, c.Source, c.Time
	}
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setConsentsSQL, id, purposes, granted, sources, times); err != nil {
			return err
		}
		return announceConsents(ctx, tx, id, consents)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return profile.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("set consents: %w", err)
	}
	return nil
}

// Consents returns the newest consent per purpose over the profile and the
// profiles merged into it.
func (s *Store) Consents(ctx context.Context, id string) ([]profile.Consent, error) {
	if uuid.Validate(id) != nil {
		return nil, nil
	}
	return readConsents(ctx, s.pool, id)
}

// readConsents returns the newest consent per purpose over the profile and
// the profiles merged into it, as q sees them.
func readConsents(ctx context.Context, q querier, id string) ([]profile.Consent, error) {
	rows, err := q.Query(ctx, consentsSQL, id)
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (profile.Consent, error) {
		var c profile.Consent
		err := row.Scan(&c.Purpose, &c.Granted, &c.Source, &c.Time)
		c.Time = c.Time.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	return profile.LatestConsents(all), nil
}
