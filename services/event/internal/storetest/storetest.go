// Package storetest is the conformance suite of event.Store: every store
// (memory, Postgres) runs it and must pass it unchanged.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) event.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s event.Store)
	}{
		{"AppendRoundTripsEveryField", testRoundTrip},
		{"AppendAssignsIncreasingSequences", testIncreasing},
		{"DuplicateAcrossBatches", testDuplicateAcrossBatches},
		{"DuplicateWithinBatch", testDuplicateWithinBatch},
		{"ConcurrentDuplicatesStoreOnce", testConcurrentDuplicates},
		{"ByMessageIDs", testByMessageIDs},
		{"ListProfilePages", testListProfile},
		{"ReadAfter", testReadAfter},
		{"ConcurrentWritersTailingReaderSeeEveryEventOnceInOrder", testNoGaps},
		{"ProfileChanges", testProfileChanges},
		{"EventResolvedBeforeAnUnmergeFollowsItsIdentifiers", testResolvedBeforeUnmerge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newEvent returns a complete event as Log.Ingest hands it to a store.
func newEvent(messageID, profileID string) event.Event {
	return event.Event{
		MessageID:    messageID,
		ProfileID:    profileID,
		Type:         event.TypeTrack,
		Name:         "Order Completed",
		Identifiers:  []event.Identifier{{Type: "user_id", Value: profileID}, {Type: "email", Value: profileID + "@example.com"}},
		Properties:   json.RawMessage(`{"revenue":120.5,"items":[{"sku":"s-1","qty":2}],"coupon":null}`),
		Context:      json.RawMessage(`{"device":{"type":"mobile"}}`),
		OccurredAt:   base.Add(-time.Hour),
		ReceivedAt:   base,
		TraceContext: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	}
}

// canon returns ev with its JSON re-encoded canonically, so that events are
// compared by meaning and not by how a store formats JSON.
func canon(t *testing.T, ev event.Event) event.Event {
	t.Helper()
	for _, raw := range []*json.RawMessage{&ev.Properties, &ev.Traits, &ev.Context} {
		if len(*raw) == 0 {
			*raw = nil
			continue
		}
		var v any
		require.NoError(t, json.Unmarshal(*raw, &v))
		b, err := json.Marshal(v)
		require.NoError(t, err)
		*raw = b
	}
	return ev
}

func canonAll(t *testing.T, events []event.Event) []event.Event {
	t.Helper()
	out := make([]event.Event, len(events))
	for i, ev := range events {
		out[i] = canon(t, ev)
	}
	return out
}

func appendOK(t *testing.T, s event.Store, events ...event.Event) []event.Appended {
	t.Helper()
	res, err := s.Append(context.Background(), events)
	require.NoError(t, err)
	require.Len(t, res, len(events))
	return res
}

func readAll(t *testing.T, s event.Store) []event.Event {
	t.Helper()
	events, err := s.ReadAfter(context.Background(), 0, 100000)
	require.NoError(t, err)
	return events
}

func messageIDs(events []event.Event) []string {
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.MessageID
	}
	return ids
}

func testRoundTrip(t *testing.T, s event.Store) {
	full := newEvent("m-full", "p1")
	full.Traits = json.RawMessage(`{"name":"Ana","vip":true}`)
	full.Type = event.TypeIdentify
	bare := event.Event{
		MessageID: "m-bare", ProfileID: "p2", Type: event.TypePage,
		Identifiers: []event.Identifier{{Type: "anonymous_id", Value: "a1"}},
		OccurredAt:  base, ReceivedAt: base.Add(time.Second),
	}
	res := appendOK(t, s, full, bare)

	for i, want := range []event.Event{full, bare} {
		require.False(t, res[i].Duplicate)
		require.Positive(t, res[i].Event.Seq)
		want.Seq = res[i].Event.Seq
		require.Equal(t, canon(t, want), canon(t, res[i].Event), "Append result %d", i)
	}
	full.Seq, bare.Seq = res[0].Event.Seq, res[1].Event.Seq
	require.Equal(t, canonAll(t, []event.Event{full, bare}), canonAll(t, readAll(t, s)))
}

func testIncreasing(t *testing.T, s event.Store) {
	var last int64
	for batch := range 3 {
		var events []event.Event
		for i := range batch + 2 {
			events = append(events, newEvent(fmt.Sprintf("m-%d-%d", batch, i), "p1"))
		}
		for _, a := range appendOK(t, s, events...) {
			require.Greater(t, a.Event.Seq, last)
			last = a.Event.Seq
		}
	}
	stored := readAll(t, s)
	require.Len(t, stored, 2+3+4)
	require.True(t, slices.IsSortedFunc(stored, func(a, b event.Event) int { return int(a.Seq - b.Seq) }))
}

func testDuplicateAcrossBatches(t *testing.T, s event.Store) {
	first := appendOK(t, s, newEvent("m-a", "p1"), newEvent("m-b", "p1"))

	again := newEvent("m-b", "p2")
	again.Name = "Something Else"
	res := appendOK(t, s, again, newEvent("m-c", "p2"))

	require.True(t, res[0].Duplicate)
	require.Equal(t, canon(t, first[1].Event), canon(t, res[0].Event), "a duplicate reports the stored event, not the new one")
	require.False(t, res[1].Duplicate)
	require.Greater(t, res[1].Event.Seq, first[1].Event.Seq)
	require.Equal(t, []string{"m-a", "m-b", "m-c"}, messageIDs(readAll(t, s)))
}

func testDuplicateWithinBatch(t *testing.T, s event.Store) {
	second := newEvent("m-x", "p2")
	second.Name = "Second"
	res := appendOK(t, s, newEvent("m-x", "p1"), second, newEvent("m-y", "p1"))

	require.False(t, res[0].Duplicate)
	require.True(t, res[1].Duplicate)
	require.Equal(t, canon(t, res[0].Event), canon(t, res[1].Event), "the first occurrence wins")
	require.Equal(t, "p1", res[1].Event.ProfileID)
	require.False(t, res[2].Duplicate)
	stored := readAll(t, s)
	require.Equal(t, []string{"m-x", "m-y"}, messageIDs(stored))
	require.Equal(t, "Order Completed", stored[0].Name)
}

func testConcurrentDuplicates(t *testing.T, s event.Store) {
	const writers, shared = 6, 15
	results := make([][]event.Appended, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		var events []event.Event
		for i := range shared {
			events = append(events, newEvent(fmt.Sprintf("shared-%d", i), fmt.Sprintf("p%d", w)))
		}
		events = append(events, newEvent(fmt.Sprintf("own-%d", w), fmt.Sprintf("p%d", w)))
		rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		wg.Go(func() {
			<-start
			results[w], errs[w] = s.Append(context.Background(), events)
		})
	}
	close(start)
	wg.Wait()

	stored := map[string]event.Event{}
	for _, ev := range readAll(t, s) {
		_, seen := stored[ev.MessageID]
		require.False(t, seen, "message id %s stored twice", ev.MessageID)
		stored[ev.MessageID] = ev
	}
	require.Len(t, stored, shared+writers)
	winners := map[string]int{}
	for w := range writers {
		require.NoError(t, errs[w])
		for _, a := range results[w] {
			require.Equal(t, canon(t, stored[a.Event.MessageID]), canon(t, a.Event), "writer %d sees the stored event", w)
			if !a.Duplicate {
				winners[a.Event.MessageID]++
			}
		}
	}
	for id := range stored {
		require.Equal(t, 1, winners[id], "exactly one writer stores %s", id)
	}
}

func testByMessageIDs(t *testing.T, s event.Store) {
	res := appendOK(t, s, newEvent("m-1", "p1"), newEvent("m-2", "p2"), newEvent("m-3", "p1"))
	tests := []struct {
		name string
		ask  []string
		want []int
	}{
		{"none asked", nil, nil},
		{"none stored", []string{"nope"}, nil},
		{"some stored", []string{"m-3", "nope", "m-1"}, []int{0, 2}},
		{"asked twice", []string{"m-2", "m-2"}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ByMessageIDs(context.Background(), tc.ask)
			require.NoError(t, err)
			want := map[string]event.Event{}
			for _, i := range tc.want {
				want[res[i].Event.MessageID] = canon(t, res[i].Event)
			}
			for id, ev := range got {
				got[id] = canon(t, ev)
			}
			require.Equal(t, want, got)
		})
	}
}

func testListProfile(t *testing.T, s event.Store) {
	var p1 []event.Event
	for batch := range 4 {
		var events []event.Event
		for i := range 3 {
			profile := []string{"p1", "p2"}[(batch+i)%2]
			events = append(events, newEvent(fmt.Sprintf("m-%d-%d", batch, i), profile))
		}
		for _, a := range appendOK(t, s, events...) {
			if a.Event.ProfileID == "p1" {
				p1 = append(p1, a.Event)
			}
		}
	}
	require.Len(t, p1, 6)

	tests := []struct {
		name    string
		profile string
		after   int64
		limit   int
		want    []event.Event
	}{
		{"first page", "p1", 0, 4, p1[:4]},
		{"next page", "p1", p1[3].Seq, 4, p1[4:]},
		{"after an event of another profile", "p1", p1[2].Seq + 1, 100, p1[3:]},
		{"after the last", "p1", p1[5].Seq, 4, nil},
		{"unknown profile", "p9", 0, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListProfile(context.Background(), tc.profile, tc.after, tc.limit)
			require.NoError(t, err)
			require.Equal(t, canonAll(t, tc.want), canonAll(t, got))
		})
	}

	var paged []event.Event
	for after := int64(0); ; {
		page, err := s.ListProfile(context.Background(), "p1", after, 2)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Seq
	}
	require.Equal(t, canonAll(t, p1), canonAll(t, paged), "paging by 2 visits every event once")
}

func testReadAfter(t *testing.T, s event.Store) {
	var all []event.Event
	for batch := range 3 {
		for _, a := range appendOK(t, s, newEvent(fmt.Sprintf("m-%d-a", batch), "p1"), newEvent(fmt.Sprintf("m-%d-b", batch), "p2")) {
			all = append(all, a.Event)
		}
	}
	last := all[len(all)-1].Seq
	tests := []struct {
		name  string
		after int64
		limit int
		want  []event.Event
	}{
		{"from the start", 0, 100, all},
		{"limited", 0, 2, all[:2]},
		{"after a cursor", all[1].Seq, 3, all[2:5]},
		{"at the end", last, 10, nil},
		{"beyond the end", last + 100, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ReadAfter(context.Background(), tc.after, tc.limit)
			require.NoError(t, err)
			require.Equal(t, canonAll(t, tc.want), canonAll(t, got))
		})
	}
}

// testNoGaps is the log's ordering contract: writers append concurrently
// while a reader tails the log as a consumer does (read after its cursor,
// move the cursor to the last event read). If an event could become visible
// after one with a larger sequence, the reader would move past it and never
// see it.
func testNoGaps(t *testing.T, s event.Store) {
	const writers, batches = 3, 40
	ctx := context.Background()
	appended := make([][]event.Appended, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var events []event.Event
				for i := range 1 + (w+b)%4 {
					events = append(events, newEvent(fmt.Sprintf("w%d-b%d-%d", w, b, i), fmt.Sprintf("p%d", w)))
				}
				res, err := s.Append(ctx, events)
				if err != nil {
					errs[w] = err
					return
				}
				appended[w] = append(appended[w], res...)
			}
		})
	}
	writing := make(chan struct{})
	go func() {
		wg.Wait()
		close(writing)
	}()

	var seen []event.Event
	var cursor int64
	read := func() int {
		events, err := s.ReadAfter(ctx, cursor, 5)
		require.NoError(t, err)
		for _, ev := range events {
			require.Greater(t, ev.Seq, cursor, "events arrive in sequence order")
			cursor = ev.Seq
		}
		seen = append(seen, events...)
		return len(events)
	}
	for done := false; !done; {
		select {
		case <-writing:
			done = true
		default:
			read()
		}
	}
	for read() > 0 {
	}

	want := map[string]int64{}
	for w := range writers {
		require.NoError(t, errs[w])
		for _, a := range appended[w] {
			require.False(t, a.Duplicate)
			want[a.Event.MessageID] = a.Event.Seq
		}
	}
	got := map[string]int64{}
	for _, ev := range seen {
		_, dup := got[ev.MessageID]
		require.False(t, dup, "event %s delivered twice", ev.MessageID)
		got[ev.MessageID] = ev.Seq
	}
	require.Len(t, want, writers*batches*10/4)
	require.Equal(t, want, got, "the tailing reader sees every appended event exactly once")
}
