// Package storetest is the conformance suite every metrics.Store passes:
// the memory store and the Postgres store run the same tests.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// Run runs the suite; newStore returns an empty store for each test.
func Run(t *testing.T, newStore func(t *testing.T) metrics.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s metrics.Store)
	}{
		{"EmptyStore", testEmpty},
		{"AppliesTotalsAndDays", testApply},
		{"RedeliveredBatchCountsOnce", testRedelivery},
		{"OverlappingBatchCountsOnlyNewChanges", testOverlap},
		{"LateChangeMovesLaterDays", testLateChange},
		{"CursorOnlyMovesForward", testCursor},
		{"CursorBehindItsChangesIsRejected", testCursorBehind},
		{"ConcurrentAppliersCountOnce", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

// day1 is a base time with nanoseconds, which stores keep to the
// microsecond.
var day1 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func change(seq int64, segment string, kind metrics.Kind, at time.Time) metrics.Change {
	return metrics.Change{Seq: seq, Segment: segment, Profile: fmt.Sprintf("profiles/p%d", seq), Kind: kind, Time: at}
}

func date(t time.Time) time.Time { return metrics.DateOf(t) }

func apply(t *testing.T, s metrics.Store, changes []metrics.Change, cursor int64) int {
	t.Helper()
	n, err := s.Apply(context.Background(), changes, cursor)
	require.NoError(t, err)
	return n
}

func get(t *testing.T, s metrics.Store, segment string) metrics.SegmentMetrics {
	t.Helper()
	m, err := s.SegmentMetrics(context.Background(), segment)
	require.NoError(t, err)
	return m
}

func cursor(t *testing.T, s metrics.Store) int64 {
	t.Helper()
	c, err := s.Cursor(context.Background())
	require.NoError(t, err)
	return c
}

func testEmpty(t *testing.T, s metrics.Store) {
	require.Zero(t, cursor(t, s))
	_, err := s.SegmentMetrics(context.Background(), "buyers")
	require.ErrorIs(t, err, metrics.ErrNotFound)
	require.ErrorIs(t, err, apierror.ErrNotFound)
	require.ErrorContains(t, err, "segments/buyers")
}

// sample is a feed over two days and two segments: buyers gets three
// entries and an exit, vip one entry.
func sample() []metrics.Change {
	day2 := day1.Add(24 * time.Hour)
	return []metrics.Change{
		change(1, "buyers", metrics.Entered, day1),
		change(2, "buyers", metrics.Entered, day1.Add(time.Minute)),
		change(3, "vip", metrics.Entered, day1.Add(2*time.Minute)),
		change(4, "buyers", metrics.Exited, day2),
		change(5, "buyers", metrics.Entered, day2.Add(time.Hour)),
		change(6, "buyers", metrics.Entered, day2.Add(2*time.Hour)),
	}
}

// sampleBuyers is the buyers metrics of the whole sample.
func sampleBuyers() metrics.SegmentMetrics {
	day2 := day1.Add(24 * time.Hour)
	return metrics.SegmentMetrics{
		Segment: "buyers", Size: 3, EnteredTotal: 4, ExitedTotal: 1,
		UpdateTime: day2.Add(2 * time.Hour).Truncate(time.Microsecond),
		History: []metrics.Day{
			{Date: date(day1), Entered: 2, Exited: 0, Size: 2},
			{Date: date(day2), Entered: 2, Exited: 1, Size: 3},
		},
	}
}

func testApply(t *testing.T, s metrics.Store) {
	require.Equal(t, 6, apply(t, s, sample(), 6))
	require.EqualValues(t, 6, cursor(t, s))
	require.Equal(t, sampleBuyers(), get(t, s, "buyers"))
	require.Equal(t, metrics.SegmentMetrics{
		Segment: "vip", Size: 1, EnteredTotal: 1,
		UpdateTime: day1.Add(2 * time.Minute).Truncate(time.Microsecond),
		History:    []metrics.Day{{Date: date(day1), Entered: 1, Size: 1}},
	}, get(t, s, "vip"))
	_, err := s.SegmentMetrics(context.Background(), "never")
	require.ErrorIs(t, err, metrics.ErrNotFound, "segments are kept apart")
}

func testRedelivery(t *testing.T, s metrics.Store) {
	batch := sample()
	require.Equal(t, 6, apply(t, s, batch, 6))
	require.Zero(t, apply(t, s, batch, 6), "a redelivered batch applies nothing")
	require.EqualValues(t, 6, cursor(t, s))
	require.Equal(t, sampleBuyers(), get(t, s, "buyers"))
}

func testOverlap(t *testing.T, s metrics.Store) {
	all := sample()
	require.Equal(t, 3, apply(t, s, all[:3], 3))
	// A reconnect redelivers changes 2 and 3 along with the new ones.
	require.Equal(t, 3, apply(t, s, all[1:], 6))
	require.EqualValues(t, 6, cursor(t, s))
	require.Equal(t, sampleBuyers(), get(t, s, "buyers"))
	require.EqualValues(t, 1, get(t, s, "vip").EnteredTotal)
}

// testLateChange applies a change whose time falls on an earlier day than
// changes already applied (the feed is ordered by position, not by time):
// the earlier day is created or updated and every later day's size moves.
func testLateChange(t *testing.T, s metrics.Store) {
	d1, d2, d3 := day1, day1.Add(24*time.Hour), day1.Add(48*time.Hour)
	apply(t, s, []metrics.Change{
		change(1, "buyers", metrics.Entered, d1),
		change(2, "buyers", metrics.Entered, d3),
	}, 2)
	apply(t, s, []metrics.Change{
		change(3, "buyers", metrics.Entered, d2),
		change(4, "buyers", metrics.Exited, d1.Add(time.Hour)),
		change(5, "buyers", metrics.Entered, d2.Add(time.Hour)),
	}, 5)
	require.Equal(t, metrics.SegmentMetrics{
		Segment: "buyers", Size: 3, EnteredTotal: 4, ExitedTotal: 1,
		UpdateTime: d3.Truncate(time.Microsecond),
		History: []metrics.Day{
			{Date: date(d1), Entered: 1, Exited: 1, Size: 0},
			{Date: date(d2), Entered: 2, Exited: 0, Size: 2},
			{Date: date(d3), Entered: 1, Exited: 0, Size: 3},
		},
	}, get(t, s, "buyers"))
}

func testCursor(t *testing.T, s metrics.Store) {
	require.Zero(t, apply(t, s, nil, 4), "a batch of changes of no interest still moves the cursor")
	require.EqualValues(t, 4, cursor(t, s))
	require.Zero(t, apply(t, s, nil, 2))
	require.EqualValues(t, 4, cursor(t, s), "the cursor never moves back")
	require.Equal(t, 1, apply(t, s, []metrics.Change{
		change(4, "buyers", metrics.Entered, day1),
		change(5, "buyers", metrics.Entered, day1),
	}, 5), "the change at the stored cursor is skipped")
	require.EqualValues(t, 1, get(t, s, "buyers").Size)
}

func testCursorBehind(t *testing.T, s metrics.Store) {
	_, err := s.Apply(context.Background(), []metrics.Change{
		change(1, "buyers", metrics.Entered, day1),
		change(2, "buyers", metrics.Entered, day1),
	}, 1)
	require.ErrorIs(t, err, metrics.ErrCursorBehind)
	require.Zero(t, cursor(t, s), "a rejected batch writes nothing")
	_, err = s.SegmentMetrics(context.Background(), "buyers")
	require.ErrorIs(t, err, metrics.ErrNotFound, "a rejected batch writes nothing")
}

// testConcurrentAppliers runs several appliers of the same feed at once, as
// replicas of the service do; every change is counted once.
func testConcurrent(t *testing.T, s metrics.Store) {
	const appliers, batches, perBatch = 4, 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, appliers*batches)
	for range appliers {
		wg.Go(func() {
			for b := range batches {
				var changes []metrics.Change
				for i := range perBatch {
					seq := int64(b*perBatch + i + 1)
					changes = append(changes, change(seq, "buyers", metrics.Entered, day1.Add(time.Duration(seq)*time.Hour)))
				}
				if _, err := s.Apply(context.Background(), changes, changes[len(changes)-1].Seq); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	m := get(t, s, "buyers")
	require.EqualValues(t, batches*perBatch, m.EnteredTotal)
	require.EqualValues(t, batches*perBatch, m.Size)
	require.EqualValues(t, batches*perBatch, m.History[len(m.History)-1].Size)
	var sum int64
	for _, d := range m.History {
		sum += d.Entered
	}
	require.EqualValues(t, batches*perBatch, sum)
}
