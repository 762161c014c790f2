// Package storetest is the conformance suite every segment.Store passes:
// the memory store and the Postgres store run the same tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// Run runs the suite; newStore returns an empty store for each test.
func Run(t *testing.T, newStore func(t *testing.T) segment.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s segment.Store)
	}{
		{"Segments", testSegments},
		{"SegmentPages", testSegmentPages},
		{"FactsAndTraits", testFactsAndTraits},
		{"ProfilePages", testProfilePages},
		{"RecordNumbersChangesAndAppliesMemberships", testRecord},
		{"WriteEvents", testWriteEvents},
		{"MemberPages", testMemberPages},
		{"ReadChangesFiltersBySegment", testReadChangesFilter},
		{"ListChangesFiltersBySegmentAndProfile", testListChanges},
		{"FailedUpdateLeavesNothing", testRollback},
		{"ConcurrentWritersLeaveNoGaps", testConcurrentWriters},
		{"Cursor", testCursor},
		{"EngineAppliesEventsOnce", testEngineIdempotent},
		{"EngineDiffsMemberships", testEngineDiffs},
		{"EngineBackfillsNewSegments", testEngineBackfill},
		{"NextChecks", testNextChecks},
		{"FactProperties", testFactProperties},
		{"EngineTimeDrivenExitWithoutEvents", testEngineTimeDrivenExit},
		{"EngineNeverReschedulesTimelessProfiles", testEngineTimeless},
		{"EngineSchedulesBackfilledProfiles", testEngineBackfillSchedules},
		{"SchedulerFollowsTheClock", testScheduler},
		{"Revisions", testRevisions},
		{"EngineUpdateBackfills", testEngineUpdate},
		{"EnginePreviewWritesNothing", testEnginePreview},
		{"EngineCartAbandonment", testEngineCartAbandonment},
		{"EngineInSegment", testEngineInSegment},
		{"EngineExclusiveGroups", testEngineExclusiveGroups},
		{"EngineArchive", testEngineArchive},
		{"Scores", testScores}, {"EngineScores", testEngineScores},
		{"EngineTemplates", testEngineTemplates},
		{"TriggerDelayAndRecheck", testTriggerDelayAndRecheck},
		{"TriggerRetries", testTriggerRetries},
		{"TriggerIsolation", testTriggerIsolation},
		{"TriggerRequiresConsent", testTriggerRequiresConsent},
		{"TriggerSkipsMergedAwayExits", testTriggerSkipsMergedAwayExits},
		{"EngineMergeUnmerge", testEngineMergeUnmerge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

// t0 is a base time at the microsecond precision every store keeps.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func update(t *testing.T, s segment.Store, fn func(ctx context.Context, tx segment.Tx)) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
		fn(ctx, tx)
		return nil
	}))
}

func seg(id string) segment.Segment {
	return segment.Segment{ID: id, DisplayName: "Name of " + id, Description: "About " + id,
		Condition: `count("Order Completed") >= 1`, Revision: 1, CreateTime: t0, UpdateTime: t0.Add(time.Second)}
}

func testSegments(t *testing.T, s segment.Store) {
	ctx := context.Background()
	_, err := s.GetSegment(ctx, "vip")
	require.ErrorIs(t, err, segment.ErrNotFound)
	require.ErrorIs(t, err, apierror.ErrNotFound)

	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.CreateSegment(ctx, seg("vip")))
		require.NoError(t, tx.CreateSegment(ctx, seg("buyers")))
		all, err := tx.Segments(ctx)
		require.NoError(t, err)
		require.Equal(t, []segment.Segment{seg("buyers"), seg("vip")}, all, "a transaction sees its own writes, by id")
	})
	got, err := s.GetSegment(ctx, "vip")
	require.NoError(t, err)
	require.Equal(t, seg("vip"), got)

	err = s.Update(ctx, func(tx segment.Tx) error { return tx.CreateSegment(ctx, seg("vip")) })
	require.ErrorIs(t, err, segment.ErrExists)
	require.ErrorIs(t, err, apierror.ErrAlreadyExists)
	require.Contains(t, err.Error(), "segments/vip")
}

func testSegmentPages(t *testing.T, s segment.Store) {
	ctx := context.Background()
	ids := []string{"a", "b-1", "b-2", "c", "d"}
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		for i := len(ids) - 1; i >= 0; i-- {
			require.NoError(t, tx.CreateSegment(ctx, seg(ids[i])))
		}
	})
	var got []string
	for after := ""; ; {
		page, err := s.ListSegments(ctx, after, 2, false)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 2)
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			got = append(got, p.ID)
		}
		after = page[len(page)-1].ID
	}
	require.Equal(t, ids, got)
}

func fact(profile string, seq int64, name string, at time.Time, numbers map[string]float64) segment.Fact {
	return segment.Fact{Profile: profile, Seq: seq, Event: condition.Event{Name: name, Time: at, Numbers: numbers}}
}

func testFactsAndTraits(t *testing.T, s segment.Store) {
	traits := map[string]any{"city": "London", "age": 31.0, "vip": true, "tags": []any{"a", "b"}, "address": map[string]any{"zip": "N1"}}
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{{Name: "profiles/p1", Traits: traits}, {Name: "profiles/p2"}}))
		require.NoError(t, tx.AddFacts(ctx, []segment.Fact{
			fact("profiles/p1", 3, "Order Completed", t0, map[string]float64{"revenue": 120.5, "items": 2}),
			fact("profiles/p1", 1, "Product Viewed", t0.Add(-time.Hour), nil),
			fact("profiles/p1", 5, "Order Completed", t0.Add(time.Minute), nil),
			fact("profiles/p2", 4, "Order Completed", t0, nil),
		}))
	})
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		// A fact stored again (redelivery) is left as it is.
		require.NoError(t, tx.AddFacts(ctx, []segment.Fact{fact("profiles/p1", 3, "Order Completed", t0.Add(time.Hour), nil)}))

		got, err := tx.Profiles(ctx, []string{"profiles/p1", "profiles/p2", "profiles/unknown"}, []string{"Order Completed"})
		require.NoError(t, err)
		require.Len(t, got, 2, "unknown profiles are absent")
		require.Equal(t, traits, got["profiles/p1"].Traits)
		require.Equal(t, []segment.Fact{
			fact("profiles/p1", 3, "Order Completed", t0, map[string]float64{"revenue": 120.5, "items": 2}),
			fact("profiles/p1", 5, "Order Completed", t0.Add(time.Minute), nil),
		}, normalize(got["profiles/p1"].Events), "facts of the names asked for, by sequence")
		require.Empty(t, got["profiles/p2"].Traits)
		require.Len(t, got["profiles/p2"].Events, 1)

		none, err := tx.Profiles(ctx, []string{"profiles/p1"}, nil)
		require.NoError(t, err)
		require.Empty(t, none["profiles/p1"].Events, "no event names, no facts")

		// Traits are replaced as a whole.
		require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{{Name: "profiles/p1", Traits: map[string]any{"city": "Paris"}}}))
		got, err = tx.Profiles(ctx, []string{"profiles/p1"}, nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"city": "Paris"}, got["profiles/p1"].Traits)
	})
}

// normalize makes empty property maps nil, as stores may return either.
func normalize(facts []segment.Fact) []segment.Fact {
	for i := range facts {
		if len(facts[i].Numbers) == 0 {
			facts[i].Numbers = nil
		}
		if len(facts[i].Strings) == 0 {
			facts[i].Strings = nil
		}
		if len(facts[i].Flags) == 0 {
			facts[i].Flags = nil
		}
	}
	return facts
}

func testProfilePages(t *testing.T, s segment.Store) {
	var want []string
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		var ps []*segment.Profile
		var facts []segment.Fact
		for i := range 7 {
			name := fmt.Sprintf("profiles/p%d", i)
			want = append(want, name)
			ps = append(ps, &segment.Profile{Name: name, Traits: map[string]any{"i": float64(i)}})
			facts = append(facts, fact(name, int64(i+1), "Order Completed", t0, nil), fact(name, int64(100+i), "Other", t0, nil))
		}
		require.NoError(t, tx.SaveProfiles(ctx, ps))
		require.NoError(t, tx.AddFacts(ctx, facts))
	})
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		var got []string
		for after := ""; ; {
			page, err := tx.ProfilePage(ctx, after, 3, []string{"Order Completed"})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			require.LessOrEqual(t, len(page), 3)
			for _, p := range page {
				got = append(got, p.Name)
				require.Len(t, p.Events, 1, p.Name)
				require.Equal(t, "Order Completed", p.Events[0].Name)
				require.Contains(t, p.Traits, "i")
			}
			after = page[len(page)-1].Name
		}
		require.Equal(t, want, got)
	})
}

func change(segmentID, profile string, kind segment.Kind, at time.Time, reason string) segment.Change {
	return segment.Change{Segment: segmentID, Profile: profile, Kind: kind, Time: at, Revision: 1, Reason: reason,
		TraceContext: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
}

func testRecord(t *testing.T, s segment.Store) {
	ctx := context.Background()
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.CreateSegment(ctx, seg("a")))
		require.NoError(t, tx.CreateSegment(ctx, seg("b")))
	})
	var recorded []segment.Change
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		out, err := tx.Record(ctx, []segment.Change{
			change("a", "profiles/p1", segment.Entered, t0, "event events/1"),
			change("b", "profiles/p1", segment.Entered, t0, "event events/1"),
			change("a", "profiles/p2", segment.Entered, t0, "event events/2"),
		})
		require.NoError(t, err)
		recorded = append(recorded, out...)
		ms, err := tx.Memberships(ctx, []string{"profiles/p1"})
		require.NoError(t, err)
		require.Len(t, ms, 2, "a transaction sees its own memberships")
	})
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		// Exit and re-enter in one call: the last change decides.
		out, err := tx.Record(ctx, []segment.Change{
			change("a", "profiles/p1", segment.Exited, t0.Add(time.Minute), "event events/3"),
			change("a", "profiles/p2", segment.Exited, t0.Add(time.Minute), "event events/4"),
			change("a", "profiles/p2", segment.Entered, t0.Add(2*time.Minute), "event events/5"),
		})
		require.NoError(t, err)
		recorded = append(recorded, out...)
	})
	for i, c := range recorded {
		require.EqualValues(t, i+1, c.Seq, "changes are numbered 1, 2, 3...")
	}
	got, err := s.ReadChanges(ctx, 0, 100, nil)
	require.NoError(t, err)
	require.Equal(t, recorded, got)
	got, err = s.ReadChanges(ctx, 2, 2, nil)
	require.NoError(t, err)
	require.Equal(t, recorded[2:4], got)

	m1, err := s.ProfileMemberships(ctx, "profiles/p1")
	require.NoError(t, err)
	require.Equal(t, []segment.Membership{{Segment: "b", Profile: "profiles/p1", EnterTime: t0, Revision: 1}}, m1)
	m2, err := s.ProfileMemberships(ctx, "profiles/p2")
	require.NoError(t, err)
	require.Equal(t, []segment.Membership{{Segment: "a", Profile: "profiles/p2", EnterTime: t0.Add(2 * time.Minute), Revision: 1}}, m2)
	none, err := s.ProfileMemberships(ctx, "profiles/nobody")
	require.NoError(t, err)
	require.Empty(t, none)
}

func testMemberPages(t *testing.T, s segment.Store) {
	ctx := context.Background()
	var want []string
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.CreateSegment(ctx, seg("a")))
		require.NoError(t, tx.CreateSegment(ctx, seg("b")))
		var changes []segment.Change
		for i := 9; i >= 0; i-- {
			p := fmt.Sprintf("profiles/p%02d", i)
			want = append([]string{p}, want...)
			changes = append(changes, change("a", p, segment.Entered, t0, "x"), change("b", p, segment.Entered, t0, "x"))
		}
		_, err := tx.Record(ctx, changes)
		require.NoError(t, err)
	})
	var got []string
	for after := ""; ; {
		page, err := s.ListMembers(ctx, "a", after, 4)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 4)
		for _, m := range page {
			require.Equal(t, "a", m.Segment)
			got = append(got, m.Profile)
		}
		after = page[len(page)-1].Profile
	}
	require.Equal(t, want, got)
	empty, err := s.ListMembers(ctx, "c", "", 10)
	require.NoError(t, err)
	require.Empty(t, empty)
}

func testReadChangesFilter(t *testing.T, s segment.Store) {
	ctx := context.Background()
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		for _, id := range []string{"a", "b", "c"} {
			require.NoError(t, tx.CreateSegment(ctx, seg(id)))
		}
		_, err := tx.Record(ctx, []segment.Change{
			change("a", "profiles/p1", segment.Entered, t0, "1"),
			change("b", "profiles/p1", segment.Entered, t0, "2"),
			change("c", "profiles/p1", segment.Entered, t0, "3"),
			change("a", "profiles/p1", segment.Exited, t0, "4"),
			change("b", "profiles/p2", segment.Entered, t0, "5"),
		})
		require.NoError(t, err)
	})
	seqs := func(after int64, limit int, segments ...string) []int64 {
		got, err := s.ReadChanges(ctx, after, limit, segments)
		require.NoError(t, err)
		var out []int64
		for _, c := range got {
			out = append(out, c.Seq)
		}
		return out
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5}, seqs(0, 10))
	require.Equal(t, []int64{2, 5}, seqs(0, 10, "b"))
	require.Equal(t, []int64{3, 4}, seqs(1, 10, "a", "c"))
	require.Equal(t, []int64{1}, seqs(0, 1, "a", "c"))
	require.Empty(t, seqs(5, 10))
	require.Empty(t, seqs(0, 10, "unknown"))
}

func testRollback(t *testing.T, s segment.Store) {
	ctx := context.Background()
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.CreateSegment(ctx, seg("a")))
		require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{{Name: "profiles/p1", Traits: map[string]any{"city": "London"}}}))
		_, err := tx.Record(ctx, []segment.Change{change("a", "profiles/p1", segment.Entered, t0, "x")})
		require.NoError(t, err)
		require.NoError(t, tx.SetCursor(ctx, 7))
	})
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx segment.Tx) error {
		require.NoError(t, tx.CreateSegment(ctx, seg("b")))
		require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{
			{Name: "profiles/p1", Traits: map[string]any{"city": "Paris"}}, {Name: "profiles/p2"},
		}))
		require.NoError(t, tx.AddFacts(ctx, []segment.Fact{fact("profiles/p1", 8, "Order Completed", t0, nil)}))
		_, err := tx.Record(ctx, []segment.Change{
			change("a", "profiles/p1", segment.Exited, t0, "y"),
			change("b", "profiles/p2", segment.Entered, t0, "y"),
		})
		require.NoError(t, err)
		require.NoError(t, tx.SetCursor(ctx, 8))
		return boom
	})
	require.ErrorIs(t, err, boom)

	_, err = s.GetSegment(ctx, "b")
	require.ErrorIs(t, err, segment.ErrNotFound)
	cursor, err := s.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 7, cursor)
	changes, err := s.ReadChanges(ctx, 0, 10, nil)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	ms, err := s.ProfileMemberships(ctx, "profiles/p1")
	require.NoError(t, err)
	require.Len(t, ms, 1)
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		got, err := tx.Profiles(ctx, []string{"profiles/p1", "profiles/p2"}, []string{"Order Completed"})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, map[string]any{"city": "London"}, got["profiles/p1"].Traits)
		require.Empty(t, got["profiles/p1"].Events)
		// The numbering continues where the committed log ends.
		out, err := tx.Record(ctx, []segment.Change{change("a", "profiles/p1", segment.Exited, t0, "z")})
		require.NoError(t, err)
		require.EqualValues(t, 2, out[0].Seq)
	})
}

// testConcurrentWriters records changes from several writers at once while
// a reader tails the log: the reader must see every change exactly once, in
// order, with no gaps — a change never becomes visible after a later one.
func testConcurrentWriters(t *testing.T, s segment.Store) {
	const writers, txsPerWriter, changesPerTx = 3, 8, 3
	const total = writers * txsPerWriter * changesPerTx
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	update(t, s, func(ctx context.Context, tx segment.Tx) { require.NoError(t, tx.CreateSegment(ctx, seg("a"))) })

	readerDone := make(chan []int64)
	go func() {
		var seen []int64
		after := int64(0)
		for len(seen) < total && ctx.Err() == nil {
			got, err := s.ReadChanges(ctx, after, 7, nil)
			if err != nil {
				break
			}
			for _, c := range got {
				seen = append(seen, c.Seq)
				after = c.Seq
			}
		}
		readerDone <- seen
	}()

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range txsPerWriter {
				err := s.Update(ctx, func(tx segment.Tx) error {
					var changes []segment.Change
					for j := range changesPerTx {
						p := fmt.Sprintf("profiles/w%d-%d-%d", w, i, j)
						changes = append(changes, change("a", p, segment.Entered, t0, "concurrent"))
					}
					_, err := tx.Record(ctx, changes)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := <-readerDone
	require.Len(t, seen, total)
	for i, seq := range seen {
		require.EqualValues(t, i+1, seq, "the tailing reader saw change %d out of order or after a gap", seq)
	}
	members, err := s.ListMembers(ctx, "a", "", total+1)
	require.NoError(t, err)
	require.Len(t, members, total)
}

func testCursor(t *testing.T, s segment.Store) {
	ctx := context.Background()
	cursor, err := s.Cursor(ctx)
	require.NoError(t, err)
	require.Zero(t, cursor)
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.SetCursor(ctx, 41))
		got, err := tx.Cursor(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 41, got)
	})
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		got, err := tx.Cursor(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 41, got)
	})
	cursor, err = s.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 41, cursor)
}

// clock is a settable clock for the engine.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func order(seq int64, profile string, at time.Time, revenue float64) segment.Event {
	return segment.Event{Seq: seq, Resource: fmt.Sprintf("events/%d", seq), Profile: profile, Name: "Order Completed",
		Time: at, Numbers: map[string]float64{"revenue": revenue},
		TraceContext: map[string]string{"traceparent": fmt.Sprintf("00-4bf92f3577b34da6a3ce929d0e0e47%02d-00f067aa0ba902b7-01", seq)}}
}

func identify(seq int64, profile string, at time.Time, traits map[string]any) segment.Event {
	return segment.Event{Seq: seq, Resource: fmt.Sprintf("events/%d", seq), Profile: profile, Identify: true, Time: at, Traits: traits}
}

func allChanges(t *testing.T, s segment.Store) []segment.Change {
	t.Helper()
	got, err := s.ReadChanges(context.Background(), 0, 1000, nil)
	require.NoError(t, err)
	return got
}

func testEngineIdempotent(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "buyers", Condition: `count("Order Completed") >= 1`})
	require.NoError(t, err)

	batch := []segment.Event{order(1, "profiles/p1", t0, 10), order(2, "profiles/p2", t0, 20)}
	require.NoError(t, e.ApplyEvents(ctx, batch))
	require.Len(t, allChanges(t, s), 2)

	// Redelivery of the same message, and of a message that overlaps it,
	// applies only what is new.
	require.NoError(t, e.ApplyEvents(ctx, batch))
	require.Len(t, allChanges(t, s), 2)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(2, "profiles/p2", t0, 20), order(3, "profiles/p3", t0, 30)}))
	changes := allChanges(t, s)
	require.Len(t, changes, 3)
	require.Equal(t, "profiles/p3", changes[2].Profile)
	require.Equal(t, "event events/3", changes[2].Reason)
	cursor, err := e.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, cursor)

	// The facts of redelivered events were stored once: a segment created
	// now counts one order per profile.
	_, err = e.CreateSegment(ctx, segment.Segment{ID: "repeat", Condition: `count("Order Completed") >= 2`})
	require.NoError(t, err)
	require.Len(t, allChanges(t, s), 3)
}

func testEngineDiffs(t *testing.T, s segment.Store) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	for id, cond := range map[string]string{
		"recent":   `count("Order Completed", "1h") >= 1`,
		"big":      `sum("Order Completed", "revenue", "30d") > 100.0`,
		"londoner": `has(traits.city) && traits.city == "London"`,
	} {
		_, err := e.CreateSegment(ctx, segment.Segment{ID: id, Condition: cond})
		require.NoError(t, err)
	}
	const p = "profiles/p1"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		order(1, p, t0.Add(-time.Minute), 60),
		identify(2, p, t0, map[string]any{"city": "London", "name": "Ana"}),
	}))
	changes := allChanges(t, s)
	require.Equal(t, []string{"entered recent event events/1", "entered londoner event events/2"}, describe(changes))
	require.Contains(t, changes[0].TraceContext["traceparent"], "4bf92f3577b34da6a3ce929d0e0e4701", "changes continue the event's trace")
	require.Equal(t, t0, changes[0].Time)

	// Two hours later the first order is out of the 1h window; a second order
	// takes the 30-day revenue over 100. Unsetting the city (null) leaves
	// London.
	clk.Set(t0.Add(2 * time.Hour))
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		{Seq: 3, Resource: "events/3", Profile: p, Name: "Page Viewed", Time: t0.Add(2 * time.Hour)},
		order(4, p, t0.Add(-3*time.Hour), 50),
		identify(5, p, t0.Add(2*time.Hour), map[string]any{"city": nil}),
	}))
	require.Equal(t, []string{
		"entered recent event events/1", "entered londoner event events/2",
		"exited recent event events/3", "entered big event events/4", "exited londoner event events/5",
	}, describe(allChanges(t, s)))

	ms, err := e.ProfileMemberships(ctx, p)
	require.NoError(t, err)
	require.Equal(t, []segment.Membership{{Segment: "big", Profile: p, EnterTime: t0.Add(2 * time.Hour), Revision: 1}}, ms)
}

func describe(changes []segment.Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = fmt.Sprintf("%s %s %s", c.Kind, c.Segment, c.Reason)
	}
	return out
}

func testEngineBackfill(t *testing.T, s segment.Store) {
	ctx := context.Background()
	e := segment.NewEngine(s, segment.Options{Now: func() time.Time { return t0 }})
	var events []segment.Event
	for i := range 12 {
		p := fmt.Sprintf("profiles/p%02d", i)
		for j := range i % 3 {
			events = append(events, order(int64(len(events)+1), p, t0.Add(-time.Duration(j)*time.Hour), 1))
		}
		events = append(events, identify(int64(len(events)+1), p, t0, map[string]any{"n": float64(i)}))
	}
	require.NoError(t, e.ApplyEvents(ctx, events))
	require.Empty(t, allChanges(t, s))

	created, err := e.CreateSegment(ctx, segment.Segment{ID: "repeat", DisplayName: "Repeat", Description: "Two orders or more",
		Condition: `count("Order Completed") >= 2 && traits.n < 10.0`})
	require.NoError(t, err)
	require.Equal(t, segment.Segment{ID: "repeat", DisplayName: "Repeat", Description: "Two orders or more",
		Condition: `count("Order Completed") >= 2 && traits.n < 10.0`, Revision: 1, CreateTime: t0, UpdateTime: t0}, created)
	var members []string
	for _, c := range allChanges(t, s) {
		require.Equal(t, segment.Entered, c.Kind)
		require.Equal(t, segment.ReasonCreated, c.Reason)
		members = append(members, c.Profile)
	}
	require.Equal(t, []string{"profiles/p02", "profiles/p05", "profiles/p08"}, members)

	_, err = e.CreateSegment(ctx, segment.Segment{ID: "repeat", Condition: `true`})
	require.ErrorIs(t, err, segment.ErrExists)
	require.Len(t, allChanges(t, s), 3, "a failed create records nothing")
}

func testNextChecks(t *testing.T, s segment.Store) {
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	due := func(now time.Time, limit int) []string {
		t.Helper()
		var out []string
		update(t, s, func(ctx context.Context, tx segment.Tx) {
			var err error
			out, err = tx.DueProfiles(ctx, now, limit)
			require.NoError(t, err)
		})
		return out
	}
	next := func() time.Time {
		t.Helper()
		got, err := s.NextCheck(ctx)
		require.NoError(t, err)
		return got
	}
	require.Zero(t, next())
	require.Empty(t, due(at(1000), 10))

	update(t, s, func(ctx context.Context, tx segment.Tx) {
		var profiles []*segment.Profile
		for _, p := range []string{"a", "b", "c", "d", "e"} {
			profiles = append(profiles, &segment.Profile{Name: "profiles/" + p})
		}
		require.NoError(t, tx.SaveProfiles(ctx, profiles))
		require.NoError(t, tx.SetNextChecks(ctx, []segment.Check{
			{Profile: "profiles/a", At: at(30)}, {Profile: "profiles/b", At: at(10)}, {Profile: "profiles/c", At: at(20)},
			{Profile: "profiles/d", At: at(10)}, {Profile: "profiles/unknown", At: at(1)},
		}))
		got, err := tx.DueProfiles(ctx, at(20), 10)
		require.NoError(t, err)
		require.Equal(t, []string{"profiles/b", "profiles/d", "profiles/c"}, got, "a transaction sees its own checks, earliest first, then by name")
	})
	require.Equal(t, at(10), next())
	require.Empty(t, due(at(9), 10))
	require.Equal(t, []string{"profiles/b", "profiles/d"}, due(at(10), 10), "a check is due at its instant")
	require.Equal(t, []string{"profiles/b", "profiles/d"}, due(at(60), 2), "at most limit")
	require.Equal(t, []string{"profiles/b", "profiles/d", "profiles/c", "profiles/a"}, due(at(60), 10), "profiles without a check are never due")

	update(t, s, func(ctx context.Context, tx segment.Tx) {
		got, err := tx.Profiles(ctx, []string{"profiles/a", "profiles/e"}, nil)
		require.NoError(t, err)
		require.Equal(t, at(30), got["profiles/a"].NextCheck)
		require.Zero(t, got["profiles/e"].NextCheck)
		// Moving and clearing checks; saving traits keeps them.
		require.NoError(t, tx.SetNextChecks(ctx, []segment.Check{{Profile: "profiles/b"}, {Profile: "profiles/d", At: at(40)}}))
		require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{{Name: "profiles/c", Traits: map[string]any{"x": 1.0}}}))
	})
	require.Equal(t, at(20), next())
	require.Equal(t, []string{"profiles/c", "profiles/a", "profiles/d"}, due(at(60), 10))

	boom := errors.New("boom")
	err := s.Update(ctx, func(tx segment.Tx) error {
		require.NoError(t, tx.SetNextChecks(ctx, []segment.Check{{Profile: "profiles/c"}, {Profile: "profiles/e", At: at(1)}, {Profile: "profiles/a", At: at(2)}}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, at(20), next(), "a failed transaction schedules nothing")
	require.Equal(t, []string{"profiles/c", "profiles/a", "profiles/d"}, due(at(60), 10))
}

func testFactProperties(t *testing.T, s segment.Store) {
	f := segment.Fact{Profile: "profiles/p1", Seq: 1, Event: condition.Event{Name: "Order Completed", Time: t0,
		Numbers: map[string]float64{"revenue": 12.5}, Strings: map[string]string{"category": "shoes", "device": "mobile"},
		Flags: map[string]bool{"discount_used": true, "gift": false}}}
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{{Name: "profiles/p1"}}))
		require.NoError(t, tx.AddFacts(ctx, []segment.Fact{f}))
	})
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		got, err := tx.Profiles(ctx, []string{"profiles/p1"}, []string{"Order Completed"})
		require.NoError(t, err)
		require.Equal(t, []segment.Fact{f}, got["profiles/p1"].Events)
	})
}

// testEngineTimeDrivenExit checks that a profile leaves a segment when its
// only order leaves the window, with no new event, exactly at the boundary;
// that it enters a "between" window by time alone; and that the checks in
// between evaluate nobody.
func testEngineTimeDrivenExit(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	for id, cond := range map[string]string{
		"recent":  `count("Order Completed", "1h") >= 1`,
		"lapsing": `count("Order Completed", "2h..1d") >= 1 && count("Order Completed", "2h") == 0`,
	} {
		_, err := e.CreateSegment(ctx, segment.Segment{ID: id, Condition: cond})
		require.NoError(t, err)
	}
	const p = "profiles/p1"
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(1, p, t0.Add(-time.Minute), 10)}))
	require.Equal(t, []string{"entered recent event events/1"}, describe(allChanges(t, s)))
	next, err := s.NextCheck(ctx)
	require.NoError(t, err)
	require.Equal(t, t0.Add(59*time.Minute), next, "the order leaves the 1h window then")

	clk.Set(next.Add(-time.Microsecond))
	n, err := e.CheckDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is due before the boundary")

	clk.Set(next)
	n, err = e.CheckDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	changes := allChanges(t, s)
	require.Equal(t, []string{"entered recent event events/1", "exited recent time"}, describe(changes))
	require.Equal(t, next, changes[1].Time)
	require.Equal(t, segment.ReasonTime, changes[1].Reason)
	ms, err := e.ProfileMemberships(ctx, p)
	require.NoError(t, err)
	require.Empty(t, ms)

	// The order enters "2h..1d" two hours after it happened.
	next, err = s.NextCheck(ctx)
	require.NoError(t, err)
	require.Equal(t, t0.Add(119*time.Minute), next)
	clk.Set(t0.Add(3 * time.Hour))
	n, err = e.CheckDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"entered recent event events/1", "exited recent time", "entered lapsing time"}, describe(allChanges(t, s)))

	// And leaves it a day after it happened, after which nothing can change
	// by time alone.
	clk.Set(t0.Add(48 * time.Hour))
	n, err = e.CheckDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, allChanges(t, s), 4)
	require.Equal(t, "exited lapsing time", describe(allChanges(t, s))[3])
	next, err = s.NextCheck(ctx)
	require.NoError(t, err)
	require.Zero(t, next)
}

// testEngineTimeless checks that profiles of segments that only time
// cannot change are never scheduled.
func testEngineTimeless(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "loyal",
		Condition: `count("Order Completed") >= 2 && sum("Order Completed", "revenue") > 10.0 && has(traits.city)`})
	require.NoError(t, err)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		order(1, "profiles/p1", t0, 10), order(2, "profiles/p1", t0, 20), identify(3, "profiles/p1", t0, map[string]any{"city": "Paris"}),
		order(4, "profiles/p2", t0, 5),
	}))
	require.Len(t, allChanges(t, s), 1)
	next, err := s.NextCheck(ctx)
	require.NoError(t, err)
	require.Zero(t, next, "no check is scheduled")
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		got, err := tx.Profiles(ctx, []string{"profiles/p1", "profiles/p2"}, nil)
		require.NoError(t, err)
		require.Zero(t, got["profiles/p1"].NextCheck)
		require.Zero(t, got["profiles/p2"].NextCheck)
	})
	clk.Set(t0.Add(10 * 365 * 24 * time.Hour))
	n, err := e.CheckDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nobody is evaluated for time")
	require.Len(t, allChanges(t, s), 1)
}

// testEngineBackfillSchedules checks that creating a time-dependent segment
// schedules the profiles it depends on, keeping earlier checks.
func testEngineBackfillSchedules(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "hour", Condition: `count("Page Viewed", "1h") >= 1`})
	require.NoError(t, err)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		order(1, "profiles/p1", t0, 10),
		{Seq: 2, Resource: "events/2", Profile: "profiles/p2", Name: "Page Viewed", Time: t0},
		order(3, "profiles/p2", t0, 10),
	}))
	_, err = e.CreateSegment(ctx, segment.Segment{ID: "lapsed", Condition: `days_since_last("Order Completed") >= 30`})
	require.NoError(t, err)
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		got, err := tx.Profiles(ctx, []string{"profiles/p1", "profiles/p2"}, nil)
		require.NoError(t, err)
		require.Equal(t, t0.Add(24*time.Hour), got["profiles/p1"].NextCheck)
		require.Equal(t, t0.Add(time.Hour), got["profiles/p2"].NextCheck, "the earlier check stays")
	})
	for range 30 {
		clk.Set(clk.Now().Add(24 * time.Hour))
		_, err := e.CheckDue(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, []string{"exited hour time", "entered lapsed time", "entered lapsed time"}, describe(allChanges(t, s)[1:]))
}

// testScheduler runs the scheduler on the real clock and checks that it
// applies a time-driven exit about when it is due, with no call to
// CheckDue.
func testScheduler(t *testing.T, s segment.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	e := segment.NewEngine(s, segment.Options{})
	done := make(chan error, 1)
	go func() { done <- e.RunScheduler(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "now", Condition: `count("Clicked", "2s") >= 1`})
	require.NoError(t, err)
	clicked := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{{Seq: 1, Resource: "events/1", Profile: "profiles/p1", Name: "Clicked", Time: clicked}}))
	require.Eventually(t, func() bool { return len(allChanges(t, s)) == 2 }, 10*time.Second, 10*time.Millisecond)
	changes := allChanges(t, s)
	require.Equal(t, []string{"entered now event events/1", "exited now time"}, describe(changes))
	boundary := clicked.Add(2 * time.Second)
	require.False(t, changes[1].Time.Before(boundary), "the exit is not recorded before the boundary")
	t.Logf("exit recorded %s after the boundary", changes[1].Time.Sub(boundary))
}

func testRevisions(t *testing.T, s segment.Store) {
	ctx := context.Background()
	first := seg("vip")
	first.Author, first.Reason = "ana@example.com", "launch"
	second := first
	second.Condition, second.Description, second.Revision = `count("Order Completed") >= 2`, "Repeat buyers", 2
	second.UpdateTime, second.Author, second.Reason = t0.Add(time.Hour), "bo@example.com", "too broad"
	third := second
	third.DisplayName, third.Revision, third.UpdateTime, third.Author, third.Reason = "VIP", 3, t0.Add(2*time.Hour), "ana@example.com", "rename"

	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.CreateSegment(ctx, first))
		require.NoError(t, tx.UpdateSegment(ctx, second))
	})
	update(t, s, func(ctx context.Context, tx segment.Tx) {
		require.NoError(t, tx.UpdateSegment(ctx, third))
		require.ErrorIs(t, tx.UpdateSegment(ctx, seg("unknown")), segment.ErrNotFound)
	})
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx segment.Tx) error {
		fourth := third
		fourth.Revision = 4
		require.NoError(t, tx.UpdateSegment(ctx, fourth))
		return boom
	})
	require.ErrorIs(t, err, boom)

	got, err := s.GetSegment(ctx, "vip")
	require.NoError(t, err)
	require.Equal(t, third, got, "the current revision, with its author and reason")
	for _, want := range []segment.Segment{first, second, third} {
		got, err := s.GetRevision(ctx, "vip", want.Revision)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err = s.GetRevision(ctx, "vip", 4)
	require.ErrorIs(t, err, segment.ErrRevisionNotFound)
	require.ErrorIs(t, err, apierror.ErrNotFound)
	_, err = s.GetRevision(ctx, "unknown", 1)
	require.ErrorIs(t, err, segment.ErrNotFound)

	all, err := s.ListRevisions(ctx, "vip", 0, 10)
	require.NoError(t, err)
	require.Equal(t, []segment.Segment{third, second, first}, all, "newest first")
	page, err := s.ListRevisions(ctx, "vip", 3, 1)
	require.NoError(t, err)
	require.Equal(t, []segment.Segment{second}, page)
	none, err := s.ListRevisions(ctx, "unknown", 0, 10)
	require.NoError(t, err)
	require.Empty(t, none)
}

func testEngineUpdate(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "buyers", Condition: `count("Order Completed") >= 1`, Author: "ana", Reason: "launch"})
	require.NoError(t, err)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		order(1, "profiles/p1", t0.Add(-48*time.Hour), 10),
		order(2, "profiles/p2", t0.Add(-time.Hour), 50), order(3, "profiles/p2", t0, 50),
		{Seq: 4, Resource: "events/4", Profile: "profiles/p3", Name: "Product Viewed", Time: t0},
	}))
	require.Len(t, allChanges(t, s), 2)

	clk.Set(t0.Add(time.Minute))
	cond := `count("Order Completed", "1d") >= 2 || count("Product Viewed") >= 1`
	updated, err := e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "buyers", Condition: &cond, Author: "bo", Reason: "recent repeat buyers and browsers"})
	require.NoError(t, err)
	require.Equal(t, segment.Segment{ID: "buyers", Condition: cond, Revision: 2, CreateTime: t0, UpdateTime: t0.Add(time.Minute),
		Author: "bo", Reason: "recent repeat buyers and browsers"}, updated)
	changes := allChanges(t, s)[2:]
	require.Equal(t, []string{"exited buyers segment updated", "entered buyers segment updated"}, describe(changes))
	require.Equal(t, []string{"profiles/p1", "profiles/p3"}, []string{changes[0].Profile, changes[1].Profile})
	require.EqualValues(t, 2, changes[0].Revision)
	ms, err := e.ListMembers(ctx, "buyers", "", 10)
	require.NoError(t, err)
	require.Equal(t, []segment.Membership{
		{Segment: "buyers", Profile: "profiles/p2", EnterTime: t0, Revision: 1},
		{Segment: "buyers", Profile: "profiles/p3", EnterTime: t0.Add(time.Minute), Revision: 2},
	}, ms, "members who stay keep the revision they entered under")
	next, err := s.NextCheck(ctx)
	require.NoError(t, err)
	require.Equal(t, t0.Add(23*time.Hour), next, "the new condition's windows are scheduled")

	// Metadata only: a new revision, no re-evaluation.
	desc := "Recent repeat buyers"
	updated, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "buyers", Description: &desc, Author: "ana", Reason: "describe"})
	require.NoError(t, err)
	require.EqualValues(t, 3, updated.Revision)
	require.Equal(t, cond, updated.Condition)
	require.Len(t, allChanges(t, s), 4)
	old, err := e.GetRevision(ctx, "buyers", 1)
	require.NoError(t, err)
	require.Equal(t, `count("Order Completed") >= 1`, old.Condition)
	require.Equal(t, "ana", old.Author)

	bad := `count(`
	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "buyers", Condition: &bad, Author: "x", Reason: "y"})
	var cerr *condition.Error
	require.ErrorAs(t, err, &cerr)
	_, err = e.UpdateSegment(ctx, segment.SegmentUpdate{ID: "unknown", Description: &desc, Author: "x", Reason: "y"})
	require.ErrorIs(t, err, segment.ErrNotFound)
	revs, err := e.ListRevisions(ctx, "buyers", 0, 10)
	require.NoError(t, err)
	require.Len(t, revs, 3, "failed updates leave no revision")
}

func testEnginePreview(t *testing.T, s segment.Store) {
	ctx := context.Background()
	e := segment.NewEngine(s, segment.Options{Now: func() time.Time { return t0 }})
	var events []segment.Event
	for i := range 20 {
		p := fmt.Sprintf("profiles/p%02d", i)
		for range i % 4 {
			events = append(events, order(int64(len(events)+1), p, t0.Add(-time.Hour), 10))
		}
		events = append(events, identify(int64(len(events)+1), p, t0, map[string]any{"n": float64(i)}))
	}
	require.NoError(t, e.ApplyEvents(ctx, events))
	got, err := e.PreviewSegment(ctx, `count("Order Completed", "1d") >= 3`, 2)
	require.NoError(t, err)
	require.Equal(t, segment.Preview{Size: 5, Total: 20, Sample: []string{"profiles/p03", "profiles/p07"}}, got)
	require.InDelta(t, 0.25, got.Share(), 1e-9)
	require.Empty(t, allChanges(t, s), "a preview records nothing")
	segs, err := s.ListSegments(ctx, "", 10, true)
	require.NoError(t, err)
	require.Empty(t, segs, "a preview saves nothing")
	next, err := s.NextCheck(ctx)
	require.NoError(t, err)
	require.Zero(t, next, "a preview schedules nothing")

	_, err = e.PreviewSegment(ctx, `count(`, 2)
	var cerr *condition.Error
	require.ErrorAs(t, err, &cerr)
	require.Zero(t, segment.Preview{}.Share(), "no profiles, no share")
}
