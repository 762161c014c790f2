package memory

import (
	"context"
	"slices"
	"time"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

var _ event.RetentionStore = (*Store)(nil)

// DeleteBefore implements event.RetentionStore under the write lock.
func (s *Store) DeleteBefore(ctx context.Context, cutoff time.Time) (event.RetentionResult, error) {
	n, err := s.expire(ctx, cutoff, func(at int) error {
		ev := s.log[at]
		delete(s.byMessage, ev.MessageID)
		// A deleted event leaves an empty entry, so that positions stay
		// sequence-1; readers skip it.
		s.log[at] = event.Event{Seq: ev.Seq}
		return nil
	})
	return event.RetentionResult{Deleted: n}, err
}

// AnonymizeBefore implements event.RetentionStore under the write lock.
func (s *Store) AnonymizeBefore(ctx context.Context, cutoff time.Time) (event.RetentionResult, error) {
	n, err := s.expire(ctx, cutoff, func(at int) error {
		ev, err := event.Anonymize(s.log[at])
		s.log[at] = ev
		return err
	})
	return event.RetentionResult{Anonymized: n}, err
}

// expire applies fn to the position of every event of a profile received
// before cutoff, takes it off its profile's timeline, and returns how many
// it expired.
func (s *Store) expire(ctx context.Context, cutoff time.Time, fn func(at int) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		n        int64
		expired  = map[int]bool{}
		profiles = map[string]bool{}
	)
	for at, ev := range s.log {
		if ev.Update != nil || deleted(ev) || ev.ProfileID == "" || !ev.ReceivedAt.Before(cutoff) {
			continue
		}
		profiles[ev.ProfileID] = true
		expired[at] = true
		if err := fn(at); err != nil {
			return n, err
		}
		n++
	}
	for pid := range profiles {
		s.byProfile[pid] = slices.DeleteFunc(s.byProfile[pid], func(at int) bool { return expired[at] })
		if len(s.byProfile[pid]) == 0 {
			delete(s.byProfile, pid)
		}
	}
	return n, nil
}
