package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// sourceJSON is the JSON form of one trait's source in
// profiles.trait_sources and merges.survivor_sources.
type sourceJSON struct {
	Operation string    `json:"op"`
	Source    string    `json:"src,omitempty"`
	Time      time.Time `json:"t"`
	Once      bool      `json:"once,omitempty"`
	SetTime   time.Time `json:"set"`
}

func toSourcesJSON(sources map[string]profile.TraitSource) map[string]sourceJSON {
	out := make(map[string]sourceJSON, len(sources))
	for k, s := range sources {
		out[k] = sourceJSON{Operation: s.Operation, Source: s.Source, Time: s.Time, Once: s.Once, SetTime: s.SetTime}
	}
	return out
}

// sourcesOrNull is the sources recorded with a merge: NULL when not
// recorded.
func sourcesOrNull(sources map[string]profile.TraitSource) any {
	if sources == nil {
		return nil
	}
	return toSourcesJSON(sources)
}

// fromSourcesJSON returns the sources, or nil when there are none.
func fromSourcesJSON(in map[string]sourceJSON) map[string]profile.TraitSource {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]profile.TraitSource, len(in))
	for k, s := range in {
		out[k] = profile.TraitSource{Operation: s.Operation, Source: s.Source, Time: s.Time.UTC(), Once: s.Once, SetTime: s.SetTime.UTC()}
	}
	return out
}

const recordTraitChangesSQL = `-- name: RecordTraitChanges
INSERT INTO profile.trait_changes (profile_id, key, value, operation, source_event, change_time)
SELECT u.profile_id::uuid, u.key, u.value::jsonb, u.operation, u.source_event, u.change_time
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
	WITH ORDINALITY AS u(profile_id, key, value, operation, source_event, change_time, n)
ORDER BY u.n`

// queueTraitChanges queues the statement that records changes, in order.
func queueTraitChanges(queue func(rows int64, sql string, args ...any), changes []profile.TraitChange) error {
	n := len(changes)
	ids, keys, ops, sources := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	values, times := make([]*string, n), make([]time.Time, n)
	for i, c := range changes {
		ids[i], keys[i], ops[i], sources[i], times[i] = c.Profile, c.Key, c.Operation, c.Source, c.Time
		if c.Value == nil {
			continue
		}
		raw, err := json.Marshal(c.Value)
		if err != nil {
			return fmt.Errorf("encode trait %q: %w", c.Key, err)
		}
		text := string(raw)
		values[i] = &text
	}
	queue(int64(n), recordTraitChangesSQL, ids, keys, values, ops, sources, times)
	return nil
}

// traitChangesSQL reads the changes of the tree of profiles of $1, newest
// first: the live profile it is or was merged into and the profiles merged
// into that, directly or not.
const traitChangesSQL = `-- name: TraitChanges
WITH RECURSIVE chain (id, merged_into) AS (
	SELECT id, merged_into FROM profile.profiles WHERE id = $1::text::uuid
	UNION ALL
	SELECT p.id, p.merged_into FROM profile.profiles p JOIN chain c ON p.id = c.merged_into
), tree (id) AS (
	SELECT id FROM chain WHERE merged_into IS NULL
	UNION ALL
	SELECT p.id FROM profile.profiles p JOIN tree t ON p.merged_into = t.id
)
SELECT (SELECT count(*) FROM tree), c.id, c.profile_id::text, c.key, c.value, c.operation, c.source_event, c.change_time
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
	SELECT t.* FROM profile.trait_changes t
	WHERE t.profile_id IN (SELECT id FROM tree) AND ($2::text = '' OR t.key = $2::text) AND ($3::bigint = 0 OR t.id < $3::bigint)
	ORDER BY t.id DESC
	LIMIT $4::int
) AS c ON true`

// TraitChanges returns the trait changes of the live profile that id is or
// was merged into and of the profiles merged into it, newest first, in one
// statement.
func (s *Store) TraitChanges(ctx context.Context, id, key string, before int64, limit int) ([]profile.TraitChange, error) {
	if uuid.Validate(id) != nil {
		return nil, profile.ErrNotFound
	}
	rows, err := s.pool.Query(ctx, traitChangesSQL, id, key, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read trait changes: %w", err)
	}
	var (
		out   []profile.TraitChange
		found bool
	)
	for rows.Next() {
		var (
			tree               int64
			seq                *int64
			pid, k, op, source *string
			value              any
			at                 *time.Time
		)
		if err := rows.Scan(&tree, &seq, &pid, &k, &value, &op, &source, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read trait changes: %w", err)
		}
		found = tree > 0
		if seq == nil {
			continue
		}
		out = append(out, profile.TraitChange{Seq: *seq, Profile: *pid, Key: *k, Value: value, Operation: *op, Source: *source, Time: at.UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read trait changes: %w", err)
	}
	if !found {
		return nil, profile.ErrNotFound
	}
	return out, nil
}
