package segment

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// plan is the order in which a profile is evaluated against the segments:
// a segment after every segment it tests with in_segment, and the segments
// of an exclusive group together, by priority, so that the first match
// wins.
type plan struct {
	// segments and conds are in evaluation order; a nil condition (one that
	// no longer compiles) is never a member.
	segments []Segment
	conds    []*condition.Condition
	// units partition the indices of segments: one exclusive group, by
	// priority then id, or one segment outside any group.
	units [][]int
	// names are the event names the conditions depend on.
	names []string
	// rfm and store are the ids of the segments whose conditions read
	// rfm.* and store.*, the scores a refresh changes.
	rfm, store []string
}

// dependency is one in_segment call: segment from tests segment to.
type dependency struct {
	from, to int
	call     condition.Call
}

// PlanError says why segments cannot be evaluated together: an in_segment
// call of an unknown segment, or a cycle of dependencies.
type PlanError struct {
	// Segment is the id of the segment whose definition is at fault.
	Segment string
	// Call is the in_segment call at fault; its Line is 0 when the fault
	// is the segment's exclusive group.
	Call condition.Call
	// Message says what is wrong.
	Message string
}

// Error returns the message, at the position of the call when known.
func (e *PlanError) Error() string {
	if e.Call.Line > 0 {
		return fmt.Sprintf("%d:%d: %s", e.Call.Line, e.Call.Column, e.Message)
	}
	return e.Message
}

// invalid returns the error as the InvalidArgument violation of the field
// of the segment being written, written, that causes it: its condition
// when the fault is one of its calls, else its exclusive group, which
// brought it in with the others.
func (e *PlanError) invalid(written string) error {
	if e.Segment == written && e.Call.Line > 0 {
		return apierror.Invalid("segment.condition", "%v", e)
	}
	if e.Segment != written {
		return apierror.Invalid("segment.exclusive_group", "segments/%s: %v", e.Segment, e)
	}
	return apierror.Invalid("segment.exclusive_group", "%v", e)
}

// newPlan orders segments, whose conditions are conds (nil for one that
// does not compile), for evaluation. It returns a *PlanError when a
// condition tests an unknown segment, a segment of its own exclusive group
// or a segment that depends on it. first, when not empty, is the id of the
// segment whose dependencies are examined first, so that a cycle it closes
// is reported from its side.
func newPlan(segments []Segment, conds []*condition.Condition, first string) (*plan, error) {
	index := make(map[string]int, len(segments))
	for i, s := range segments {
		index[s.ID] = i
	}
	// Units: one per group, one per segment outside any group.
	unitOf := make([]int, len(segments))
	var units [][]int
	groupUnit := map[string]int{}
	for i, s := range segments {
		if s.Group == "" {
			unitOf[i] = len(units)
			units = append(units, []int{i})
			continue
		}
		u, ok := groupUnit[s.Group]
		if !ok {
			u = len(units)
			groupUnit[s.Group] = u
			units = append(units, nil)
		}
		unitOf[i] = u
		units[u] = append(units[u], i)
	}
	for _, u := range units {
		slices.SortFunc(u, func(a, b int) int {
			return cmp.Or(cmp.Compare(segments[a].Priority, segments[b].Priority), cmp.Compare(segments[a].ID, segments[b].ID))
		})
	}
	deps := make([][]dependency, len(units))
	for i, c := range conds {
		if c == nil {
			continue
		}
		for _, call := range c.Calls() {
			if call.Segment == "" {
				continue
			}
			j, ok := index[call.Segment]
			switch {
			case !ok:
				return nil, &PlanError{Segment: segments[i].ID, Call: call,
					Message: fmt.Sprintf("in_segment(%q): there is no segment %q", call.Segment, call.Segment)}
			case j == i:
				return nil, &PlanError{Segment: segments[i].ID, Call: call,
					Message: fmt.Sprintf("in_segment(%q): a segment cannot test its own membership", call.Segment)}
			case unitOf[j] == unitOf[i]:
				return nil, &PlanError{Segment: segments[i].ID, Call: call,
					Message: fmt.Sprintf("in_segment(%q): segments/%s is in the same exclusive group %q; its members cannot test each other",
						call.Segment, call.Segment, segments[i].Group)}
			}
			deps[unitOf[i]] = append(deps[unitOf[i]], dependency{from: i, to: j, call: call})
		}
	}

	// Depth-first, dependencies first; a unit met again while it is being
	// visited closes a cycle.
	state := make([]int, len(units))
	var order []int
	var path []dependency
	var visit func(u int) error
	visit = func(u int) error {
		state[u] = 1
		for _, d := range deps[u] {
			v := unitOf[d.to]
			switch state[v] {
			case 1:
				return cycleError(segments, unitOf, append(path, d), v)
			case 0:
				path = append(path, d)
				if err := visit(v); err != nil {
					return err
				}
				path = path[:len(path)-1]
			}
		}
		state[u] = 2
		order = append(order, u)
		return nil
	}
	starts := make([]int, 0, len(units))
	if i, ok := index[first]; ok {
		starts = append(starts, unitOf[i])
	}
	for u := range units {
		starts = append(starts, u)
	}
	for _, u := range starts {
		if state[u] == 0 {
			if err := visit(u); err != nil {
				return nil, err
			}
		}
	}

	p := &plan{}
	seen := map[string]bool{}
	for _, u := range order {
		unit := make([]int, len(units[u]))
		for k, i := range units[u] {
			unit[k] = len(p.segments)
			p.segments = append(p.segments, segments[i])
			p.conds = append(p.conds, conds[i])
			if conds[i] == nil {
				continue
			}
			if conds[i].UsesRFM() {
				p.rfm = append(p.rfm, segments[i].ID)
			}
			if conds[i].UsesStore() {
				p.store = append(p.store, segments[i].ID)
			}
			for _, n := range conds[i].EventNames() {
				if !seen[n] {
					seen[n] = true
					p.names = append(p.names, n)
				}
			}
		}
		p.units = append(p.units, unit)
	}
	return p, nil
}

// cycleError describes the cycle that path closes by coming back to the
// unit back, reporting it at the call of the first dependency of the cycle.
func cycleError(segments []Segment, unitOf []int, path []dependency, back int) *PlanError {
	start := len(path) - 1
	for start > 0 && unitOf[path[start].from] != back {
		start--
	}
	cycle := path[start:]
	steps := make([]string, len(cycle))
	for k, d := range cycle {
		steps[k] = fmt.Sprintf("segments/%s tests segments/%s", segments[d.from].ID, segments[d.to].ID)
		if g := segments[d.to].Group; g != "" && k+1 < len(cycle) && cycle[k+1].from != d.to {
			steps[k] += fmt.Sprintf(", in exclusive group %q with segments/%s", g, segments[cycle[k+1].from].ID)
		}
	}
	if g := segments[cycle[len(cycle)-1].to].Group; g != "" && cycle[len(cycle)-1].to != cycle[0].from {
		steps[len(steps)-1] += fmt.Sprintf(", in exclusive group %q with segments/%s", g, segments[cycle[0].from].ID)
	}
	return &PlanError{Segment: segments[cycle[0].from].ID, Call: cycle[0].call,
		Message: fmt.Sprintf("in_segment(%q) closes a cycle: %s", cycle[0].call.Segment, strings.Join(steps, "; "))}
}

// affected returns the ids of the segments whose memberships may change
// when the segments ids change: them, the other members of their exclusive
// groups, and every segment that tests one of those, transitively.
func (p *plan) affected(ids ...string) map[string]bool {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	for changed := true; changed; {
		changed = false
		for _, unit := range p.units {
			hit := false
			for _, i := range unit {
				if out[p.segments[i].ID] {
					hit = true
					continue
				}
				if p.conds[i] == nil {
					continue
				}
				for _, ref := range p.conds[i].Segments() {
					if out[ref] {
						hit = true
						out[p.segments[i].ID], changed = true, true
						break
					}
				}
			}
			if !hit {
				continue
			}
			for _, i := range unit {
				if !out[p.segments[i].ID] {
					out[p.segments[i].ID], changed = true, true
				}
			}
		}
	}
	return out
}
