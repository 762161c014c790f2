// Package memory is the in-memory event Store of the single-process dev mode
// and of fast tests. It is not durable.
package memory

import (
	"context"
	"sort"
	"sync"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

// Store keeps the log in a slice ordered by sequence. Appends hold the write
// lock while they assign sequences and add events, so readers see events in
// sequence order with no gaps.
type Store struct {
	mu        sync.RWMutex
	log       []event.Event
	byMessage map[string]int
	byProfile map[string][]int
	// profileCursor is the last profile change applied.
	profileCursor int64
	// redirects maps profiles merged away to the profile their events now
	// belong to.
	redirects map[string]string
	// erased holds the erased profiles and those merged into them.
	erased map[string]bool
	// unmerges are the unmerges applied, in order, for the events resolved
	// before them and appended after.
	unmerges []event.Unmerge
}

var _ event.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{byMessage: map[string]int{}, byProfile: map[string][]int{}}
}

// Append implements event.Store.
func (s *Store) Append(ctx context.Context, events []event.Event) ([]event.Appended, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Each event goes to the profile it belongs to now: the one an unmerge
	// applied since its resolution gave its identifiers back to, or the
	// one its profile was merged into since.
	placed := make([]string, len(events))
	for i, ev := range events {
		if s.erased[ev.ProfileID] {
			return nil, event.ErrProfileErased
		}
		if event.PlaceAfterUnmerges(&ev, s.unmerges, s.redirected) {
			placed[i] = ev.ProfileID
		} else {
			placed[i] = s.redirected(ev.ProfileID)
		}
		if s.erased[placed[i]] {
			return nil, event.ErrProfileErased
		}
	}
	out := make([]event.Appended, len(events))
	for i, ev := range events {
		if at, ok := s.byMessage[ev.MessageID]; ok {
			out[i] = event.Appended{Event: s.log[at], Duplicate: true}
			continue
		}
		ev.Seq = int64(len(s.log)) + 1
		ev.ProfileID, ev.ResolvedAfter = placed[i], 0
		if len(ev.TraceContext) == 0 {
			ev.TraceContext = nil
		}
		at := len(s.log)
		s.log = append(s.log, ev)
		s.byMessage[ev.MessageID] = at
		s.byProfile[ev.ProfileID] = append(s.byProfile[ev.ProfileID], at)
		out[i] = event.Appended{Event: ev}
	}
	return out, nil
}

// redirected returns the profile that the events of profile p now belong
// to: p, or the profile it was merged into.
func (s *Store) redirected(p string) string {
	if to, ok := s.redirects[p]; ok {
		return to
	}
	return p
}

// ByMessageIDs implements event.Store.
func (s *Store) ByMessageIDs(ctx context.Context, messageIDs []string) (map[string]event.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	found := map[string]event.Event{}
	for _, id := range messageIDs {
		if at, ok := s.byMessage[id]; ok {
			found[id] = s.log[at]
		}
	}
	return found, nil
}

// ListProfile implements event.Store.
func (s *Store) ListProfile(ctx context.Context, profileID string, after int64, limit int) ([]event.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Positions in the log are sequence-1, so they order like sequences.
	positions := s.byProfile[profileID]
	start := sort.Search(len(positions), func(k int) bool { return int64(positions[k])+1 > after })
	var out []event.Event
	for _, at := range positions[start:] {
		if len(out) == limit {
			break
		}
		out = append(out, s.log[at])
	}
	return out, nil
}

// ReadAfter implements event.Store.
func (s *Store) ReadAfter(ctx context.Context, after int64, limit int) ([]event.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []event.Event
	for _, ev := range s.log[min(max(after, 0), int64(len(s.log))):] {
		if len(out) == limit {
			break
		}
		if !deleted(ev) {
			out = append(out, ev)
		}
	}
	return out, nil
}
