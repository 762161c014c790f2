// Package memory is the in-memory metrics store of the single-process dev
// mode and of fast tests. It is not durable.
package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// Store is a metrics.Store in memory; one mutex serializes everything.
type Store struct {
	mu          sync.Mutex
	erased      map[string]bool // ErasedKey of erased profiles
	cursor      int64
	eventCursor int64
	segments    map[string]*segment
	// changes holds every membership change applied, per segment.
	changes map[string][]metrics.Change
	// firstSeen is each profile's earliest event or change time.
	firstSeen map[string]time.Time
	// days holds each profile's activity per day.
	days        map[string]map[time.Time]*metrics.ProfileDay
	experiments map[string]metrics.Experiment
}

// segment is one segment's totals and its days, oldest first.
type segment struct {
	size, entered, exited int64
	updateTime            time.Time
	days                  []metrics.Day
}

var _ metrics.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		segments:    map[string]*segment{},
		changes:     map[string][]metrics.Change{},
		firstSeen:   map[string]time.Time{},
		days:        map[string]map[time.Time]*metrics.ProfileDay{},
		experiments: map[string]metrics.Experiment{},
	}
}

// Cursor returns the position of the last membership change applied.
func (s *Store) Cursor(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, nil
}

// Apply applies the changes after the stored cursor and stores cursor.
// Nothing can fail once it starts writing, so it is atomic under the mutex.
func (s *Store) Apply(_ context.Context, changes []metrics.Change, cursor int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh, err := metrics.Fresh(changes, s.cursor, cursor)
	if err != nil {
		return 0, err
	}
	fresh = metrics.WithoutErased(fresh, func(p string) bool { return s.erased[string(metrics.ErasedKey(p))] })
	for _, c := range fresh {
		if c.Kind != metrics.Entered && c.Kind != metrics.Exited {
			continue
		}
		c.Time = c.Time.UTC().Truncate(time.Microsecond)
		c.TraceContext = nil
		s.changes[c.Segment] = append(s.changes[c.Segment], c)
		s.seen(c.Profile, c.Time)
	}
	for _, d := range metrics.Summarize(fresh) {
		seg := s.segments[d.Segment]
		if seg == nil {
			seg = &segment{}
			s.segments[d.Segment] = seg
		}
		seg.size += d.Net()
		seg.entered += d.Entered
		seg.exited += d.Exited
		if d.UpdateTime.After(seg.updateTime) {
			seg.updateTime = d.UpdateTime
		}
		for _, day := range d.Days {
			seg.add(day)
		}
	}
	s.cursor = max(s.cursor, cursor)
	return len(fresh), nil
}

// add adds one day's movement: the day's row starts from the size at the
// end of the day before, and every row from that day on moves by the net.
func (seg *segment) add(delta metrics.Day) {
	i, found := slices.BinarySearchFunc(seg.days, delta.Date, func(d metrics.Day, date time.Time) int { return d.Date.Compare(date) })
	if !found {
		var carried int64
		if i > 0 {
			carried = seg.days[i-1].Size
		}
		seg.days = slices.Insert(seg.days, i, metrics.Day{Date: delta.Date, Size: carried})
	}
	seg.days[i].Entered += delta.Entered
	seg.days[i].Exited += delta.Exited
	net := delta.Entered - delta.Exited
	for j := i; j < len(seg.days); j++ {
		seg.days[j].Size += net
	}
}

// SegmentMetrics returns a copy of a segment's metrics.
func (s *Store) SegmentMetrics(_ context.Context, id string) (metrics.SegmentMetrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.segments[id]
	if seg == nil {
		return metrics.SegmentMetrics{}, fmt.Errorf("%w: segments/%s", metrics.ErrNotFound, id)
	}
	return metrics.SegmentMetrics{
		Segment:      id,
		Size:         seg.size,
		EnteredTotal: seg.entered,
		ExitedTotal:  seg.exited,
		UpdateTime:   seg.updateTime,
		History:      slices.Clone(seg.days),
	}, nil
}

// seen records that profile was seen at t.
func (s *Store) seen(profile string, t time.Time) {
	if first, ok := s.firstSeen[profile]; !ok || t.Before(first) {
		s.firstSeen[profile] = t
	}
}

// Memberships returns the changes of segments before before (at the
// microsecond precision of the stored times), ordered by time then
// position.
func (s *Store) Memberships(_ context.Context, segments []string, before time.Time) ([]metrics.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before = before.Truncate(time.Microsecond)
	var out []metrics.Change
	for _, id := range slices.Compact(slices.Sorted(slices.Values(segments))) {
		for _, c := range s.changes[id] {
			if c.Time.Before(before) {
				out = append(out, c)
			}
		}
	}
	metrics.SortChanges(out)
	return out, nil
}

// EventCursor returns the position of the last event applied.
func (s *Store) EventCursor(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventCursor, nil
}

// ApplyEvents applies the events after the stored event cursor and stores
// cursor, atomically under the mutex.
func (s *Store) ApplyEvents(_ context.Context, events []metrics.Event, cursor int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh, err := metrics.FreshEvents(events, s.eventCursor, cursor)
	if err != nil {
		return 0, err
	}
	delta := metrics.SummarizeEvents(fresh)
	for profile, t := range delta.FirstSeen {
		s.seen(profile, t)
	}
	for _, d := range delta.Days {
		days := s.days[d.Profile]
		if days == nil {
			days = map[time.Time]*metrics.ProfileDay{}
			s.days[d.Profile] = days
		}
		if row := days[d.Date]; row != nil {
			row.Add(d)
		} else {
			days[d.Date] = &d
		}
	}
	s.eventCursor = max(s.eventCursor, cursor)
	return len(fresh), nil
}

// Activity returns every profile's days from from to to, sorted by profile
// then date.
func (s *Store) Activity(_ context.Context, from, to time.Time) ([]metrics.ProfileDay, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []metrics.ProfileDay
	for _, days := range s.days {
		for date, d := range days {
			if !date.Before(from) && !date.After(to) {
				out = append(out, *d)
			}
		}
	}
	slices.SortFunc(out, func(a, b metrics.ProfileDay) int {
		if a.Profile != b.Profile {
			return strings.Compare(a.Profile, b.Profile)
		}
		return a.Date.Compare(b.Date)
	})
	return out, nil
}

// Profiles counts the profiles first seen before before, at microsecond
// precision.
func (s *Store) Profiles(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before = before.Truncate(time.Microsecond)
	var n int64
	for _, t := range s.firstSeen {
		if t.Before(before) {
			n++
		}
	}
	return n, nil
}

// Experiment returns a segment's experiment.
func (s *Store) Experiment(_ context.Context, segment string) (metrics.Experiment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.experiments[segment]
	if !ok {
		return metrics.Experiment{}, metrics.ErrNoExperiment
	}
	return e, nil
}

// PutExperiment creates or replaces a segment's experiment.
func (s *Store) PutExperiment(_ context.Context, e metrics.Experiment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.experiments[e.Segment] = e
	return nil
}
