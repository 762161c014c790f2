// Package storetest is the conformance suite every metrics.Store passes:
// the memory store and the Postgres store run the same tests.
package storetest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/metrics/clv"
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
		{"KeepsEveryMembershipChange", testMemberships},
		{"AppliesEventsPerProfileAndDay", testEvents},
		{"RedeliveredEventsCountOnce", testEventRedelivery},
		{"EventCursorBehindItsEventsIsRejected", testEventCursorBehind},
		{"CountsProfilesFromEventsAndChanges", testProfiles},
		{"ConcurrentEventAppliersCountOnce", testConcurrentEvents},
		{"KeepsExperiments", testExperiments},
		{"StoreStatisticsAndRFM", testStatistics},
		{"ScoresOfEveryCustomer", testScores},
		{"ProfileValueWithoutEnoughHistory", testValueThinHistory},
		{"ProfileValuePredictsFromTheOrderHistory", testValuePrediction},
		{"ProfileUpdates", testProfileUpdates},
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

func testMemberships(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	all := sample()
	// The last change happened before the others: the store returns them
	// by time.
	late := change(7, "buyers", metrics.Entered, day1.Add(-time.Hour))
	apply(t, s, all[:3], 3)
	apply(t, s, append(all[3:], late), 7)
	got, err := s.Memberships(ctx, []string{"buyers"}, day1.Add(25*time.Hour))
	require.NoError(t, err)
	want := []metrics.Change{late, all[0], all[1], all[3]}
	for i := range want {
		want[i].Time = want[i].Time.Truncate(time.Microsecond)
	}
	require.Equal(t, want, got, "buyers' changes before the bound, by time")
	got, err = s.Memberships(ctx, []string{"vip", "buyers"}, day1.Add(3*time.Minute))
	require.NoError(t, err)
	require.Equal(t, []metrics.Change{want[0], want[1], want[2], {Seq: 3, Segment: "vip", Profile: "profiles/p3", Kind: metrics.Entered, Time: all[2].Time.Truncate(time.Microsecond)}}, got)
	got, err = s.Memberships(ctx, []string{"never"}, day1.Add(time.Hour*1000))
	require.NoError(t, err)
	require.Empty(t, got)
}

func event(seq int64, profile string, action metrics.Action, at time.Time, revenue float64) metrics.Event {
	return metrics.Event{Seq: seq, Profile: profile, Action: action, Time: at, Revenue: revenue}
}

// events are a's two orders and an open on day 1, b's click and
// unsubscribe on day 2, c's page view (an other event) on day 2, and a's
// order on day 3.
func events() []metrics.Event {
	d2, d3 := day1.Add(24*time.Hour), day1.Add(48*time.Hour)
	return []metrics.Event{
		event(1, "profiles/a", metrics.Order, day1, 10.5),
		event(2, "profiles/a", metrics.Order, day1.Add(time.Hour), 4.25),
		event(3, "profiles/a", metrics.Open, day1.Add(2*time.Hour), 0),
		event(4, "profiles/b", metrics.Click, d2, 0),
		event(5, "profiles/b", metrics.Unsubscribe, d2.Add(time.Hour), 0),
		event(6, "profiles/c", metrics.Other, d2, 0),
		event(7, "profiles/a", metrics.Order, d3, 2),
	}
}

func activity(t *testing.T, s metrics.Store, from, to time.Time) []metrics.ProfileDay {
	t.Helper()
	got, err := s.Activity(context.Background(), date(from), date(to))
	require.NoError(t, err)
	return got
}

func eventCursor(t *testing.T, s metrics.Store) int64 {
	t.Helper()
	c, err := s.EventCursor(context.Background())
	require.NoError(t, err)
	return c
}

func testEvents(t *testing.T, s metrics.Store) {
	require.Zero(t, eventCursor(t, s))
	n, err := s.ApplyEvents(context.Background(), events()[:4], 4)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	n, err = s.ApplyEvents(context.Background(), events()[4:], 9)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.EqualValues(t, 9, eventCursor(t, s))
	d2, d3 := day1.Add(24*time.Hour), day1.Add(48*time.Hour)
	require.Equal(t, []metrics.ProfileDay{
		{Profile: "profiles/a", Date: date(day1), Orders: 2, Revenue: 14.75, Opens: 1},
		{Profile: "profiles/a", Date: date(d3), Orders: 1, Revenue: 2},
		{Profile: "profiles/b", Date: date(d2), Clicks: 1, Unsubscribes: 1},
	}, activity(t, s, day1, d3))
	require.Equal(t, []metrics.ProfileDay{
		{Profile: "profiles/b", Date: date(d2), Clicks: 1, Unsubscribes: 1},
	}, activity(t, s, d2, d2), "both ends of the range are included, nothing else")
	require.Empty(t, activity(t, s, d3.Add(24*time.Hour), d3.Add(48*time.Hour)))
}

func testEventRedelivery(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.ApplyEvents(ctx, events()[:3], 3)
	require.NoError(t, err)
	n, err := s.ApplyEvents(ctx, events()[1:], 7)
	require.NoError(t, err)
	require.Equal(t, 4, n, "events at or before the stored cursor are skipped")
	n, err = s.ApplyEvents(ctx, events(), 7)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = s.ApplyEvents(ctx, nil, 5)
	require.NoError(t, err)
	require.Zero(t, n)
	require.EqualValues(t, 7, eventCursor(t, s), "the cursor never moves back")
	got := activity(t, s, day1, day1)
	require.Len(t, got, 1)
	require.EqualValues(t, 2, got[0].Orders)
	require.Equal(t, 14.75, got[0].Revenue)
	require.Zero(t, cursor(t, s), "the membership cursor is another feed's")
}

func testEventCursorBehind(t *testing.T, s metrics.Store) {
	_, err := s.ApplyEvents(context.Background(), events()[:2], 1)
	require.ErrorIs(t, err, metrics.ErrCursorBehind)
	require.Zero(t, eventCursor(t, s), "a rejected batch writes nothing")
	require.Empty(t, activity(t, s, day1, day1), "a rejected batch writes nothing")
}

func profiles(t *testing.T, s metrics.Store, before time.Time) int64 {
	t.Helper()
	n, err := s.Profiles(context.Background(), before)
	require.NoError(t, err)
	return n
}

func testProfiles(t *testing.T, s metrics.Store) {
	require.Zero(t, profiles(t, s, day1.Add(time.Hour*1000)))
	_, err := s.ApplyEvents(context.Background(), events(), 7)
	require.NoError(t, err)
	// p1 and p2 enter on day 1, p3 on day 1; profiles/a is seen first by
	// its event at day1 and again by a later change.
	apply(t, s, []metrics.Change{
		change(1, "buyers", metrics.Entered, day1.Add(-time.Hour)),
		{Seq: 2, Segment: "buyers", Profile: "profiles/a", Kind: metrics.Entered, Time: day1.Add(72 * time.Hour)},
	}, 2)
	require.EqualValues(t, 1, profiles(t, s, day1), "p1 from its change, an hour before day1")
	require.EqualValues(t, 2, profiles(t, s, day1.Add(time.Microsecond)), "a from its first event")
	require.EqualValues(t, 4, profiles(t, s, day1.Add(24*time.Hour+time.Microsecond)), "b and c, even c's other event")
	require.EqualValues(t, 4, profiles(t, s, day1.Add(100*time.Hour)), "a counts once")
	// b's change, applied after b's events, happened before them: b is
	// first seen at that change now.
	apply(t, s, []metrics.Change{{Seq: 3, Segment: "buyers", Profile: "profiles/b", Kind: metrics.Entered, Time: day1.Add(-2 * time.Hour)}}, 3)
	require.EqualValues(t, 1, profiles(t, s, day1.Add(-time.Hour)), "b, from its change two hours before day1")
	require.EqualValues(t, 2, profiles(t, s, day1), "p1 and b")
	require.EqualValues(t, 4, profiles(t, s, day1.Add(100*time.Hour)), "b counts once")
}

func testExperiments(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.Experiment(ctx, "buyers")
	require.ErrorIs(t, err, metrics.ErrNoExperiment)
	require.ErrorIs(t, err, apierror.ErrNotFound)
	e := metrics.Experiment{Segment: "buyers", HoldoutShare: 0.1, UpdateTime: day1.Truncate(time.Microsecond)}
	require.NoError(t, s.PutExperiment(ctx, e))
	got, err := s.Experiment(ctx, "buyers")
	require.NoError(t, err)
	require.Equal(t, e, got)
	e.HoldoutShare, e.UpdateTime = 0.25, e.UpdateTime.Add(time.Hour)
	require.NoError(t, s.PutExperiment(ctx, e))
	got, err = s.Experiment(ctx, "buyers")
	require.NoError(t, err)
	require.Equal(t, e, got, "put replaces")
	_, err = s.Experiment(ctx, "vip")
	require.ErrorIs(t, err, metrics.ErrNoExperiment, "experiments are kept apart")
}

// testConcurrentEvents runs several appliers of the event log at once,
// next to an applier of the membership feed that makes the same profiles
// known; every event is counted once.
func testConcurrentEvents(t *testing.T, s metrics.Store) {
	const appliers, batches, perBatch = 4, 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, (appliers+1)*batches)
	for range appliers {
		wg.Go(func() {
			for b := range batches {
				var evs []metrics.Event
				for i := range perBatch {
					seq := int64(b*perBatch + i + 1)
					evs = append(evs, event(seq, fmt.Sprintf("profiles/p%d", seq%7), metrics.Order, day1, 1))
				}
				if _, err := s.ApplyEvents(context.Background(), evs, evs[len(evs)-1].Seq); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		for b := range batches {
			changes := []metrics.Change{{Seq: int64(b + 1), Segment: "buyers", Profile: fmt.Sprintf("profiles/p%d", 6-b%7), Kind: metrics.Entered, Time: day1}}
			if _, err := s.Apply(context.Background(), changes, int64(b+1)); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var orders int64
	for _, d := range activity(t, s, day1, day1) {
		orders += d.Orders
	}
	require.EqualValues(t, batches*perBatch, orders)
	require.EqualValues(t, 7, profiles(t, s, day1.Add(time.Hour)))
}

// june10 is the last day of the windows of the value tests.
var june10 = time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)

// orders are, in a window from June 1 to June 10: p1's 10 on June 1 and 30
// on June 9 (and 1000 in May, before the window); p2's 40 and 80 on June 5
// (two orders valued 60 each); p3's 20 on June 10; p4's open (no order);
// and p1's 500 on June 11, after the window.
func orders() []metrics.Event {
	at := func(m time.Month, d int) time.Time { return time.Date(2025, m, d, 12, 0, 0, 0, time.UTC) }
	return []metrics.Event{
		event(1, "profiles/p1", metrics.Order, at(5, 1), 1000),
		event(2, "profiles/p1", metrics.Order, at(6, 1), 10),
		event(3, "profiles/p2", metrics.Order, at(6, 5), 40),
		event(4, "profiles/p2", metrics.Order, at(6, 5).Add(time.Hour), 80),
		event(5, "profiles/p4", metrics.Open, at(6, 6), 0),
		event(6, "profiles/p1", metrics.Order, at(6, 9), 30),
		event(7, "profiles/p3", metrics.Order, at(6, 10), 20),
		event(8, "profiles/p1", metrics.Order, at(6, 11), 500),
	}
}

func testStatistics(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.ApplyEvents(ctx, orders(), 8)
	require.NoError(t, err)
	tracker := metrics.NewTracker(s, nil)
	june1 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	st, err := tracker.Statistics(ctx, june1, june10)
	require.NoError(t, err)
	// Order values 10, 20, 30, 60, 60.
	require.Equal(t, metrics.StoreStatistics{
		From: june1, To: june10, Orders: 5, Revenue: 180, Customers: 3,
		P25: 20, P50: 30, P75: 60, P90: 60, P99: 60,
	}, st)
	require.InDelta(t, 36, st.AverageOrderValue(), 1e-9)

	opts := metrics.ValueOptions{From: june1, To: june10, HorizonDays: 30}
	value := func(profile string) metrics.ProfileValue {
		v, err := tracker.Value(ctx, profile, opts)
		require.NoError(t, err)
		return v
	}
	// Recency: p3 0 days, p1 1, p2 5; frequency: p1 2, p2 2, p3 1;
	// monetary: p2 120, p1 40, p3 20. Scores are 1 + 5k/3.
	p1 := value("profiles/p1")
	require.Equal(t, metrics.RFM{HasOrders: true, RecencyDays: 1, Frequency: 2, Monetary: 40,
		RecencyScore: 2, FrequencyScore: 2, MonetaryScore: 2, Customers: 3}, p1.RFM)
	require.InDelta(t, 1040, p1.HistoricalCLV, 1e-9, "revenue to date includes May, not June 11")
	require.EqualValues(t, 3, p1.OrdersToDate)
	require.Equal(t, metrics.RFM{HasOrders: true, RecencyDays: 5, Frequency: 2, Monetary: 120,
		RecencyScore: 1, FrequencyScore: 2, MonetaryScore: 4, Customers: 3}, value("profiles/p2").RFM)
	require.Equal(t, metrics.RFM{HasOrders: true, RecencyDays: 0, Frequency: 1, Monetary: 20,
		RecencyScore: 4, FrequencyScore: 1, MonetaryScore: 1, Customers: 3}, value("profiles/p3").RFM)
	p4 := value("profiles/p4")
	require.Equal(t, metrics.RFM{Customers: 3}, p4.RFM)
	require.Zero(t, p4.HistoricalCLV)
}

func testValueThinHistory(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.ApplyEvents(ctx, orders(), 8)
	require.NoError(t, err)
	tracker := metrics.NewTracker(s, nil)
	opts := metrics.ValueOptions{From: june10.AddDate(0, 0, -364), To: june10, HorizonDays: 30}
	v, err := tracker.Value(ctx, "profiles/p1", opts)
	require.NoError(t, err)
	require.Nil(t, v.Prediction)
	require.Contains(t, v.Unavailable, "not enough data")
	require.Contains(t, v.Unavailable, "at least 10 customers with repeat purchases, got 1 of 3")
	v, err = tracker.Value(ctx, "profiles/p4", opts)
	require.NoError(t, err)
	require.Nil(t, v.Prediction)
	require.Equal(t, "the profile has no order up to 2025-06-10", v.Unavailable)
}

// history returns the orders of 30 customers over 2025: customer i orders
// on i%7+1 days, every 11+i days from January 1+i, for 5+i each.
func history() ([]metrics.Event, []clv.Transaction) {
	var events []metrics.Event
	var txs []clv.Transaction
	for i := range 30 {
		profile := fmt.Sprintf("profiles/c%02d", i)
		for k := range i%7 + 1 {
			at := time.Date(2025, 1, 1+i+k*(11+i), 9, 0, 0, 0, time.UTC)
			amount := float64(5 + i + 3*k)
			events = append(events, event(int64(len(events)+1), profile, metrics.Order, at, amount))
			txs = append(txs, clv.Transaction{CustomerID: profile, Date: at, Amount: amount})
		}
	}
	return events, txs
}

func testValuePrediction(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	events, txs := history()
	_, err := s.ApplyEvents(ctx, events, int64(len(events)))
	require.NoError(t, err)
	tracker := metrics.NewTracker(s, nil)
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	v, err := tracker.Value(ctx, "profiles/c12", metrics.ValueOptions{From: end.AddDate(0, 0, -364), To: end, HorizonDays: 90, MonthlyDiscountRate: 0.01})
	require.NoError(t, err)
	require.Empty(t, v.Unavailable)
	require.NotNil(t, v.Prediction)

	// The same prediction, straight from the clv package.
	customers, err := clv.Summarize(txs, end, clv.Day)
	require.NoError(t, err)
	model, err := clv.Fit(customers)
	require.NoError(t, err)
	var c12 clv.Customer
	for _, c := range customers {
		if c.ID == "profiles/c12" {
			c12 = c
		}
	}
	want, err := model.Predict(c12, 90, math.Pow(1.01, 1.0/30)-1)
	require.NoError(t, err)
	require.InDelta(t, want.ProbAlive, v.Prediction.ProbAlive, 1e-6)
	require.InDelta(t, want.ExpectedPurchases, v.Prediction.ExpectedPurchases, 1e-6)
	require.InDelta(t, want.ExpectedAvgSpend, v.Prediction.ExpectedAvgSpend, 1e-6)
	require.InDelta(t, want.CLV, v.Prediction.CLV, 1e-6)
	require.Positive(t, v.Prediction.CLV)
	require.EqualValues(t, 5, v.Prediction.RepeatPurchases, "12%7+1 = 6 order days, 5 repeats")
	require.EqualValues(t, 30, v.Prediction.FittedCustomers)
	require.InDelta(t, c12.Total, v.HistoricalCLV, 1e-9)
}
