// Package metrics holds the metrics service's domain: membership changes fed
// by the segment service and the events of the event service's log, the
// per-segment totals, daily movement, member-days and activity they add up
// to, the reports, comparisons, migration matrices and experiments computed
// from them, the Store that keeps them, and the Tracker that applies the
// feeds and answers queries.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Errors of the metrics domain.
var (
	// ErrNotFound is returned by a Store for a segment it has no membership
	// change of.
	ErrNotFound = fmt.Errorf("no metrics recorded: %w", apierror.ErrNotFound)
	// ErrUnknownSegment says the segment service does not know the segment.
	ErrUnknownSegment = fmt.Errorf("segment %w", apierror.ErrNotFound)
	// ErrCursorBehind rejects a batch whose cursor is before one of its
	// changes: storing it would count those changes again on redelivery.
	ErrCursorBehind = errors.New("cursor is before an entry of its batch")
	// ErrNoExperiment is returned for a segment without an experiment.
	ErrNoExperiment = fmt.Errorf("experiment %w", apierror.ErrNotFound)
)

// Kind is the direction of a membership change.
type Kind int8

// Kinds of membership change.
const (
	Entered Kind = iota + 1
	Exited
)

// String returns "entered" or "exited", as in logs and span attributes.
func (k Kind) String() string {
	switch k {
	case Entered:
		return "entered"
	case Exited:
		return "exited"
	}
	return fmt.Sprintf("Kind(%d)", int8(k))
}

// Change is one membership change from the segment service's feed.
type Change struct {
	// Seq is the change's position in the feed (its decoded cursor).
	Seq int64
	// Segment is the segment id, without the "segments/" prefix.
	Segment string
	// Profile is the profile's resource name.
	Profile string
	// Kind says whether the profile entered or exited.
	Kind Kind
	// Time is when the change happened.
	Time time.Time
	// TraceContext is the W3C trace context of the work that caused it.
	TraceContext map[string]string
}

// Day is a segment's movement on one UTC day.
type Day struct {
	// Date is midnight UTC of the day.
	Date time.Time
	// Entered and Exited count the changes of the day.
	Entered, Exited int64
	// Size is the segment's size at the end of the day: every entry minus
	// every exit up to and including the day.
	Size int64
}

// SegmentMetrics is how one segment is doing.
type SegmentMetrics struct {
	// Segment is the segment id.
	Segment string
	// Size is the current number of members.
	Size int64
	// EnteredTotal and ExitedTotal count every entry and exit ever applied.
	EnteredTotal, ExitedTotal int64
	// UpdateTime is the latest change time applied; zero when none.
	UpdateTime time.Time
	// History holds the days with changes, oldest first.
	History []Day
}

// Store keeps the metrics and the cursor of the membership feed. Apply is
// atomic and idempotent, so a feed delivered at least once is counted
// exactly once.
type Store interface {
	// Cursor returns the position of the last membership change applied; 0
	// before the first.
	Cursor(ctx context.Context) (int64, error)
	// Apply applies, in one transaction, the changes after the stored
	// cursor, skipping the others, and stores cursor (when it is ahead). It
	// returns the number of changes applied, and ErrCursorBehind when a
	// change is after cursor.
	Apply(ctx context.Context, changes []Change, cursor int64) (int, error)
	// SegmentMetrics returns a segment's metrics, history oldest first, or
	// ErrNotFound when no change of the segment was ever applied.
	SegmentMetrics(ctx context.Context, segment string) (SegmentMetrics, error)
	// Memberships returns every applied membership change of the segments
	// with a time before before, ordered by time then position.
	Memberships(ctx context.Context, segments []string, before time.Time) ([]Change, error)

	// EventCursor returns the position of the last event of the event log
	// applied; 0 before the first.
	EventCursor(ctx context.Context) (int64, error)
	// ApplyEvents applies, in one transaction, the events after the stored
	// event cursor, skipping the others, and stores cursor (when it is
	// ahead). It returns the number of events applied, and ErrCursorBehind
	// when an event is after cursor.
	ApplyEvents(ctx context.Context, events []Event, cursor int64) (int, error)
	// Activity returns the activity of every profile on the days from from
	// to to (midnights UTC, both included), sorted by profile then date.
	Activity(ctx context.Context, from, to time.Time) ([]ProfileDay, error)
	// Profiles counts the profiles first seen, in the event log or in a
	// membership change, before before.
	Profiles(ctx context.Context, before time.Time) (int64, error)

	// Experiment returns a segment's experiment, or ErrNoExperiment.
	Experiment(ctx context.Context, segment string) (Experiment, error)
	// PutExperiment creates or replaces a segment's experiment.
	PutExperiment(ctx context.Context, e Experiment) error
}

// Fresh returns the changes of a batch that come after the stored cursor,
// in their order; it returns ErrCursorBehind when a change is after the
// batch's cursor. Stores call it inside their transaction.
func Fresh(changes []Change, stored, cursor int64) ([]Change, error) {
	fresh := make([]Change, 0, len(changes))
	for _, c := range changes {
		if c.Seq > cursor {
			return nil, fmt.Errorf("change %d after cursor %d: %w", c.Seq, cursor, ErrCursorBehind)
		}
		if c.Seq > stored {
			fresh = append(fresh, c)
		}
	}
	return fresh, nil
}

// SegmentDelta is what a batch of changes adds to one segment.
type SegmentDelta struct {
	// Segment is the segment id.
	Segment string
	// Entered and Exited count the batch's changes of the segment.
	Entered, Exited int64
	// UpdateTime is the latest change time of the batch, at the microsecond
	// precision every store keeps.
	UpdateTime time.Time
	// Days holds the movement per UTC day, oldest first; Size is unused.
	Days []Day
}

// Net is the change in size.
func (d SegmentDelta) Net() int64 { return d.Entered - d.Exited }

// Summarize adds up changes per segment (sorted by id) and per day. Changes
// of unknown kinds are ignored.
func Summarize(changes []Change) []SegmentDelta {
	bySegment := map[string]*SegmentDelta{}
	for _, c := range changes {
		if c.Kind != Entered && c.Kind != Exited {
			continue
		}
		d := bySegment[c.Segment]
		if d == nil {
			d = &SegmentDelta{Segment: c.Segment}
			bySegment[c.Segment] = d
		}
		t := c.Time.UTC().Truncate(time.Microsecond)
		if t.After(d.UpdateTime) {
			d.UpdateTime = t
		}
		date := DateOf(t)
		i, found := slices.BinarySearchFunc(d.Days, date, func(day Day, date time.Time) int { return day.Date.Compare(date) })
		if !found {
			d.Days = slices.Insert(d.Days, i, Day{Date: date})
		}
		if c.Kind == Entered {
			d.Entered++
			d.Days[i].Entered++
		} else {
			d.Exited++
			d.Days[i].Exited++
		}
	}
	out := make([]SegmentDelta, 0, len(bySegment))
	for _, d := range bySegment {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b SegmentDelta) int { return cmp.Compare(a.Segment, b.Segment) })
	return out
}

// DateOf returns midnight UTC of t's UTC day.
func DateOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
