package memory

import (
	"context"
	"slices"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

var _ event.ProfileChangeStore = (*Store)(nil)

// ProfileCursor implements event.ProfileChangeStore.
func (s *Store) ProfileCursor(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.profileCursor, nil
}

// ApplyProfileChange implements event.ProfileChangeStore under the write
// lock, which makes it atomic.
func (s *Store) ApplyProfileChange(ctx context.Context, c event.ProfileChange) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Seq <= s.profileCursor {
		return false, nil
	}
	switch c.Kind {
	case event.UpdateMerged:
		s.rekey(c.Other, c.Profile, func(event.Event) bool { return true })
		if s.redirects == nil {
			s.redirects = map[string]string{}
		}
		for from, to := range s.redirects {
			if to == c.Other {
				s.redirects[from] = c.Profile
			}
		}
		s.redirects[c.Other] = c.Profile
	case event.UpdateUnmerged:
		u := event.UnmergeOf(c)
		s.rekey(c.Profile, c.Other, func(ev event.Event) bool { return u.MovesBack(ev.Identifiers) })
		s.unredirect(c.Other)
		s.unmerges = append(s.unmerges, u)
	case event.UpdateErased:
		for _, at := range s.byProfile[c.Profile] {
			delete(s.byMessage, s.log[at].MessageID)
			// A deleted event leaves an empty entry, so that positions
			// stay sequence-1; readers skip it.
			s.log[at] = event.Event{Seq: s.log[at].Seq}
		}
		delete(s.byProfile, c.Profile)
		s.redactUpdates(c.Profile)
		if s.erased == nil {
			s.erased = map[string]bool{}
		}
		s.erased[c.Profile] = true
		for from, to := range s.redirects {
			if to == c.Profile {
				s.erased[from] = true
			}
		}
		s.unredirect(c.Profile)
	}
	s.log = append(s.log, event.Event{Seq: int64(len(s.log)) + 1, Update: c.Marker()})
	s.profileCursor = c.Seq
	return true, nil
}

// rekey gives the events of profile from for which move is true to profile
// to, keeping both timelines in sequence order.
func (s *Store) rekey(from, to string, move func(event.Event) bool) {
	var stay, moving []int
	for _, at := range s.byProfile[from] {
		if move(s.log[at]) {
			s.log[at].ProfileID = to
			moving = append(moving, at)
		} else {
			stay = append(stay, at)
		}
	}
	if len(moving) == 0 {
		return
	}
	s.byProfile[from] = stay
	if len(stay) == 0 {
		delete(s.byProfile, from)
	}
	merged := append(slices.Clone(s.byProfile[to]), moving...)
	slices.Sort(merged)
	s.byProfile[to] = merged
}

// deleted reports whether the log entry ev was deleted by an erasure.
func deleted(ev event.Event) bool {
	return ev.MessageID == "" && ev.Update == nil
}

// redactUpdates drops the consents from the markers of the erased profile
// and of every profile merged into it, directly or not.
func (s *Store) redactUpdates(root string) {
	tree := map[string]bool{root: true}
	for grown := true; grown; {
		grown = false
		for _, ev := range s.log {
			if u := ev.Update; u != nil && u.Kind == event.UpdateMerged && tree[u.Profiles[0]] && !tree[u.Profiles[1]] {
				tree[u.Profiles[1]] = true
				grown = true
			}
		}
	}
	for i, ev := range s.log {
		if u := ev.Update; u != nil && u.Consents != nil && slices.ContainsFunc(u.Profiles, func(p string) bool { return tree[p] }) {
			redacted := *u
			redacted.Consents = nil
			s.log[i].Update = &redacted
		}
	}
}

// unredirect forgets the redirects from and to profile.
func (s *Store) unredirect(profile string) {
	for from, to := range s.redirects {
		if from == profile || to == profile {
			delete(s.redirects, from)
		}
	}
}
