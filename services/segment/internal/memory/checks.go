package memory

import (
	"container/heap"
	"time"
)

// check is a scheduled evaluation of a profile.
type check struct {
	at      time.Time
	profile string
}

func (c check) less(o check) bool {
	if !c.at.Equal(o.at) {
		return c.at.Before(o.at)
	}
	return c.profile < o.profile
}

// checks is a min-heap of the scheduled checks, one per profile, with the
// position of each profile's entry so that it can be moved or removed in
// O(log n).
type checks struct {
	entries []check
	index   map[string]int
}

func newChecks() *checks { return &checks{index: map[string]int{}} }

func (h *checks) Len() int           { return len(h.entries) }
func (h *checks) Less(i, j int) bool { return h.entries[i].less(h.entries[j]) }
func (h *checks) Swap(i, j int) {
	h.entries[i], h.entries[j] = h.entries[j], h.entries[i]
	h.index[h.entries[i].profile], h.index[h.entries[j].profile] = i, j
}
func (h *checks) Push(x any) {
	c := x.(check)
	h.index[c.profile] = len(h.entries)
	h.entries = append(h.entries, c)
}
func (h *checks) Pop() any {
	c := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	delete(h.index, c.profile)
	return c
}

// get returns a profile's check.
func (h *checks) get(profile string) (time.Time, bool) {
	i, ok := h.index[profile]
	if !ok {
		return time.Time{}, false
	}
	return h.entries[i].at, true
}

// set schedules a profile's check at at, or removes it for the zero time.
func (h *checks) set(profile string, at time.Time) {
	i, ok := h.index[profile]
	switch {
	case at.IsZero() && ok:
		heap.Remove(h, i)
	case at.IsZero():
	case ok:
		h.entries[i].at = at
		heap.Fix(h, i)
	default:
		heap.Push(h, check{at: at, profile: profile})
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
		if h.entries[i].at.After(now) {
			break
		}
		out = append(out, h.entries[i].profile)
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
