package memory

import (
	"maps"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// change is a packed segment.Change of the log, whose sequence is its
// position (change n at index n-1): its segment interned and its time in
// microseconds. A change blanked by an erasure has no profile.
type change struct {
	profile string
	reason  string
	// trace is the trace context, nil when empty (emptyTrace tells an
	// empty map from none). Changes recorded in a row with equal trace
	// contexts, such as those of one event, share one map, never written.
	trace      map[string]string
	time       int64
	revision   int64
	segment    uint32
	kind       uint8
	emptyTrace bool
}

// erased reports whether a change of the log was blanked by an erasure.
func (c change) erased() bool { return c.profile == "" }

// appendChange appends c to the log.
func (s *Store) appendChange(c segment.Change) {
	p := change{profile: c.Profile, reason: c.Reason, time: micros(c.Time), revision: c.Revision,
		segment: s.strs.id(c.Segment), kind: uint8(c.Kind), emptyTrace: c.TraceContext != nil && len(c.TraceContext) == 0}
	if len(c.TraceContext) > 0 {
		if n := len(s.changes); n > 0 && maps.Equal(s.changes[n-1].trace, c.TraceContext) {
			p.trace = s.changes[n-1].trace
		} else {
			p.trace = maps.Clone(c.TraceContext)
		}
	}
	s.changes = append(s.changes, p)
}

// change returns change i of the log (sequence i+1), sharing nothing
// mutable with the store.
func (s *Store) change(i int) segment.Change {
	c := s.changes[i]
	out := segment.Change{Seq: int64(i) + 1, Segment: s.strs.name(c.segment), Profile: c.profile, Kind: segment.Kind(c.kind),
		Time: fromMicros(c.time), Revision: c.revision, Reason: c.reason, TraceContext: maps.Clone(c.trace)}
	if c.emptyTrace {
		out.TraceContext = map[string]string{}
	}
	return out
}
