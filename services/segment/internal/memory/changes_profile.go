package memory

import (
	"context"
	"crypto/sha256"
	"maps"
	"slices"
	"time"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// ReplaceFacts replaces every fact of a profile.
func (t *tx) ReplaceFacts(_ context.Context, profile string, facts []segment.Fact) error {
	old, had := t.s.facts[profile]
	stored := make([]segment.Fact, 0, len(facts))
	for _, f := range facts {
		f.Profile = profile
		f.Numbers, f.Strings, f.Flags = maps.Clone(f.Numbers), maps.Clone(f.Strings), maps.Clone(f.Flags)
		stored = append(stored, f)
	}
	slices.SortFunc(stored, func(a, b segment.Fact) int { return int(a.Seq - b.Seq) })
	stored = slices.CompactFunc(stored, func(a, b segment.Fact) bool { return a.Seq == b.Seq })
	t.s.facts[profile] = stored
	t.undo = append(t.undo, func() { t.s.restoreFacts(profile, old, had) })
	return nil
}

func (s *Store) restoreFacts(profile string, facts []segment.Fact, had bool) {
	if had {
		s.facts[profile] = facts
	} else {
		delete(s.facts, profile)
	}
}

// SetConsents replaces a profile's consents, creating the profile.
func (t *tx) SetConsents(_ context.Context, profile string, consents map[string]bool) error {
	s := t.s
	oldTraits, known := s.traits[profile]
	oldConsents, had := s.consents[profile]
	if !known {
		s.traits[profile] = map[string]any{}
	}
	s.consents[profile] = maps.Clone(consents)
	t.undo = append(t.undo, func() {
		if known {
			s.traits[profile] = oldTraits
		} else {
			delete(s.traits, profile)
		}
		if had {
			s.consents[profile] = oldConsents
		} else {
			delete(s.consents, profile)
		}
	})
	return nil
}

// DeleteProfiles forgets profiles' traits, consents, facts and checks.
func (t *tx) DeleteProfiles(_ context.Context, profiles []string) error {
	s := t.s
	for _, name := range profiles {
		traits, known := s.traits[name]
		consents, hadConsents := s.consents[name]
		facts, hadFacts := s.facts[name]
		check, hadCheck := s.checks.get(name)
		delete(s.traits, name)
		delete(s.consents, name)
		delete(s.facts, name)
		s.checks.set(name, time.Time{})
		t.undo = append(t.undo, func() {
			if known {
				s.traits[name] = traits
			}
			if hadConsents {
				s.consents[name] = consents
			}
			s.restoreFacts(name, facts, hadFacts)
			if hadCheck {
				s.checks.set(name, check)
			}
		})
	}
	return nil
}

// EraseProfile deletes everything kept of a profile. The change log keeps
// its positions (change n at index n-1): the profile's changes become
// blank entries that readers skip.
func (t *tx) EraseProfile(ctx context.Context, profile string) error {
	if err := t.DeleteProfiles(ctx, []string{profile}); err != nil {
		return err
	}
	s := t.s
	of := maps.Clone(s.memberOf[profile])
	for seg := range of {
		s.removeMember(seg, profile)
	}
	rfm, hadRFM := s.scores.rfm[profile]
	delete(s.scores.rfm, profile)
	key := erasedKey(profile)
	wasErased := s.erased[key]
	if s.erased == nil {
		s.erased = map[string]bool{}
	}
	s.erased[key] = true
	var blanked []int
	old := map[int]segment.Change{}
	for i, c := range s.changes {
		if c.Profile == profile {
			old[i] = c
			s.changes[i] = segment.Change{Seq: c.Seq}
			blanked = append(blanked, i)
		}
	}
	t.undo = append(t.undo, func() {
		if !wasErased {
			delete(s.erased, key)
		}
		for _, m := range of {
			s.setMember(m)
		}
		if hadRFM {
			s.scores.rfm[profile] = rfm
		}
		for _, i := range blanked {
			s.changes[i] = old[i]
		}
	})
	// Trigger deliveries are kept outside write transactions: they are
	// forgotten now, and not restored if the transaction fails (a retry
	// forgets them again).
	tr := s.triggers
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, d := range tr.log {
		if d.Profile == profile {
			delete(tr.pending, d.ID)
			*d = segment.Delivery{ID: d.ID, Change: d.Change, State: segment.Skipped}
		}
	}
	return nil
}

// erased reports whether a change of the log was blanked by an erasure.
func erased(c segment.Change) bool { return c.Profile == "" }

// erasedKey is what the store keeps of an erased profile: the SHA-256 of
// its name, which names no one.
func erasedKey(profile string) string {
	h := sha256.Sum256([]byte(profile))
	return string(h[:])
}
