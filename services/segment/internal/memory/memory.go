// Package memory is the in-memory segment store of the single-process dev
// mode and of fast tests. It passes the same conformance suite as the
// Postgres store; nothing survives the process.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// Store is an in-memory segment.Store. Write transactions hold the lock for
// their whole duration and undo their writes when they fail.
type Store struct {
	mu     sync.RWMutex
	cursor int64
	// erased holds the erasedKey of erased profiles.
	erased   map[string]bool
	segments map[string]segment.Segment
	// revisions holds each segment's revisions; revision n at index n-1.
	revisions map[string][]segment.Segment
	traits    map[string]map[string]any
	// consents holds each profile's consents by purpose.
	consents map[string]map[string]bool
	// facts holds each profile's facts sorted by sequence.
	facts map[string][]segment.Fact
	// members and memberOf index the memberships by segment and by profile.
	members  map[string]map[string]segment.Membership
	memberOf map[string]map[string]segment.Membership
	changes  []segment.Change
	// checks holds the scheduled time-driven evaluations.
	checks *checks

	// triggers holds the triggers and their deliveries.
	triggers *triggers
	// scores holds the scores of the latest refresh.
	scores scores
}

var _ segment.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		segments:  map[string]segment.Segment{},
		revisions: map[string][]segment.Segment{},
		traits:    map[string]map[string]any{},
		consents:  map[string]map[string]bool{},
		facts:     map[string][]segment.Fact{},
		members:   map[string]map[string]segment.Membership{},
		memberOf:  map[string]map[string]segment.Membership{},
		checks:    newChecks(),
		triggers:  &triggers{byID: map[string]segment.Trigger{}, pending: map[int64]*segment.Delivery{}, byChange: map[string]bool{}},
	}
}

// Update runs fn under the write lock and undoes its writes if it fails.
func (s *Store) Update(ctx context.Context, fn func(segment.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &tx{s: s}
	err := fn(t)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		for i := len(t.undo) - 1; i >= 0; i-- {
			t.undo[i]()
		}
		return err
	}
	return nil
}

// Cursor returns the position of the last event applied.
func (s *Store) Cursor(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cursor, nil
}

// GetSegment returns a segment.
func (s *Store) GetSegment(_ context.Context, id string) (segment.Segment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seg, ok := s.segments[id]
	if !ok {
		return segment.Segment{}, fmt.Errorf("%w: segments/%s", segment.ErrNotFound, id)
	}
	return seg, nil
}

// ListSegments returns a page of segments by id.
func (s *Store) ListSegments(_ context.Context, after string, limit int, archived bool) ([]segment.Segment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []segment.Segment
	for _, id := range sortedKeys(s.segments) {
		if id > after && (archived || !s.segments[id].Archived()) {
			out = append(out, s.segments[id])
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// GetRevision returns a segment at a revision.
func (s *Store) GetRevision(_ context.Context, id string, revision int64) (segment.Segment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	revs, ok := s.revisions[id]
	switch {
	case !ok:
		return segment.Segment{}, fmt.Errorf("%w: segments/%s", segment.ErrNotFound, id)
	case revision < 1 || revision > int64(len(revs)):
		return segment.Segment{}, fmt.Errorf("%w: segments/%s has no revision %d", segment.ErrRevisionNotFound, id, revision)
	}
	return revs[revision-1], nil
}

// ListRevisions returns a page of a segment's revisions, newest first.
func (s *Store) ListRevisions(_ context.Context, id string, before int64, limit int) ([]segment.Segment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	revs := s.revisions[id]
	var out []segment.Segment
	for i := len(revs) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || revs[i].Revision < before {
			out = append(out, revs[i])
		}
	}
	return out, nil
}

// ProfilePage returns a page of profiles by name, with their facts of the
// given event names.
func (s *Store) ProfilePage(_ context.Context, after string, limit int, events []string) ([]*segment.Profile, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.profilePage(after, limit, events), nil
}

// ListMembers returns a page of a segment's members by profile.
func (s *Store) ListMembers(_ context.Context, seg, after string, limit int) ([]segment.Membership, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	members := s.members[seg]
	var out []segment.Membership
	for _, p := range sortedKeys(members) {
		if p > after {
			out = append(out, members[p])
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// ProfileMemberships returns a profile's memberships by segment.
func (s *Store) ProfileMemberships(_ context.Context, profile string) ([]segment.Membership, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	of := s.memberOf[profile]
	out := make([]segment.Membership, 0, len(of))
	for _, seg := range sortedKeys(of) {
		out = append(out, of[seg])
	}
	return out, nil
}

// ReadChanges returns changes after a position, in order.
func (s *Store) ReadChanges(_ context.Context, after int64, limit int, segments []string) ([]segment.Change, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Sequences are 1, 2, 3...: change n is at index n-1.
	var out []segment.Change
	for i := max(after, 0); i < int64(len(s.changes)) && len(out) < limit; i++ {
		c := s.changes[i]
		if !erased(c) && (len(segments) == 0 || slices.Contains(segments, c.Segment)) {
			c.TraceContext = maps.Clone(c.TraceContext)
			out = append(out, c)
		}
	}
	return out, nil
}

// ListChanges returns changes after a position of a segment and of a
// profile, in order.
func (s *Store) ListChanges(_ context.Context, seg, profile string, after int64, limit int) ([]segment.Change, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []segment.Change
	for i := max(after, 0); i < int64(len(s.changes)) && len(out) < limit; i++ {
		c := s.changes[i]
		if !erased(c) && (seg == "" || c.Segment == seg) && (profile == "" || c.Profile == profile) {
			c.TraceContext = maps.Clone(c.TraceContext)
			out = append(out, c)
		}
	}
	return out, nil
}

// NextCheck returns the earliest scheduled check.
func (s *Store) NextCheck(context.Context) (time.Time, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.checks.Len() == 0 {
		return time.Time{}, nil
	}
	return s.checks.entries[0].at, nil
}

// tx is a write transaction; undo holds the inverse of each write, run in
// reverse order when the transaction fails.
type tx struct {
	s    *Store
	undo []func()
}

func (t *tx) Cursor(context.Context) (int64, error) {
	return t.s.cursor, nil
}

func (t *tx) SetCursor(_ context.Context, seq int64) error {
	old := t.s.cursor
	t.s.cursor = seq
	t.undo = append(t.undo, func() { t.s.cursor = old })
	return nil
}

func (t *tx) CreateSegment(_ context.Context, seg segment.Segment) error {
	if _, ok := t.s.segments[seg.ID]; ok {
		return fmt.Errorf("%w: segments/%s", segment.ErrExists, seg.ID)
	}
	t.s.segments[seg.ID] = seg
	t.s.revisions[seg.ID] = []segment.Segment{seg}
	t.undo = append(t.undo, func() {
		delete(t.s.segments, seg.ID)
		delete(t.s.revisions, seg.ID)
	})
	return nil
}

func (t *tx) UpdateSegment(_ context.Context, seg segment.Segment) error {
	old, ok := t.s.segments[seg.ID]
	if !ok {
		return fmt.Errorf("%w: segments/%s", segment.ErrNotFound, seg.ID)
	}
	revs := t.s.revisions[seg.ID]
	t.s.segments[seg.ID] = seg
	t.s.revisions[seg.ID] = append(revs, seg)
	t.undo = append(t.undo, func() {
		t.s.segments[seg.ID] = old
		t.s.revisions[seg.ID] = revs
	})
	return nil
}

func (t *tx) Segments(context.Context) ([]segment.Segment, error) {
	out := make([]segment.Segment, 0, len(t.s.segments))
	for _, id := range sortedKeys(t.s.segments) {
		out = append(out, t.s.segments[id])
	}
	return out, nil
}

func (t *tx) Profiles(_ context.Context, names, events []string) (map[string]*segment.Profile, error) {
	out := map[string]*segment.Profile{}
	for _, name := range names {
		if _, ok := t.s.traits[name]; ok {
			out[name] = t.s.profile(name, events)
		}
	}
	return out, nil
}

func (t *tx) ProfilePage(_ context.Context, after string, limit int, events []string) ([]*segment.Profile, error) {
	return t.s.profilePage(after, limit, events), nil
}

func (s *Store) profilePage(after string, limit int, events []string) []*segment.Profile {
	var out []*segment.Profile
	for _, name := range sortedKeys(s.traits) {
		if name > after {
			out = append(out, s.profile(name, events))
			if len(out) == limit {
				break
			}
		}
	}
	return out
}

func (s *Store) profile(name string, events []string) *segment.Profile {
	p := &segment.Profile{Name: name, Traits: cloneValue(s.traits[name]).(map[string]any), Consents: maps.Clone(s.consents[name])}
	p.NextCheck, _ = s.checks.get(name)
	if len(events) == 0 {
		return p
	}
	for _, f := range s.facts[name] {
		if slices.Contains(events, f.Name) {
			f.Numbers, f.Strings, f.Flags = maps.Clone(f.Numbers), maps.Clone(f.Strings), maps.Clone(f.Flags)
			p.Events = append(p.Events, f)
		}
	}
	return p
}

func (t *tx) SaveProfiles(_ context.Context, profiles []*segment.Profile) error {
	for _, p := range profiles {
		name := p.Name
		old, existed := t.s.traits[name]
		traits, _ := cloneValue(p.Traits).(map[string]any)
		if traits == nil {
			traits = map[string]any{}
		}
		t.s.traits[name] = traits
		t.undo = append(t.undo, func() {
			if existed {
				t.s.traits[name] = old
			} else {
				delete(t.s.traits, name)
			}
		})
	}
	return nil
}

func (t *tx) AddFacts(_ context.Context, facts []segment.Fact) error {
	bySeq := func(f segment.Fact, seq int64) int { return cmp.Compare(f.Seq, seq) }
	for _, f := range facts {
		stored := t.s.facts[f.Profile]
		i, found := slices.BinarySearchFunc(stored, f.Seq, bySeq)
		if found {
			continue
		}
		f.Numbers, f.Strings, f.Flags = maps.Clone(f.Numbers), maps.Clone(f.Strings), maps.Clone(f.Flags)
		t.s.facts[f.Profile] = slices.Insert(stored, i, f)
		profile, seq := f.Profile, f.Seq
		t.undo = append(t.undo, func() {
			stored := t.s.facts[profile]
			if i, found := slices.BinarySearchFunc(stored, seq, bySeq); found {
				t.s.facts[profile] = slices.Delete(stored, i, i+1)
			}
		})
	}
	return nil
}

func (t *tx) SetNextChecks(_ context.Context, checks []segment.Check) error {
	for _, c := range checks {
		if _, known := t.s.traits[c.Profile]; !known {
			continue
		}
		profile := c.Profile
		old, had := t.s.checks.get(profile)
		t.s.checks.set(profile, c.At)
		t.undo = append(t.undo, func() {
			if had {
				t.s.checks.set(profile, old)
			} else {
				t.s.checks.set(profile, time.Time{})
			}
		})
	}
	return nil
}

func (t *tx) DueProfiles(_ context.Context, now time.Time, limit int) ([]string, error) {
	return t.s.checks.due(now, limit), nil
}

func (t *tx) Members(_ context.Context, seg string) ([]segment.Membership, error) {
	members := t.s.members[seg]
	out := make([]segment.Membership, 0, len(members))
	for _, p := range sortedKeys(members) {
		out = append(out, members[p])
	}
	return out, nil
}

func (t *tx) Memberships(_ context.Context, profiles []string) ([]segment.Membership, error) {
	var out []segment.Membership
	for _, p := range profiles {
		of := t.s.memberOf[p]
		for _, seg := range sortedKeys(of) {
			out = append(out, of[seg])
		}
	}
	return out, nil
}

func (t *tx) Record(_ context.Context, changes []segment.Change) ([]segment.Change, error) {
	s := t.s
	n := len(s.changes)
	t.undo = append(t.undo, func() { s.changes = s.changes[:n] })
	out := make([]segment.Change, len(changes))
	for i, c := range changes {
		c.Seq = int64(len(s.changes)) + 1
		c.TraceContext = maps.Clone(c.TraceContext)
		s.changes = append(s.changes, c)
		out[i] = c
		old, was := s.members[c.Segment][c.Profile]
		switch c.Kind {
		case segment.Entered:
			s.setMember(segment.Membership{Segment: c.Segment, Profile: c.Profile, EnterTime: c.Time, Revision: c.Revision})
		case segment.Exited:
			s.removeMember(c.Segment, c.Profile)
		default:
			return nil, fmt.Errorf("change of kind %v", c.Kind)
		}
		seg, profile := c.Segment, c.Profile
		t.undo = append(t.undo, func() {
			if was {
				s.setMember(old)
			} else {
				s.removeMember(seg, profile)
			}
		})
	}
	return out, nil
}

func (s *Store) setMember(m segment.Membership) {
	if s.members[m.Segment] == nil {
		s.members[m.Segment] = map[string]segment.Membership{}
	}
	if s.memberOf[m.Profile] == nil {
		s.memberOf[m.Profile] = map[string]segment.Membership{}
	}
	s.members[m.Segment][m.Profile] = m
	s.memberOf[m.Profile][m.Segment] = m
}

func (s *Store) removeMember(seg, profile string) {
	delete(s.members[seg], profile)
	delete(s.memberOf[profile], seg)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cloneValue deep-copies a JSON-like value (maps, lists and scalars), so
// that callers never share mutable trait values with the store. A nil map
// becomes an empty one.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
