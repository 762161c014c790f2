package memory

import (
	"cmp"
	"slices"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// profile is everything the store keeps of one profile under one entry
// of Store.profiles, so that the profile's name is kept once. The entry
// exists while the profile is known or has facts or memberships.
type profile struct {
	name string
	// traits are the profile's traits: nil until the profile is saved
	// (Profiles and ProfilePage return known profiles only), noTraits for
	// a known profile without traits.
	traits   map[string]any
	consents map[string]bool
	facts    packed
	// memberships are the profile's memberships, in no order.
	memberships []membership
	// check is the position in Store.checks of the profile's check plus
	// one; 0 for none.
	check int32
}

// membership is a packed segment.Membership of a profile: its segment
// interned and its time in microseconds.
type membership struct {
	enter    int64
	revision int64
	segment  uint32
}

// noTraits are the traits of every known profile without traits; never
// written.
var noTraits = map[string]any{}

// known reports whether p was saved.
func (p *profile) known() bool { return p.traits != nil }

// empty reports whether p holds nothing worth an entry.
func (p *profile) empty() bool {
	return !p.known() && len(p.facts.data) == 0 && len(p.memberships) == 0 && p.check == 0
}

// find returns the index of p's membership of segment seg, or -1.
func (p *profile) find(seg uint32) int {
	return slices.IndexFunc(p.memberships, func(m membership) bool { return m.segment == seg })
}

// lookup returns the profile named name, or nil.
func (s *Store) lookup(name string) *profile { return s.profiles[name] }

// known returns the known profile named name, or nil.
func (s *Store) known(name string) *profile {
	if p := s.profiles[name]; p != nil && p.known() {
		return p
	}
	return nil
}

// record returns the profile named name, creating its entry if needed.
func (s *Store) record(name string) *profile {
	p := s.profiles[name]
	if p == nil {
		p = &profile{name: name}
		s.profiles[name] = p
	}
	return p
}

// attach makes p the entry of its name again. Undoing a write attaches the
// profile the write changed: undos run in reverse order, so the entry is
// either p or, if the write emptied p, absent.
func (s *Store) attach(p *profile) { s.profiles[p.name] = p }

// tidy removes p's entry if p holds nothing.
func (s *Store) tidy(p *profile) {
	if p.empty() && s.profiles[p.name] == p {
		delete(s.profiles, p.name)
	}
}

// setMember sets p's membership of segment m.segment.
func (s *Store) setMember(p *profile, m membership) {
	if i := p.find(m.segment); i >= 0 {
		p.memberships[i] = m
		return
	}
	// Memberships change rarely: the slice is kept at its exact size.
	ms := make([]membership, len(p.memberships)+1)
	copy(ms, p.memberships)
	ms[len(p.memberships)] = m
	p.memberships = ms
	if s.members[m.segment] == nil {
		s.members[m.segment] = map[*profile]struct{}{}
	}
	s.members[m.segment][p] = struct{}{}
}

// removeMember removes p's membership of segment seg, if any.
func (s *Store) removeMember(p *profile, seg uint32) {
	i := p.find(seg)
	if i < 0 {
		return
	}
	p.memberships = slices.Clip(slices.Delete(p.memberships, i, i+1))
	if len(p.memberships) == 0 {
		p.memberships = nil
	}
	delete(s.members[seg], p)
}

// membership returns m as a segment.Membership of p.
func (s *Store) membership(p *profile, m membership) segment.Membership {
	return segment.Membership{Segment: s.strs.name(m.segment), Profile: p.name, EnterTime: fromMicros(m.enter), Revision: m.revision}
}

// memberships appends p's memberships, by segment, to out.
func (s *Store) memberships(out []segment.Membership, p *profile) []segment.Membership {
	if p == nil {
		return out
	}
	start := len(out)
	for _, m := range p.memberships {
		out = append(out, s.membership(p, m))
	}
	slices.SortFunc(out[start:], func(a, b segment.Membership) int { return cmp.Compare(a.Segment, b.Segment) })
	return out
}

// segmentMembers returns the members of a segment, by name.
func (s *Store) segmentMembers(seg string) []*profile {
	id, ok := s.strs.lookup(seg)
	if !ok {
		return nil
	}
	out := make([]*profile, 0, len(s.members[id]))
	for p := range s.members[id] {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *profile) int { return cmp.Compare(a.name, b.name) })
	return out
}
