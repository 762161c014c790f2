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
	s := t.s
	p := s.record(profile)
	old := p.facts
	p.facts = pack(&s.strs, facts)
	s.tidy(p)
	t.undo = append(t.undo, func() {
		s.attach(p)
		p.facts = old
		s.tidy(p)
	})
	return nil
}

// SetConsents replaces a profile's consents, creating the profile.
func (t *tx) SetConsents(_ context.Context, profile string, consents map[string]bool) error {
	s := t.s
	p := s.record(profile)
	traits, old := p.traits, p.consents
	if !p.known() {
		p.traits = noTraits
	}
	p.consents = maps.Clone(consents)
	t.undo = append(t.undo, func() {
		s.attach(p)
		p.traits, p.consents = traits, old
		s.tidy(p)
	})
	return nil
}

// DeleteProfiles forgets profiles' traits, consents, facts and checks.
func (t *tx) DeleteProfiles(_ context.Context, profiles []string) error {
	s := t.s
	for _, name := range profiles {
		p := s.lookup(name)
		if p == nil {
			continue
		}
		check, _ := s.checks.get(p)
		s.checks.set(p, time.Time{})
		old := *p
		p.traits, p.consents, p.facts = nil, nil, packed{}
		s.tidy(p)
		t.undo = append(t.undo, func() {
			s.attach(p)
			p.traits, p.consents, p.facts = old.traits, old.consents, old.facts
			s.checks.set(p, check)
			s.tidy(p)
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
	var of []membership
	if p := s.lookup(profile); p != nil {
		of = slices.Clone(p.memberships)
		for _, m := range of {
			s.removeMember(p, m.segment)
		}
		s.tidy(p)
		t.undo = append(t.undo, func() {
			s.attach(p)
			for _, m := range of {
				s.setMember(p, m)
			}
		})
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
	old := map[int]change{}
	for i, c := range s.changes {
		if c.profile == profile {
			old[i] = c
			s.changes[i] = change{}
			blanked = append(blanked, i)
		}
	}
	t.undo = append(t.undo, func() {
		if !wasErased {
			delete(s.erased, key)
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

// erasedKey is what the store keeps of an erased profile: the SHA-256 of
// its name, which names no one.
func erasedKey(profile string) string {
	h := sha256.Sum256([]byte(profile))
	return string(h[:])
}
