package memory

import (
	"context"
	"slices"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// traitLog is the record of trait changes, in Seq order.
type traitLog struct {
	changes []profile.TraitChange
	seq     int64 // the last Seq given
}

// recordTraitChanges appends changes to the log. s.mu must be held for
// writing.
func (s *Store) recordTraitChanges(changes []profile.TraitChange) {
	for _, c := range changes {
		s.traits.seq++
		c.Seq = s.traits.seq
		s.traits.changes = append(s.traits.changes, c)
	}
}

// deleteTraitChanges removes the changes of the erased profiles. s.mu must
// be held for writing.
func (s *Store) deleteTraitChanges(erased map[string]bool) {
	s.traits.changes = slices.DeleteFunc(s.traits.changes, func(c profile.TraitChange) bool { return erased[c.Profile] })
}

// TraitChanges returns the trait changes of the live profile that id is or
// was merged into and of the profiles merged into it, newest first.
func (s *Store) TraitChanges(_ context.Context, id, key string, before int64, limit int) ([]profile.TraitChange, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.profiles[id]
	if !ok {
		return nil, profile.ErrNotFound
	}
	for r.mergedInto != "" {
		r = s.profiles[r.mergedInto]
	}
	tree := map[string]bool{r.profile.ID: true}
	for _, pid := range s.tree(r.profile.ID) {
		tree[pid] = true
	}
	var out []profile.TraitChange
	for i := len(s.traits.changes) - 1; i >= 0 && len(out) < limit; i-- {
		c := s.traits.changes[i]
		if (before == 0 || c.Seq < before) && tree[c.Profile] && (key == "" || c.Key == key) {
			out = append(out, c)
		}
	}
	return out, nil
}
