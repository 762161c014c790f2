package segment

import (
	"context"
	"time"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// BackfillPusher is an optional capability of a Tx: computing the backfill
// of one segment in the store itself, with set-based statements, instead
// of reading every profile's facts and evaluating it here. The engine asks
// for it only when the backfill concerns that segment alone (no exclusive
// group shared with another, no segment testing it) and when its condition
// is false for a profile without facts, so that only the profiles with
// facts of its event names can be members.
type BackfillPusher interface {
	// PushBackfill does the backfill of b when the store can compute its
	// condition: it records, as Record would and in the order of the
	// profiles' names, an entered change for each known profile that
	// matches and is not a member, and an exited change for each known
	// member that no longer matches; and it moves a known profile's next
	// check earlier when time alone can change the condition's value
	// before it. It writes nothing and returns Done false when it cannot
	// compute the condition exactly as Condition.Eval would.
	PushBackfill(ctx context.Context, b PushedBackfill) (PushResult, error)
}

// PushedBackfill is the backfill of one segment that a BackfillPusher is
// asked to do.
type PushedBackfill struct {
	// Segment is the segment, at the revision its changes are recorded
	// under.
	Segment Segment
	// Condition is the segment's compiled condition.
	Condition *condition.Condition
	// Now is the evaluation instant, the end of every window and the time
	// of the changes.
	Now time.Time
	// Reason and TraceContext are those of every change.
	Reason       string
	TraceContext map[string]string
}

// PushResult says what a BackfillPusher did.
type PushResult struct {
	// Done is false when the store cannot compute the condition; it then
	// wrote nothing.
	Done bool
	// Recorded is the number of changes recorded.
	Recorded int
	// Scheduled tells whether a profile's next check moved.
	Scheduled bool
}

// pushBackfill has the store do the backfill of the affected segments of p
// when it can: they are one segment alone in its unit, the store is a
// BackfillPusher, and the condition is false for a profile without facts.
// It returns false when the backfill is left to evaluation here.
func (e *Engine) pushBackfill(ctx context.Context, tx Tx, p *plan, affected map[string]bool, now time.Time, reason string, traceContext map[string]string) (backfillResult, bool, error) {
	pusher, ok := tx.(BackfillPusher)
	if !ok {
		return backfillResult{}, false, nil
	}
	i, ok := soleAffected(p, affected)
	if !ok {
		return backfillResult{}, false, nil
	}
	cond := p.conds[i]
	if cond.UsesRFM() || cond.UsesStore() || len(cond.Segments()) > 0 {
		return backfillResult{}, false, nil
	}
	// A profile without facts of the condition's events must not match:
	// the store only looks at the profiles with some.
	if empty, err := cond.Eval(&condition.Facts{}, now); err == nil && empty {
		return backfillResult{}, false, nil
	}
	r, err := pusher.PushBackfill(ctx, PushedBackfill{Segment: p.segments[i], Condition: cond, Now: now, Reason: reason, TraceContext: traceContext})
	if err != nil || !r.Done {
		return backfillResult{}, false, err
	}
	return backfillResult{recorded: r.Recorded, scheduled: r.Scheduled}, true, nil
}

// soleAffected returns the index in p of the only affected segment, when
// there is exactly one, it has a condition, and its unit holds no other
// segment.
func soleAffected(p *plan, affected map[string]bool) (int, bool) {
	found := -1
	for i, s := range p.segments {
		if !affected[s.ID] {
			continue
		}
		if found >= 0 {
			return 0, false
		}
		found = i
	}
	if found < 0 || p.conds[found] == nil {
		return 0, false
	}
	for _, unit := range p.units {
		for _, i := range unit {
			if i == found {
				return found, len(unit) == 1
			}
		}
	}
	return 0, false
}
