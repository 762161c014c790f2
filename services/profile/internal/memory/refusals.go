package memory

import (
	"context"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// refusalState holds the refused joins, in the order they were stored.
type refusalState struct {
	list []profile.Refusal
	seen map[[3]string]bool
}

// AddRefusals stores refused joins, ignoring those already stored and
// those naming profiles that no longer exist.
func (s *Store) AddRefusals(_ context.Context, refusals []profile.Refusal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refusals.seen == nil {
		s.refusals.seen = map[[3]string]bool{}
	}
	for _, r := range refusals {
		key := [3]string{r.Profile, r.Other, r.Rule}
		if s.refusals.seen[key] || s.profiles[r.Profile] == nil || s.profiles[r.Other] == nil {
			continue
		}
		s.refusals.seen[key] = true
		s.refusals.list = append(s.refusals.list, r)
	}
	return nil
}

// Refusals returns a page of refused joins; positions are 1-based indexes
// into the list, and erased entries are skipped.
func (s *Store) Refusals(_ context.Context, after int64, limit int) ([]profile.Refusal, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []profile.Refusal
	last := after
	for i := int(after); i < len(s.refusals.list) && len(out) < limit; i++ {
		last = int64(i + 1)
		if r := s.refusals.list[i]; r.Profile != "" {
			out = append(out, r)
		}
	}
	return out, last, nil
}

// deleteRefusals blanks the refused joins naming any of ids; erasure calls
// it with s.mu held for writing.
func (s *Store) deleteRefusals(ids []string) {
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	for i, r := range s.refusals.list {
		if gone[r.Profile] || gone[r.Other] {
			delete(s.refusals.seen, [3]string{r.Profile, r.Other, r.Rule})
			s.refusals.list[i] = profile.Refusal{}
		}
	}
}
