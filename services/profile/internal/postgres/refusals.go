package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

const addRefusalsSQL = `-- name: AddRefusals
INSERT INTO profile.refused_joins (profile_id, other_id, rule, identifier_type, create_time)
SELECT r.profile_id::uuid, r.other_id::uuid, r.rule, r.identifier_type, r.create_time
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
    AS r (profile_id, other_id, rule, identifier_type, create_time)
JOIN profile.profiles a ON a.id = r.profile_id::uuid
JOIN profile.profiles b ON b.id = r.other_id::uuid
ON CONFLICT (profile_id, other_id, rule) DO NOTHING`

// AddRefusals stores refused joins, ignoring those already stored and those
// naming profiles that no longer exist.
func (s *Store) AddRefusals(ctx context.Context, refusals []profile.Refusal) error {
	n := len(refusals)
	ps, others, rules, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]time.Time, n)
	for i, r := range refusals {
		ps[i], others[i], rules[i], types[i], times[i] = r.Profile, r.Other, r.Rule, r.Type, r.Time
	}
	if _, err := s.pool.Exec(ctx, addRefusalsSQL, ps, others, rules, types, times); err != nil {
		return fmt.Errorf("add refused joins: %w", err)
	}
	return nil
}

const refusalsSQL = `-- name: Refusals
SELECT seq, profile_id::text, other_id::text, rule, identifier_type, create_time
FROM profile.refused_joins WHERE seq > $1 ORDER BY seq LIMIT $2`

// Refusals returns a page of refused joins in the order they were stored.
func (s *Store) Refusals(ctx context.Context, after int64, limit int) ([]profile.Refusal, int64, error) {
	rows, _ := s.pool.Query(ctx, refusalsSQL, after, limit)
	last := after
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (profile.Refusal, error) {
		var r profile.Refusal
		err := row.Scan(&last, &r.Profile, &r.Other, &r.Rule, &r.Type, &r.Time)
		r.Time = r.Time.UTC()
		return r, err
	})
	if err != nil {
		return nil, after, fmt.Errorf("read refused joins: %w", err)
	}
	return out, last, nil
}
