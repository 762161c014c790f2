// Package memory is the profile Store in process memory, for the
// single-process dev mode and fast tests. Nothing survives the process.
package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// Store is the in-memory profile Store. One mutex serializes every change,
// which makes Resolve trivially atomic and isolated.
type Store struct {
	mu       sync.RWMutex
	profiles map[string]*record
	holder   map[profile.Identifier]string
	order    []string // ids of all profiles, sorted
	merges   []profile.Merge
	consents map[string]map[string]profile.Consent // by profile, then purpose
	notices  []profile.Notice                      // the change log; Seq is index+1
	privacy  privacy                               // suppressions and erasures
	match    matchState                            // probabilistic matching (match.go)
	refusals refusalState                          // refused joins (refusals.go)
	traits   traitLog                              // trait changes (traits.go)
}

type record struct {
	profile    profile.Profile
	mergedInto string
}

var _ profile.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{profiles: map[string]*record{}, holder: map[profile.Identifier]string{}, consents: map[string]map[string]profile.Consent{}}
}

// Holders returns the live profiles that hold any of ids.
func (s *Store) Holders(_ context.Context, ids []profile.Identifier) ([]profile.Profile, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.holders(ids), nil
}

func (s *Store) holders(ids []profile.Identifier) []profile.Profile {
	var out []profile.Profile
	seen := map[string]bool{}
	for _, id := range ids {
		if pid, ok := s.holder[id]; ok && !seen[pid] {
			seen[pid] = true
			out = append(out, s.profiles[pid].profile.Clone())
		}
	}
	return out
}

// Resolve decides and applies a change under the store's write lock.
func (s *Store) Resolve(_ context.Context, ids []profile.Identifier, decide func([]profile.Profile) (profile.Change, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	change, err := decide(s.holders(ids))
	if err != nil {
		return err
	}
	if err := s.check(change); err != nil {
		return err
	}
	s.apply(change)
	return nil
}

// check verifies that change can be applied in full, so that apply never
// leaves a change half done.
func (s *Store) check(change profile.Change) error {
	if p := change.Create; p != nil {
		if _, ok := s.profiles[p.ID]; ok {
			return fmt.Errorf("create profile %s: id in use", p.ID)
		}
		if err := s.checkFree(p.Identifiers); err != nil {
			return err
		}
	}
	for _, id := range change.Share {
		if _, ok := s.holder[id]; !ok {
			return fmt.Errorf("share %s: held by no profile", id)
		}
	}
	u := change.Update
	if u == nil {
		return nil
	}
	if err := s.checkLive(u.ProfileID); err != nil {
		return err
	}
	for _, m := range u.Merges {
		if err := s.checkLive(m.Merged); err != nil {
			return err
		}
		if m.Merged == u.ProfileID {
			return fmt.Errorf("merge profile %s into itself", m.Merged)
		}
	}
	return s.checkFree(u.Link)
}

func (s *Store) checkLive(id string) error {
	r, ok := s.profiles[id]
	switch {
	case !ok:
		return fmt.Errorf("profile %s does not exist", id)
	case r.mergedInto != "":
		return fmt.Errorf("profile %s was merged into %s", id, r.mergedInto)
	}
	return nil
}

func (s *Store) checkFree(ids []profile.Identifier) error {
	for _, id := range ids {
		if pid, ok := s.holder[id]; ok {
			return fmt.Errorf("link %s: already held by profile %s", id, pid)
		}
	}
	return nil
}

func (s *Store) apply(change profile.Change) {
	for _, id := range change.Share {
		r := s.profiles[s.holder[id]]
		r.profile.Links = maps.Clone(r.profile.Links)
		l := r.profile.Links[id]
		l.Shared = true
		r.profile.Links[id] = l
	}
	if p := change.Create; p != nil {
		s.profiles[p.ID] = &record{profile: p.Clone()}
		i, _ := slices.BinarySearch(s.order, p.ID)
		s.order = slices.Insert(s.order, i, p.ID)
		for _, id := range p.Identifiers {
			s.holder[id] = p.ID
		}
		s.recordTraitChanges(change.TraitChanges)
		return
	}
	u := change.Update
	if u == nil {
		return
	}
	target := &s.profiles[u.ProfileID].profile
	target.Links = maps.Clone(target.Links)
	if target.Links == nil {
		target.Links = map[profile.Identifier]profile.Link{}
	}
	for _, id := range u.Link {
		s.holder[id] = u.ProfileID
		target.Identifiers = append(target.Identifiers, id)
		target.Links[id] = profile.Link{ObserveTime: change.ObserveTime}
	}
	for _, m := range u.Merges {
		r := s.profiles[m.Merged]
		for _, id := range r.profile.Identifiers {
			s.holder[id] = u.ProfileID
		}
		target.Identifiers = append(target.Identifiers, r.profile.Identifiers...)
		maps.Copy(target.Links, r.profile.Links)
		r.profile.Identifiers = nil
		r.profile.Links = nil
		r.profile.UpdateTime = m.Time
		r.mergedInto = u.ProfileID
		m.Identifiers = slices.Clone(m.Identifiers)
		m.Trigger = slices.Clone(m.Trigger)
		m.SurvivorSources = maps.Clone(m.SurvivorSources)
		m.Seq = int64(len(s.merges) + 1)
		s.merges = append(s.merges, m)
		s.appendNotice(profile.Notice{Kind: profile.NoticeMerged, Time: m.Time, Profile: u.ProfileID, Other: m.Merged,
			Identifiers: m.Identifiers, Rule: m.Rule})
		if len(s.consentsLocked(m.Merged)) > 0 {
			s.appendConsentNotice(u.ProfileID, profile.Notice{Time: m.Time})
		}
	}
	target.Traits = maps.Clone(u.Traits)
	target.Sources = maps.Clone(u.Sources)
	target.UpdateTime = u.Time
	s.recordTraitChanges(change.TraitChanges)
}

// Get returns the live profile that id is or was merged into.
func (s *Store) Get(_ context.Context, id string) (profile.Profile, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.profiles[id]
	if !ok {
		return profile.Profile{}, profile.ErrNotFound
	}
	for r.mergedInto != "" {
		r = s.profiles[r.mergedInto]
	}
	return r.profile.Clone(), nil
}

// Lookup returns the profile that holds id.
func (s *Store) Lookup(_ context.Context, id profile.Identifier) (profile.Profile, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	pid, ok := s.holder[id]
	if !ok {
		return profile.Profile{}, profile.ErrNotFound
	}
	return s.profiles[pid].profile.Clone(), nil
}

// List returns live profiles after the id after, in id order.
func (s *Store) List(_ context.Context, after string, limit int) ([]profile.Profile, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, found := slices.BinarySearch(s.order, after)
	if found {
		i++
	}
	var out []profile.Profile
	for ; i < len(s.order) && len(out) < limit; i++ {
		if r := s.profiles[s.order[i]]; r.mergedInto == "" {
			out = append(out, r.profile.Clone())
		}
	}
	return out, nil
}

// Merges returns the merges the profile took part in, oldest first.
func (s *Store) Merges(_ context.Context, id string, after int64, limit int) ([]profile.Merge, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []profile.Merge
	for _, m := range s.merges[min(int(after), len(s.merges)):] {
		if len(out) == limit {
			break
		}
		if m.Survivor == id || m.Merged == id {
			m.Identifiers = slices.Clone(m.Identifiers)
			m.Trigger = slices.Clone(m.Trigger)
			out = append(out, m)
		}
	}
	return out, nil
}

// Unmerge plans and applies a split under the store's write lock.
func (s *Store) Unmerge(_ context.Context, id string, plan func(survivor, merged profile.Profile, m profile.Merge) (profile.Split, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.profiles[id]
	switch {
	case !ok:
		return profile.ErrNotFound
	case r.mergedInto == "":
		return fmt.Errorf("profiles/%s is live: %w", id, profile.ErrNotMerged)
	}
	sr := s.profiles[r.mergedInto]
	if sr.mergedInto != "" {
		return fmt.Errorf("%w: profiles/%s was merged into profiles/%s, which was merged into profiles/%s since: unmerge profiles/%s first",
			profile.ErrConflict, id, r.mergedInto, sr.mergedInto, r.mergedInto)
	}
	at := -1
	for i, m := range s.merges {
		if m.Merged == id && m.Survivor == r.mergedInto && m.UnmergeTime.IsZero() {
			at = i
		}
	}
	if at < 0 {
		return fmt.Errorf("profiles/%s: no standing merge into profiles/%s", id, r.mergedInto)
	}
	m := s.merges[at]
	m.Identifiers = slices.Clone(m.Identifiers)
	m.Trigger = slices.Clone(m.Trigger)
	split, err := plan(sr.profile.Clone(), r.profile.Clone(), m)
	if err != nil {
		return err
	}
	moving := map[profile.Identifier]bool{}
	for _, x := range split.Move {
		if s.holder[x] != r.mergedInto {
			return fmt.Errorf("unmerge: %s is not held by profiles/%s", x, r.mergedInto)
		}
		moving[x] = true
	}
	survivor := &sr.profile
	survivor.Links = maps.Clone(survivor.Links)
	r.profile.Links = map[profile.Identifier]profile.Link{}
	for _, x := range split.Move {
		s.holder[x] = id
		r.profile.Links[x] = survivor.Links[x]
		delete(survivor.Links, x)
	}
	survivor.Identifiers = slices.DeleteFunc(slices.Clone(survivor.Identifiers), func(x profile.Identifier) bool { return moving[x] })
	r.profile.Identifiers = slices.Clone(split.Move)
	survivor.Traits = maps.Clone(split.SurvivorTraits)
	survivor.Sources = maps.Clone(split.SurvivorSources)
	survivor.UpdateTime, r.profile.UpdateTime = split.Time, split.Time
	s.recordTraitChanges(split.TraitChanges)
	r.mergedInto = ""
	s.merges[at].UnmergeTime = split.Time
	s.appendNotice(profile.Notice{Kind: profile.NoticeUnmerged, Time: split.Time, Profile: sr.profile.ID, Other: id,
		Identifiers: split.Move, Kept: slices.SortedFunc(slices.Values(survivor.Identifiers), profile.Compare)})
	s.appendConsentNotice(sr.profile.ID, profile.Notice{Time: split.Time})
	s.appendConsentNotice(id, profile.Notice{Time: split.Time})
	return nil
}

// SetConsents keeps, per purpose, the newer of the stored and the given
// consent of the profile.
func (s *Store) SetConsents(_ context.Context, id string, consents []profile.Consent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.profiles[id]; !ok {
		return profile.ErrNotFound
	}
	byPurpose := s.consents[id]
	if byPurpose == nil {
		byPurpose = map[string]profile.Consent{}
		s.consents[id] = byPurpose
	}
	for _, c := range consents {
		if cur, ok := byPurpose[c.Purpose]; !ok || c.Newer(cur) {
			byPurpose[c.Purpose] = c
		}
	}
	root := id
	for s.profiles[root].mergedInto != "" {
		root = s.profiles[root].mergedInto
	}
	var at time.Time
	for _, c := range consents {
		if c.Time.After(at) {
			at = c.Time
		}
	}
	s.appendConsentNotice(root, profile.Notice{Time: at})
	return nil
}

// Consents returns the newest consent per purpose over the profile and the
// profiles merged into it.
func (s *Store) Consents(_ context.Context, id string) ([]profile.Consent, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.consentsLocked(id), nil
}

// consentsLocked returns the newest consent per purpose over the profile
// and the profiles merged into it. s.mu must be held.
func (s *Store) consentsLocked(id string) []profile.Consent {
	var all []profile.Consent
	for pid, byPurpose := range s.consents {
		if s.within(pid, id) {
			for _, c := range byPurpose {
				all = append(all, c)
			}
		}
	}
	return profile.LatestConsents(all)
}

// within reports whether profile pid is root or was merged into it,
// directly or not.
func (s *Store) within(pid, root string) bool {
	for pid != "" {
		if pid == root {
			return true
		}
		pid = s.profiles[pid].mergedInto
	}
	return false
}
