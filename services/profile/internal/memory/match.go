package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// matchState holds probabilistic matching's signals and candidates; its
// zero value is empty. It is guarded by Store.mu.
type matchState struct {
	signals    map[string]profile.Signals // by profile
	seq        int64
	candidates []profile.Candidate // ID is index+1; erased ones are zero
	byPair     map[[2]string]int64
}

func cloneSignals(s profile.Signals) profile.Signals {
	s.Keys = slices.Clone(s.Keys)
	return s
}

func cloneCandidate(c profile.Candidate) profile.Candidate {
	c.Agreements, c.Conflicts = slices.Clone(c.Agreements), slices.Clone(c.Conflicts)
	return c
}

func (s *Store) live(id string) bool {
	r, ok := s.profiles[id]
	return ok && r.mergedInto == ""
}

// MatchSignals returns the stored signals of ids.
func (s *Store) MatchSignals(_ context.Context, ids []string) ([]profile.Signals, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []profile.Signals
	for _, id := range ids {
		if sig, ok := s.match.signals[id]; ok {
			out = append(out, cloneSignals(sig))
		}
	}
	return out, nil
}

// SetMatchSignals replaces the signals of a profile.
func (s *Store) SetMatchSignals(_ context.Context, sig profile.Signals) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.profiles[sig.ProfileID]; !ok {
		return fmt.Errorf("set match signals: %w", profile.ErrNotFound)
	}
	if s.match.signals == nil {
		s.match.signals = map[string]profile.Signals{}
	}
	s.match.seq++
	sig.Seq = s.match.seq
	s.match.signals[sig.ProfileID] = cloneSignals(sig)
	return nil
}

// ChangedMatchSignals returns signals of live profiles in Seq order.
func (s *Store) ChangedMatchSignals(_ context.Context, after int64, limit int) ([]profile.Signals, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []profile.Signals
	for id, sig := range s.match.signals {
		if sig.Seq > after && s.live(id) {
			out = append(out, cloneSignals(sig))
		}
	}
	slices.SortFunc(out, func(a, b profile.Signals) int { return int(a.Seq - b.Seq) })
	return out[:min(limit, len(out))], nil
}

// MatchBlock returns the signals of live profiles carrying each key.
func (s *Store) MatchBlock(_ context.Context, keys []string, limit int) (map[string][]profile.Signals, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string][]profile.Signals{}
	ids := make([]string, 0, len(s.match.signals))
	for id := range s.match.signals {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, key := range keys {
		for _, id := range ids {
			sig := s.match.signals[id]
			if len(out[key]) < limit && s.live(id) && slices.Contains(sig.Keys, key) {
				out[key] = append(out[key], cloneSignals(sig))
			}
		}
	}
	return out, nil
}

// ProposeMatch stores or updates the candidate of a pair.
func (s *Store) ProposeMatch(_ context.Context, c profile.Candidate) (profile.Candidate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.match.byPair == nil {
		s.match.byPair = map[[2]string]int64{}
	}
	pair := [2]string{c.A, c.B}
	if id, ok := s.match.byPair[pair]; ok {
		stored := &s.match.candidates[id-1]
		if stored.State == profile.CandidatePending {
			stored.Score, stored.State = c.Score, c.State
			stored.Agreements, stored.Conflicts = slices.Clone(c.Agreements), slices.Clone(c.Conflicts)
			if c.State != profile.CandidatePending {
				stored.ReviewTime, stored.ReviewReason = c.ReviewTime, c.ReviewReason
			}
		}
		return cloneCandidate(*stored), nil
	}
	c.ID = int64(len(s.match.candidates) + 1)
	s.match.candidates = append(s.match.candidates, cloneCandidate(c))
	s.match.byPair[pair] = c.ID
	return cloneCandidate(c), nil
}

// MatchCandidate returns one candidate.
func (s *Store) MatchCandidate(_ context.Context, id int64) (profile.Candidate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id < 1 || id > int64(len(s.match.candidates)) || s.match.candidates[id-1].ID == 0 {
		return profile.Candidate{}, fmt.Errorf("match candidate %d: %w", id, profile.ErrNotFound)
	}
	return cloneCandidate(s.match.candidates[id-1]), nil
}

// MatchCandidates pages through candidates in ID order.
func (s *Store) MatchCandidates(_ context.Context, state profile.CandidateState, after int64, limit int) ([]profile.Candidate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []profile.Candidate
	for _, c := range s.match.candidates[min(max(int(after), 0), len(s.match.candidates)):] {
		if len(out) == limit {
			break
		}
		if c.ID != 0 && (state == profile.CandidateAny || c.State == state) {
			out = append(out, cloneCandidate(c))
		}
	}
	return out, nil
}

// DecideMatch moves a pending candidate to state.
func (s *Store) DecideMatch(_ context.Context, id int64, state profile.CandidateState, reason string, at time.Time) (profile.Candidate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > int64(len(s.match.candidates)) || s.match.candidates[id-1].ID == 0 {
		return profile.Candidate{}, fmt.Errorf("match candidate %d: %w", id, profile.ErrNotFound)
	}
	c := &s.match.candidates[id-1]
	if c.State != profile.CandidatePending {
		return profile.Candidate{}, fmt.Errorf("match candidate %d is %s: %w", id, c.State, profile.ErrNotPending)
	}
	c.State, c.ReviewReason, c.ReviewTime = state, reason, at
	return cloneCandidate(*c), nil
}

// DeleteMatchData deletes the signals and candidates of profiles.
func (s *Store) DeleteMatchData(_ context.Context, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteMatchData(ids)
	return nil
}

// deleteMatchData deletes the signals and candidates of profiles; erasure
// calls it with s.mu held for writing.
func (s *Store) deleteMatchData(ids []string) {
	for _, id := range ids {
		delete(s.match.signals, id)
	}
	for i, c := range s.match.candidates {
		if c.ID != 0 && (slices.Contains(ids, c.A) || slices.Contains(ids, c.B)) {
			delete(s.match.byPair, [2]string{c.A, c.B})
			s.match.candidates[i] = profile.Candidate{}
		}
	}
}
