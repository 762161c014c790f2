// Package memory is the in-memory metrics store of the single-process dev
// mode and of fast tests. It is not durable.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// Store is a metrics.Store in memory; one mutex serializes everything.
type Store struct {
	mu       sync.Mutex
	cursor   int64
	segments map[string]*segment
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
	return &Store{segments: map[string]*segment{}}
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
