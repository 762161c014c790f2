package memory

import (
	"container/heap"
	"time"
)

// check is a scheduled evaluation of a profile, at a time in
// microseconds.
type check struct {
	at      int64
	profile *profile
}

func (c check) less(o check) bool {
	if c.at != o.at {
		return c.at < o.at
	}
	return c.profile.name < o.profile.name
}

// checks is a min-heap of the scheduled checks, one per profile. Each
// profile keeps the position of its entry (profile.check) so that it can
// be moved or removed in O(log n).
type checks struct {
	entries []check
}

func newChecks() *checks { return &checks{} }

func (h *checks) Len() int           { return len(h.entries) }
func (h *checks) Less(i, j int) bool { return h.entries[i].less(h.entries[j]) }
func (h *checks) Swap(i, j int) {
	h.entries[i], h.entries[j] = h.entries[j], h.entries[i]
	h.entries[i].profile.check, h.entries[j].profile.check = int32(i)+1, int32(j)+1
}
func (h *checks) Push(x any) {
	c := x.(check)
	c.profile.check = int32(len(h.entries)) + 1
	h.entries = append(h.entries, c)
}
func (h *checks) Pop() any {
	c := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	c.profile.check = 0
	return c
}

// get returns a profile's check.
func (h *checks) get(p *profile) (time.Time, bool) {
	if p.check == 0 {
		return time.Time{}, false
	}
	return fromMicros(h.entries[p.check-1].at), true
}

// set schedules a profile's check at at, or removes it for the zero time.
func (h *checks) set(p *profile, at time.Time) {
	i := int(p.check) - 1
	switch {
	case at.IsZero() && i >= 0:
		heap.Remove(h, i)
	case at.IsZero():
	case i >= 0:
		h.entries[i].at = micros(at)
		heap.Fix(h, i)
	default:
		heap.Push(h, check{at: micros(at), profile: p})
	}
}

// due returns up to limit profiles with checks at or before now, in order.
// It walks only the part of the heap that is due, keeping the frontier of
// candidates in a second heap: O(limit log limit), whatever the number of
// checks.
func (h *checks) due(now time.Time, limit int) []string {
	var out []string
	frontier := &positions{h: h}
	if h.Len() > 0 {
		heap.Push(frontier, 0)
	}
	for frontier.Len() > 0 && len(out) < limit {
		i := heap.Pop(frontier).(int)
		if h.entries[i].at > micros(now) {
			break
		}
		out = append(out, h.entries[i].profile.name)
		for _, child := range []int{2*i + 1, 2*i + 2} {
			if child < h.Len() {
				heap.Push(frontier, child)
			}
		}
	}
	return out
}

// positions is a min-heap of positions in a checks heap, by their checks.
type positions struct {
	h   *checks
	pos []int
}

func (p *positions) Len() int           { return len(p.pos) }
func (p *positions) Less(i, j int) bool { return p.h.Less(p.pos[i], p.pos[j]) }
func (p *positions) Swap(i, j int)      { p.pos[i], p.pos[j] = p.pos[j], p.pos[i] }
func (p *positions) Push(x any)         { p.pos = append(p.pos, x.(int)) }
func (p *positions) Pop() any {
	x := p.pos[len(p.pos)-1]
	p.pos = p.pos[:len(p.pos)-1]
	return x
}
