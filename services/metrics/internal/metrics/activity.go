package metrics

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Event names the metrics service counts.
const (
	OrderCompleted = "Order Completed"
	EmailOpened    = "Email Opened"
	EmailClicked   = "Email Clicked"
	// EmailUnsubscribed is the name the event service's vocabulary uses;
	// Unsubscribed is the Segment Email spec's name. Both count.
	EmailUnsubscribed = "Email Unsubscribed"
	Unsubscribed      = "Unsubscribed"
)

// Action is what an event counts as.
type Action int8

// Actions of events. Other events only make their profile known.
const (
	Other Action = iota
	Order
	Open
	Click
	Unsubscribe
)

// ActionOf returns the action of a track event's name.
func ActionOf(name string) Action {
	switch name {
	case OrderCompleted:
		return Order
	case EmailOpened:
		return Open
	case EmailClicked:
		return Click
	case EmailUnsubscribed, Unsubscribed:
		return Unsubscribe
	}
	return Other
}

// Event is one event of the event log, as the metrics service counts it.
type Event struct {
	// Seq is the event's position in the log (its decoded cursor).
	Seq int64
	// Profile is the profile's resource name.
	Profile string
	// Action is what the event counts as.
	Action Action
	// Time is when the event happened.
	Time time.Time
	// Revenue is an order's revenue; 0 for other actions.
	Revenue float64
}

// ProfileDay is a profile's activity on one UTC day.
type ProfileDay struct {
	// Profile is the profile's resource name.
	Profile string
	// Date is midnight UTC of the day.
	Date time.Time
	// Orders counts orders and Revenue adds up their revenue.
	Orders  int64
	Revenue float64
	// Opens, Clicks and Unsubscribes count email events.
	Opens, Clicks, Unsubscribes int64
}

// FreshEvents returns the events of a batch that come after the stored
// cursor, in their order; it returns ErrCursorBehind when an event is after
// the batch's cursor. Stores call it inside their transaction.
func FreshEvents(events []Event, stored, cursor int64) ([]Event, error) {
	fresh := make([]Event, 0, len(events))
	for _, e := range events {
		if e.Seq > cursor {
			return nil, fmt.Errorf("event %d after cursor %d: %w", e.Seq, cursor, ErrCursorBehind)
		}
		if e.Seq > stored {
			fresh = append(fresh, e)
		}
	}
	return fresh, nil
}

// EventDelta is what a batch of events adds: the activity per profile and
// day (only days with an order or email event, sorted by profile and date)
// and the first time each profile was seen in the batch.
type EventDelta struct {
	// Days holds the activity, sorted by profile then date.
	Days []ProfileDay
	// FirstSeen maps every profile of the batch to its earliest event time,
	// at microsecond precision.
	FirstSeen map[string]time.Time
}

// SummarizeEvents adds up events per profile and day. Events without a
// profile are ignored.
func SummarizeEvents(events []Event) EventDelta {
	out := EventDelta{FirstSeen: map[string]time.Time{}}
	type key struct {
		profile string
		date    time.Time
	}
	days := map[key]*ProfileDay{}
	for _, e := range events {
		if e.Profile == "" {
			continue
		}
		t := e.Time.UTC().Truncate(time.Microsecond)
		if seen, ok := out.FirstSeen[e.Profile]; !ok || t.Before(seen) {
			out.FirstSeen[e.Profile] = t
		}
		if e.Action == Other {
			continue
		}
		k := key{e.Profile, DateOf(t)}
		d := days[k]
		if d == nil {
			d = &ProfileDay{Profile: e.Profile, Date: k.date}
			days[k] = d
		}
		d.add(e)
	}
	for _, d := range days {
		out.Days = append(out.Days, *d)
	}
	slices.SortFunc(out.Days, compareProfileDays)
	return out
}

func (d *ProfileDay) add(e Event) {
	switch e.Action {
	case Order:
		d.Orders++
		d.Revenue += e.Revenue
	case Open:
		d.Opens++
	case Click:
		d.Clicks++
	case Unsubscribe:
		d.Unsubscribes++
	}
}

// Add adds the activity of o, a day of the same profile and date.
func (d *ProfileDay) Add(o ProfileDay) {
	d.Orders += o.Orders
	d.Revenue += o.Revenue
	d.Opens += o.Opens
	d.Clicks += o.Clicks
	d.Unsubscribes += o.Unsubscribes
}

func compareProfileDays(a, b ProfileDay) int {
	return cmp.Or(cmp.Compare(a.Profile, b.Profile), a.Date.Compare(b.Date))
}
