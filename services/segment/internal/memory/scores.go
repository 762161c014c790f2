package memory

import (
	"context"
	"maps"
	"slices"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// scores are the scores of the latest refresh; the zero value holds none.
type scores struct {
	store condition.StoreStatistics
	rfm   map[string]condition.RFM
}

// StoreStatistics returns the store's statistics.
func (s *Store) StoreStatistics(context.Context) (condition.StoreStatistics, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.scores.store, nil
}

// ProfileScores returns the RFM of the profiles among names that have one.
func (s *Store) ProfileScores(_ context.Context, names []string) (map[string]condition.RFM, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.profileScores(names), nil
}

func (s *Store) profileScores(names []string) map[string]condition.RFM {
	out := make(map[string]condition.RFM, len(names))
	for _, n := range names {
		if r, ok := s.scores.rfm[n]; ok {
			out[n] = r
		}
	}
	return out
}

func (t *tx) StoreStatistics(context.Context) (condition.StoreStatistics, error) {
	return t.s.scores.store, nil
}

func (t *tx) ProfileScores(_ context.Context, names []string) (map[string]condition.RFM, error) {
	return t.s.profileScores(names), nil
}

func (t *tx) SetStoreStatistics(_ context.Context, st condition.StoreStatistics) error {
	old := t.s.scores.store
	t.undo = append(t.undo, func() { t.s.scores.store = old })
	t.s.scores.store = st
	return nil
}

func (t *tx) ReplaceScores(_ context.Context, rfm map[string]condition.RFM) ([]string, error) {
	if len(t.s.erased) > 0 {
		kept := make(map[string]condition.RFM, len(rfm))
		for p, r := range rfm {
			if !t.s.erased[erasedKey(p)] {
				kept[p] = r
			}
		}
		rfm = kept
	}
	old := t.s.scores.rfm
	var changed []string
	for p, r := range rfm {
		if o, ok := old[p]; !ok || o != r {
			changed = append(changed, p)
		}
	}
	for p := range old {
		if _, ok := rfm[p]; !ok {
			changed = append(changed, p)
		}
	}
	slices.Sort(changed)
	t.undo = append(t.undo, func() { t.s.scores.rfm = old })
	t.s.scores.rfm = maps.Clone(rfm)
	return changed, nil
}
