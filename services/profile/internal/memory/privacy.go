package memory

import (
	"context"
	"crypto/rand"
	"maps"
	"slices"
	"time"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// privacy is the Store's erasure state: the suppressed hashes, the key
// they are made with, and how many erasures happened.
type privacy struct {
	key        []byte
	suppressed map[string]time.Time
	erasures   int
}

// SuppressionKey returns a random key made on first use; it lives as long
// as the Store, like everything it keys.
func (s *Store) SuppressionKey(context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.privacy.key == nil {
		s.privacy.key = make([]byte, 32)
		if _, err := rand.Read(s.privacy.key); err != nil {
			s.privacy.key = nil
			return nil, err
		}
	}
	return slices.Clone(s.privacy.key), nil
}

// Suppressed returns which of hashes are suppressed.
func (s *Store) Suppressed(_ context.Context, hashes [][]byte) (map[string]bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]bool{}
	for _, h := range hashes {
		if _, ok := s.privacy.suppressed[string(h)]; ok {
			out[string(h)] = true
		}
	}
	return out, nil
}

// Erase deletes the person under the store's write lock.
func (s *Store) Erase(_ context.Context, id string, at time.Time, hash func(profile.Identifier) []byte) (profile.Erasure, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	root, ok := s.profiles[id]
	if !ok {
		return profile.Erasure{}, profile.ErrNotFound
	}
	for root.mergedInto != "" {
		root = s.profiles[root.mergedInto]
	}
	rootID := root.profile.ID
	tree := s.tree(rootID)
	e := profile.Erasure{Profile: rootID, Profiles: append([]string{rootID}, tree...), Time: at}
	erased := map[string]bool{}
	for _, pid := range e.Profiles {
		erased[pid] = true
	}
	gone := map[profile.Identifier]bool{}
	for x, pid := range s.holder {
		if erased[pid] {
			e.Identifiers = append(e.Identifiers, x)
			gone[x] = true
		}
	}
	if s.privacy.suppressed == nil {
		s.privacy.suppressed = map[string]time.Time{}
	}
	for _, x := range e.Identifiers {
		delete(s.holder, x)
		s.privacy.suppressed[string(hash(x))] = at
	}
	// The matching signals hold names, postcodes, addresses and devices.
	s.deleteMatchData(e.Profiles)
	s.deleteRefusals(e.Profiles)
	s.deleteTraitChanges(erased)
	for _, pid := range e.Profiles {
		e.Consents += len(s.consents[pid])
		delete(s.consents, pid)
		delete(s.profiles, pid)
	}
	s.order = slices.DeleteFunc(s.order, func(pid string) bool { return erased[pid] })
	for i, m := range s.merges {
		switch {
		case erased[m.Survivor] || erased[m.Merged]:
			// A tombstone keeps the Seq of later merges their index + 1.
			s.merges[i] = profile.Merge{Seq: m.Seq}
			e.Merges++
		case slices.ContainsFunc(m.Identifiers, func(x profile.Identifier) bool { return gone[x] }) ||
			slices.ContainsFunc(m.Trigger, func(x profile.Identifier) bool { return gone[x] }):
			m.Identifiers = slices.DeleteFunc(slices.Clone(m.Identifiers), func(x profile.Identifier) bool { return gone[x] })
			m.Trigger = slices.DeleteFunc(slices.Clone(m.Trigger), func(x profile.Identifier) bool { return gone[x] })
			s.merges[i] = m
			e.MergesScrubbed++
		}
	}
	s.privacy.erasures++
	s.appendNotice(profile.Notice{Kind: profile.NoticeErased, Profile: rootID, Time: at})
	s.redactNotices(e.Profiles)
	return e, nil
}

// tree returns the ids of the profiles merged into root, directly or not,
// in id order. s.mu must be held.
func (s *Store) tree(root string) []string {
	var out []string
	for _, pid := range s.order {
		if pid != root && s.within(pid, root) {
			out = append(out, pid)
		}
	}
	return out
}

// Tree returns the live profile that id is or was merged into, the
// profiles merged into it, and their recorded consents.
func (s *Store) Tree(_ context.Context, id string) (profile.Profile, []profile.Profile, []profile.RecordedConsent, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.profiles[id]
	if !ok {
		return profile.Profile{}, nil, nil, profile.ErrNotFound
	}
	for r.mergedInto != "" {
		r = s.profiles[r.mergedInto]
	}
	root := r.profile.Clone()
	ids := append([]string{root.ID}, s.tree(root.ID)...)
	var (
		merged   []profile.Profile
		consents []profile.RecordedConsent
	)
	for _, pid := range ids {
		if pid != root.ID {
			merged = append(merged, s.profiles[pid].profile.Clone())
		}
		for _, c := range profile.LatestConsents(slices.Collect(maps.Values(s.consents[pid]))) {
			consents = append(consents, profile.RecordedConsent{Profile: pid, Consent: c})
		}
	}
	return root, merged, consents, nil
}
