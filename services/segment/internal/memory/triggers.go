package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// triggers holds the triggers and their deliveries, under their own lock
// so that sending webhooks never waits for evaluation.
type triggers struct {
	mu     sync.Mutex
	byID   map[string]segment.Trigger
	cursor int64
	lastID int64
	// log holds every delivery, delivery n at index n-1; pending indexes
	// the pending ones, byChange the (trigger, change) pairs delivered.
	log      []*segment.Delivery
	pending  map[int64]*segment.Delivery
	byChange map[string]bool
}

// CreateTrigger stores a trigger.
func (s *Store) CreateTrigger(_ context.Context, t segment.Trigger) error {
	s.mu.RLock()
	_, ok := s.segments[t.Segment]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: segments/%s", segment.ErrNotFound, t.Segment)
	}
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if _, ok := tr.byID[t.ID]; ok {
		return fmt.Errorf("%w: triggers/%s", segment.ErrTriggerExists, t.ID)
	}
	tr.byID[t.ID] = t
	return nil
}

// GetTrigger returns a trigger.
func (s *Store) GetTrigger(_ context.Context, id string) (segment.Trigger, error) {
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	t, ok := tr.byID[id]
	if !ok {
		return segment.Trigger{}, fmt.Errorf("%w: triggers/%s", segment.ErrTriggerNotFound, id)
	}
	return t, nil
}

// ListTriggers returns a page of triggers by id.
func (s *Store) ListTriggers(_ context.Context, after string, limit int) ([]segment.Trigger, error) {
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []segment.Trigger
	for _, id := range sortedKeys(tr.byID) {
		if id > after && len(out) < limit {
			out = append(out, tr.byID[id])
		}
	}
	return out, nil
}

// TriggerCursor returns the position in the change log up to which
// deliveries have been created.
func (s *Store) TriggerCursor(context.Context) (int64, error) {
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.cursor, nil
}

// AddDeliveries stores deliveries and moves the trigger cursor.
func (s *Store) AddDeliveries(_ context.Context, cursor int64, deliveries []segment.Delivery) error {
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, d := range deliveries {
		key := fmt.Sprintf("%s\x00%d", d.Trigger, d.Change)
		if tr.byChange[key] {
			continue
		}
		tr.byChange[key] = true
		tr.lastID++
		d.ID = tr.lastID
		tr.log = append(tr.log, &d)
		tr.pending[d.ID] = tr.log[len(tr.log)-1]
	}
	tr.cursor = max(tr.cursor, cursor)
	return nil
}

// DueDeliveries returns a trigger's pending deliveries due at or before
// now, earliest first.
func (s *Store) DueDeliveries(_ context.Context, trigger string, now time.Time, limit int) ([]segment.Delivery, error) {
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []segment.Delivery
	for _, d := range tr.pending {
		if d.Trigger == trigger && !d.DueTime.After(now) {
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b segment.Delivery) int {
		return cmp.Or(a.DueTime.Compare(b.DueTime), cmp.Compare(a.ID, b.ID))
	})
	return out[:min(limit, len(out))], nil
}

// UpdateDelivery stores the outcome of an attempt.
func (s *Store) UpdateDelivery(_ context.Context, d segment.Delivery) error {
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if d.ID < 1 || d.ID > int64(len(tr.log)) {
		return fmt.Errorf("no delivery %d", d.ID)
	}
	*tr.log[d.ID-1] = d
	if d.State == segment.Pending {
		tr.pending[d.ID] = tr.log[d.ID-1]
	} else {
		delete(tr.pending, d.ID)
	}
	return nil
}

// ListDeliveries returns a page of a trigger's deliveries, newest first.
func (s *Store) ListDeliveries(_ context.Context, trigger string, before int64, limit int) ([]segment.Delivery, error) {
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []segment.Delivery
	for i := len(tr.log) - 1; i >= 0 && len(out) < limit; i-- {
		if d := tr.log[i]; d.Trigger == trigger && (before == 0 || d.ID < before) {
			out = append(out, *d)
		}
	}
	return out, nil
}
