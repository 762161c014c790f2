package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

const signalColumns = `s.profile_id::text, s.fingerprint, s.ip, s.user_agent, s.name, s.postcode, s.keys, s.seq, s.update_time`

func scanSignals(row pgx.CollectableRow) (profile.Signals, error) {
	var s profile.Signals
	err := row.Scan(&s.ProfileID, &s.Fingerprint, &s.IP, &s.UserAgent, &s.Name, &s.Postcode, &s.Keys, &s.Seq, &s.UpdateTime)
	s.UpdateTime = s.UpdateTime.UTC()
	return s, err
}

const matchSignalsSQL = `-- name: MatchSignals
SELECT ` + signalColumns + ` FROM profile.match_signals s WHERE s.profile_id = ANY($1::text[]::uuid[])`

// MatchSignals returns the stored signals of ids.
func (s *Store) MatchSignals(ctx context.Context, ids []string) ([]profile.Signals, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if uuid.Validate(id) == nil {
			valid = append(valid, id)
		}
	}
	rows, err := s.pool.Query(ctx, matchSignalsSQL, valid)
	if err != nil {
		return nil, fmt.Errorf("read match signals: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSignals)
	if err != nil {
		return nil, fmt.Errorf("read match signals: %w", err)
	}
	return out, nil
}

const setMatchSignalsSQL = `-- name: SetMatchSignals
INSERT INTO profile.match_signals (profile_id, fingerprint, ip, user_agent, name, postcode, keys, update_time)
SELECT p.id, $2, $3, $4, $5, $6, $7, $8 FROM profile.profiles p WHERE p.id = $1::text::uuid
ON CONFLICT (profile_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, ip = EXCLUDED.ip,
	user_agent = EXCLUDED.user_agent, name = EXCLUDED.name, postcode = EXCLUDED.postcode, keys = EXCLUDED.keys,
	update_time = EXCLUDED.update_time, seq = nextval('profile.match_signals_seq')`

// SetMatchSignals replaces the signals of a profile.
func (s *Store) SetMatchSignals(ctx context.Context, sig profile.Signals) error {
	if uuid.Validate(sig.ProfileID) != nil {
		return fmt.Errorf("set match signals: %w", profile.ErrNotFound)
	}
	keys := sig.Keys
	if keys == nil {
		keys = []string{}
	}
	tag, err := s.pool.Exec(ctx, setMatchSignalsSQL, sig.ProfileID, sig.Fingerprint, sig.IP, sig.UserAgent, sig.Name, sig.Postcode, keys, sig.UpdateTime)
	if err != nil {
		return fmt.Errorf("set match signals: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set match signals: %w", profile.ErrNotFound)
	}
	return nil
}

const changedMatchSignalsSQL = `-- name: ChangedMatchSignals
SELECT ` + signalColumns + `
FROM profile.match_signals s JOIN profile.profiles p ON p.id = s.profile_id AND p.merged_into IS NULL
WHERE s.seq > $1
ORDER BY s.seq
LIMIT $2`

// ChangedMatchSignals returns signals of live profiles in Seq order.
func (s *Store) ChangedMatchSignals(ctx context.Context, after int64, limit int) ([]profile.Signals, error) {
	rows, err := s.pool.Query(ctx, changedMatchSignalsSQL, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read changed match signals: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSignals)
	if err != nil {
		return nil, fmt.Errorf("read changed match signals: %w", err)
	}
	return out, nil
}

const matchBlockSQL = `-- name: MatchBlock
SELECT k.key, ` + signalColumns + `
FROM unnest($1::text[]) AS k(key)
CROSS JOIN LATERAL (
	SELECT s.* FROM profile.match_signals s JOIN profile.profiles p ON p.id = s.profile_id AND p.merged_into IS NULL
	WHERE s.keys @> ARRAY[k.key]
	ORDER BY s.profile_id
	LIMIT $2
) s`

// MatchBlock returns the signals of live profiles carrying each key.
func (s *Store) MatchBlock(ctx context.Context, keys []string, limit int) (map[string][]profile.Signals, error) {
	rows, err := s.pool.Query(ctx, matchBlockSQL, keys, limit)
	if err != nil {
		return nil, fmt.Errorf("read match block: %w", err)
	}
	defer rows.Close()
	out := map[string][]profile.Signals{}
	for rows.Next() {
		var (
			key string
			sig profile.Signals
		)
		if err := rows.Scan(&key, &sig.ProfileID, &sig.Fingerprint, &sig.IP, &sig.UserAgent, &sig.Name, &sig.Postcode, &sig.Keys, &sig.Seq, &sig.UpdateTime); err != nil {
			return nil, fmt.Errorf("read match block: %w", err)
		}
		sig.UpdateTime = sig.UpdateTime.UTC()
		out[key] = append(out[key], sig)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read match block: %w", err)
	}
	return out, nil
}

const candidateColumns = `id, profile_a::text, profile_b::text, score, agreements, conflicts, state, create_time, review_time, review_reason`

func scanCandidate(row pgx.CollectableRow) (profile.Candidate, error) {
	var (
		c      profile.Candidate
		state  string
		review *time.Time
	)
	if err := row.Scan(&c.ID, &c.A, &c.B, &c.Score, &c.Agreements, &c.Conflicts, &state, &c.CreateTime, &review, &c.ReviewReason); err != nil {
		return c, err
	}
	c.State = parseState(state)
	c.CreateTime = c.CreateTime.UTC()
	if review != nil {
		c.ReviewTime = review.UTC()
	}
	return c, nil
}

func parseState(s string) profile.CandidateState {
	for st := profile.CandidatePending; st <= profile.CandidateRejected; st++ {
		if st.String() == s {
			return st
		}
	}
	return profile.CandidateAny
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

const proposeMatchSQL = `-- name: ProposeMatch
INSERT INTO profile.match_candidates (profile_a, profile_b, score, agreements, conflicts, state, create_time, review_time, review_reason)
VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (profile_a, profile_b) DO UPDATE SET score = EXCLUDED.score, agreements = EXCLUDED.agreements,
	conflicts = EXCLUDED.conflicts, state = EXCLUDED.state, review_time = EXCLUDED.review_time,
	review_reason = EXCLUDED.review_reason
	WHERE match_candidates.state = 'pending'
RETURNING ` + candidateColumns

const matchCandidatePairSQL = `-- name: MatchCandidatePair
SELECT ` + candidateColumns + ` FROM profile.match_candidates WHERE profile_a = $1::text::uuid AND profile_b = $2::text::uuid`

// ProposeMatch stores or updates the candidate of a pair.
func (s *Store) ProposeMatch(ctx context.Context, c profile.Candidate) (profile.Candidate, error) {
	if c.Agreements == nil {
		c.Agreements = []string{}
	}
	if c.Conflicts == nil {
		c.Conflicts = []string{}
	}
	rows, err := s.pool.Query(ctx, proposeMatchSQL, c.A, c.B, c.Score, c.Agreements, c.Conflicts, c.State.String(),
		c.CreateTime, nullTime(c.ReviewTime), c.ReviewReason)
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("propose match: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanCandidate)
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("propose match: %w", err)
	}
	if len(out) == 1 {
		return out[0], nil
	}
	// The pair is decided already: the upsert changed nothing.
	rows, err = s.pool.Query(ctx, matchCandidatePairSQL, c.A, c.B)
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("propose match: %w", err)
	}
	stored, err := pgx.CollectExactlyOneRow(rows, scanCandidate)
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("propose match: %w", err)
	}
	return stored, nil
}

const matchCandidateSQL = `-- name: MatchCandidate
SELECT ` + candidateColumns + ` FROM profile.match_candidates WHERE id = $1`

// MatchCandidate returns one candidate.
func (s *Store) MatchCandidate(ctx context.Context, id int64) (profile.Candidate, error) {
	rows, err := s.pool.Query(ctx, matchCandidateSQL, id)
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("read match candidate: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCandidate)
	if errors.Is(err, pgx.ErrNoRows) {
		return profile.Candidate{}, fmt.Errorf("match candidate %d: %w", id, profile.ErrNotFound)
	}
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("read match candidate: %w", err)
	}
	return c, nil
}

const matchCandidatesSQL = `-- name: MatchCandidates
SELECT ` + candidateColumns + ` FROM profile.match_candidates
WHERE id > $1 AND ($2 = '' OR state = $2)
ORDER BY id
LIMIT $3`

// MatchCandidates pages through candidates in ID order.
func (s *Store) MatchCandidates(ctx context.Context, state profile.CandidateState, after int64, limit int) ([]profile.Candidate, error) {
	filter := ""
	if state != profile.CandidateAny {
		filter = state.String()
	}
	rows, err := s.pool.Query(ctx, matchCandidatesSQL, after, filter, limit)
	if err != nil {
		return nil, fmt.Errorf("list match candidates: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanCandidate)
	if err != nil {
		return nil, fmt.Errorf("list match candidates: %w", err)
	}
	return out, nil
}

const decideMatchSQL = `-- name: DecideMatch
UPDATE profile.match_candidates SET state = $2, review_reason = $3, review_time = $4
WHERE id = $1 AND state = 'pending'
RETURNING ` + candidateColumns

// DecideMatch moves a pending candidate to state.
func (s *Store) DecideMatch(ctx context.Context, id int64, state profile.CandidateState, reason string, at time.Time) (profile.Candidate, error) {
	rows, err := s.pool.Query(ctx, decideMatchSQL, id, state.String(), reason, at)
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("decide match: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanCandidate)
	if err != nil {
		return profile.Candidate{}, fmt.Errorf("decide match: %w", err)
	}
	if len(out) == 1 {
		return out[0], nil
	}
	c, err := s.MatchCandidate(ctx, id)
	if err != nil {
		return profile.Candidate{}, err
	}
	return profile.Candidate{}, fmt.Errorf("match candidate %d is %s: %w", id, c.State, profile.ErrNotPending)
}

const deleteMatchDataSQL = `-- name: DeleteMatchData
WITH ids AS (SELECT unnest($1::text[])::uuid AS id),
	candidates AS (
		DELETE FROM profile.match_candidates c USING ids WHERE c.profile_a = ids.id OR c.profile_b = ids.id
	)
DELETE FROM profile.match_signals s USING ids WHERE s.profile_id = ids.id`

// DeleteMatchData deletes the signals and candidates of profiles.
func (s *Store) DeleteMatchData(ctx context.Context, ids []string) error {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if uuid.Validate(id) == nil {
			valid = append(valid, id)
		}
	}
	if _, err := s.pool.Exec(ctx, deleteMatchDataSQL, valid); err != nil {
		return fmt.Errorf("delete match data: %w", err)
	}
	return nil
}
