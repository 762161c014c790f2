package memory

import (
	"context"
	"slices"
	"time"

	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

var _ metrics.ProfileStore = (*Store)(nil)

// RewriteProfiles applies a marker under the mutex.
func (s *Store) RewriteProfiles(_ context.Context, r metrics.ProfileRewrite) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Seq <= s.eventCursor {
		return false, nil
	}
	for _, p := range append(slices.Clone(r.Delete), r.Erase...) {
		delete(s.days, p)
		delete(s.firstSeen, p)
	}
	for _, p := range r.Erase {
		if s.erased == nil {
			s.erased = map[string]bool{}
		}
		s.erased[string(metrics.ErasedKey(p))] = true
		for seg, changes := range s.changes {
			s.changes[seg] = slices.DeleteFunc(changes, func(c metrics.Change) bool { return c.Profile == p })
		}
	}
	for p, evs := range r.Rebuild {
		delete(s.days, p)
		for i := range evs {
			evs[i].Profile = p
		}
		delta := metrics.SummarizeEvents(evs)
		if t, ok := delta.FirstSeen[p]; ok {
			s.seen(p, t)
		}
		days := map[time.Time]*metrics.ProfileDay{}
		for _, d := range delta.Days {
			days[d.Date] = &d
		}
		if len(days) > 0 {
			s.days[p] = days
		}
	}
	s.eventCursor = r.Seq
	return true, nil
}
