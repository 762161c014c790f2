package condition

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// MaxSteps is the most steps a sequence may have.
const MaxSteps = 8

// sequenceFunctions are the functions over several event names: ordered
// sequences with a maximum gap, and abandonment (an event not followed by
// another for a while).
func sequenceFunctions() []function {
	return []function{
		{
			name: "sequence", signature: `sequence([event, ...], gap [, window]) → bool`,
			doc: "whether events with these names happened in this order, each at most gap after the previous one " +
				"(two at the same instant count as in order), all of them in the window or at any time; 2 to 8 steps",
			base: []argKind{argSteps, argGap}, windowed: true, noFilter: true, result: cel.BoolType,
			evaluate: func(c Call, f *Facts, now time.Time) (ref.Val, bool) {
				return types.Bool(sequenceHappened(c, f, now)), true
			},
			next: func(c Call, f *Facts, now time.Time) time.Time {
				var next time.Time
				if c.Window.IsZero() {
					return next
				}
				for _, name := range c.Steps {
					for _, e := range f.byName[name] {
						next = earlier(next, c.Window.next(e.Time, now))
					}
				}
				return next
			},
		},
		{
			name: "abandoned", signature: `abandoned(event, unless, after [, window]) → bool`,
			doc: "whether the last event with the first name happened at least the given time ago and no event with the " +
				"second name happened at or since it, such as a cart left 4h without an order; with a window, that last event must be in it",
			base: []argKind{argEvent, argUnless, argGap}, windowed: true, noFilter: true, result: cel.BoolType,
			evaluate: func(c Call, f *Facts, now time.Time) (ref.Val, bool) {
				last, open := openSince(c, f)
				return types.Bool(open && !now.Before(last.Add(c.Gap)) && (c.Window.IsZero() || c.Window.Contains(last, now))), true
			},
			next: func(c Call, f *Facts, now time.Time) time.Time {
				last, open := openSince(c, f)
				if !open {
					return time.Time{}
				}
				var next time.Time
				if at := last.Add(c.Gap); at.After(now) {
					next = at
				}
				if !c.Window.IsZero() {
					next = earlier(next, c.Window.next(last, now))
				}
				return next
			},
		},
	}
}

// earlier returns the earlier of two instants, the zero time meaning none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// openSince returns the time of the last event of an abandoned call, and
// whether no cancelling event happened at or after it.
func openSince(c Call, f *Facts) (time.Time, bool) {
	last, ok := lastTime(f.byName[c.Steps[0]])
	if !ok {
		return last, false
	}
	for _, e := range f.byName[c.Steps[1]] {
		if !e.Time.Before(last) {
			return last, false
		}
	}
	return last, true
}

// occurrence is one event that can complete the steps of a sequence so far.
type occurrence struct {
	at    time.Time
	index int
}

// sequenceHappened reports whether the steps of a sequence call happened
// in order with no gap longer than the call's. It keeps, step by step, the
// events that end a valid chain of the steps so far: an event of the next
// step extends a chain when the latest chain ending at or before it (and
// not on the event itself) ended at most the gap before it.
func sequenceHappened(c Call, f *Facts, now time.Time) bool {
	var prev []occurrence
	for i, name := range c.Steps {
		var cur []occurrence
		for j, e := range f.byName[name] {
			if !c.Window.IsZero() && !c.Window.Contains(e.Time, now) {
				continue
			}
			if i == 0 || extends(prev, e.Time, c.Gap, name == c.Steps[i-1], j) {
				cur = append(cur, occurrence{at: e.Time, index: j})
			}
		}
		if len(cur) == 0 {
			return false
		}
		slices.SortFunc(cur, func(a, b occurrence) int { return a.at.Compare(b.at) })
		prev = cur
	}
	return true
}

// extends reports whether an event at t, the index-th of its name, follows
// one of the chain ends in prev (sorted by time) within gap; sameName says
// whether prev holds events of the same name, which t must not reuse.
func extends(prev []occurrence, t time.Time, gap time.Duration, sameName bool, index int) bool {
	k, _ := slices.BinarySearchFunc(prev, t, func(o occurrence, t time.Time) int {
		if o.at.After(t) {
			return 1
		}
		return -1
	})
	for k--; k >= 0; k-- {
		if sameName && prev[k].index == index {
			continue
		}
		return !prev[k].at.Before(t.Add(-gap))
	}
	return false
}

// stepsLiteral reads the steps of a sequence from a list literal, or says
// what is wrong with it and where.
func stepsLiteral(arg ast.Expr) ([]string, ast.Expr, string) {
	if arg.Kind() != ast.ListKind {
		return nil, arg, `the steps must be a list literal of event names, such as ["Product Viewed", "Product Added"]`
	}
	elems := arg.AsList().Elements()
	if len(elems) < 2 || len(elems) > MaxSteps {
		return nil, arg, fmt.Sprintf("a sequence has 2 to %d steps, this one %d", MaxSteps, len(elems))
	}
	steps := make([]string, len(elems))
	for i, el := range elems {
		s, ok := literal(el)
		switch {
		case !ok:
			return nil, el, "each step must be an event name, a string literal"
		case s == "":
			return nil, el, "an event name must not be empty"
		}
		steps[i] = s
	}
	return steps, nil, ""
}

// stepsKey encodes the steps of a sequence.
func stepsKey(steps []string) string {
	quoted := make([]string, len(steps))
	for i, s := range steps {
		quoted[i] = strconv.Quote(s)
	}
	return strings.Join(quoted, ",")
}
