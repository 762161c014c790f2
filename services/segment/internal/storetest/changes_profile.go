package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// eventService stands in for the event service's timelines: the events of
// each profile, which merges and unmerges move between profiles.
type eventService struct {
	mu       sync.Mutex
	profiles map[string][]segment.Event
	calls    int
}

func (s *eventService) add(evs ...segment.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.profiles[ev.Profile] = append(s.profiles[ev.Profile], ev)
	}
}

// move gives the events of from for which moves is true to to.
func (s *eventService) move(from, to string, moves func(segment.Event) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var stay []segment.Event
	for _, ev := range s.profiles[from] {
		if moves(ev) {
			ev.Profile = to
			s.profiles[to] = append(s.profiles[to], ev)
		} else {
			stay = append(stay, ev)
		}
	}
	s.profiles[from] = stay
	slices.SortFunc(s.profiles[to], func(a, b segment.Event) int { return int(a.Seq - b.Seq) })
}

func (s *eventService) source(_ context.Context, profile string, before int64) ([]segment.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	var out []segment.Event
	for _, ev := range s.profiles[profile] {
		if ev.Seq < before {
			out = append(out, ev)
		}
	}
	return out, nil
}

func memberOf(t *testing.T, e *segment.Engine, profile string) []string {
	t.Helper()
	ms, err := e.ProfileMemberships(context.Background(), profile)
	require.NoError(t, err)
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Segment)
	}
	return out
}

// testEngineMergeUnmerge is the propagation of the identity graph: two
// profiles merge so that the survivor enters a segment neither was in
// alone; the unmerge restores exactly the memberships from before; consent
// changes flip a consent() segment; an erasure leaves nothing naming the
// profile.
func testEngineMergeUnmerge(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	for id, cond := range map[string]string{
		"big":      `sum("Order Completed", "revenue") >= 100.0`,
		"buyer":    `count("Order Completed") >= 1`,
		"londoner": `has(traits.city) && traits.city == "London"`,
		"mailable": `consent("email")`,
		"solo":     `count("Order Completed") == 1`,
	} {
		_, err := e.CreateSegment(ctx, segment.Segment{ID: id, Condition: cond})
		require.NoError(t, err)
	}
	const a, b, c = "profiles/a", "profiles/b", "profiles/c"
	events := &eventService{profiles: map[string][]segment.Event{}}
	apply := func(evs ...segment.Event) {
		t.Helper()
		events.add(evs...)
		require.NoError(t, e.ApplyEvents(ctx, evs))
	}
	marker := func(u segment.ProfileUpdate) {
		t.Helper()
		require.NoError(t, e.ApplyProfileUpdate(ctx, u, events.source))
		cursor, err := e.Cursor(ctx)
		require.NoError(t, err)
		require.Equal(t, u.Seq, cursor)
		before := len(allChanges(t, s))
		require.NoError(t, e.ApplyProfileUpdate(ctx, u, events.source), "redelivered")
		require.Len(t, allChanges(t, s), before, "a redelivered marker changes nothing")
	}
	apply(order(1, a, t0, 60), identify(2, a, t0, map[string]any{"city": "London"}), order(3, b, t0, 50), order(4, c, t0, 10))
	before := map[string][]string{a: memberOf(t, e, a), b: memberOf(t, e, b), c: memberOf(t, e, c)}
	require.Equal(t, []string{"buyer", "londoner", "solo"}, before[a])
	require.Equal(t, []string{"buyer", "solo"}, before[b])
	history := len(allChanges(t, s))

	// The event service moved b's events to a, then the marker came.
	events.move(b, a, func(segment.Event) bool { return true })
	marker(segment.ProfileUpdate{Seq: 5, Kind: segment.UpdateMerged, Profiles: []string{a, b}})
	require.Equal(t, []string{"big", "buyer", "londoner"}, memberOf(t, e, a), "the survivor is evaluated over both profiles' events")
	require.Empty(t, memberOf(t, e, b), "the merged profile leaves every segment")
	require.Equal(t, before[c], memberOf(t, e, c), "other profiles are untouched")
	require.ElementsMatch(t, []string{
		"entered big profile merged", "exited solo profile merged",
		"exited buyer profile merged", "exited solo profile merged",
	}, describe(allChanges(t, s)[history:]))
	page, err := s.ProfilePage(ctx, "", 10, []string{"Order Completed"})
	require.NoError(t, err)
	names := []string{}
	for _, p := range page {
		names = append(names, p.Name)
		if p.Name == a {
			require.Len(t, p.Events, 2, "the survivor holds the facts of both")
			require.Equal(t, map[string]any{"city": "London"}, p.Traits)
		}
	}
	require.Equal(t, []string{a, c}, names, "the merged profile's state is gone")

	// An order after the merge, then the unmerge: b's order goes back.
	apply(order(6, a, t0, 5))
	events.move(a, b, func(ev segment.Event) bool { return ev.Seq == 3 })
	marker(segment.ProfileUpdate{Seq: 7, Kind: segment.UpdateUnmerged, Profiles: []string{a, b}})
	require.Equal(t, []string{"buyer", "londoner"}, memberOf(t, e, a), "a keeps its order after the merge: two orders are not solo")
	require.Equal(t, before[b], memberOf(t, e, b), "the unmerge restores exactly the memberships from before the merge")
	last := allChanges(t, s)
	require.Equal(t, "profile unmerged", last[len(last)-1].Reason)

	// Consent flips a consent() segment both ways.
	marker(segment.ProfileUpdate{Seq: 8, Kind: segment.UpdateConsent, Profiles: []string{b}, Consents: map[string]bool{"email": true, "sms": false}})
	require.Equal(t, []string{"buyer", "mailable", "solo"}, memberOf(t, e, b))
	marker(segment.ProfileUpdate{Seq: 9, Kind: segment.UpdateConsent, Profiles: []string{b}, Consents: map[string]bool{"email": false}})
	require.Equal(t, []string{"buyer", "solo"}, memberOf(t, e, b))
	last = allChanges(t, s)
	require.Equal(t, []string{"entered mailable consent changed", "exited mailable consent changed"}, describe(last[len(last)-2:]))
	// A consent change keeps the profile's facts and traits.
	apply(order(10, b, t0, 1))
	require.Equal(t, []string{"buyer"}, memberOf(t, e, b))

	// Erasure: nothing names b any more, and no exit is recorded for it.
	n := len(allChanges(t, s))
	marker(segment.ProfileUpdate{Seq: 11, Kind: segment.UpdateErased, Profiles: []string{b}})
	require.Empty(t, memberOf(t, e, b))
	for _, ch := range allChanges(t, s) {
		require.NotEqual(t, b, ch.Profile, "the history must not name an erased profile")
	}
	require.Less(t, len(allChanges(t, s)), n)
	byProfile, err := s.ListChanges(ctx, "", b, 0, 100)
	require.NoError(t, err)
	require.Empty(t, byProfile)
	members, err := s.ListMembers(ctx, "buyer", "", 100)
	require.NoError(t, err)
	for _, m := range members {
		require.NotEqual(t, b, m.Profile)
	}
	page, err = s.ProfilePage(ctx, "", 10, []string{"Order Completed"})
	require.NoError(t, err)
	for _, p := range page {
		require.NotEqual(t, b, p.Name)
	}
	require.Equal(t, []string{"buyer", "londoner"}, memberOf(t, e, a), "an erasure touches no one else")

	// A score refresh computed before the erasure reached the metrics
	// service stores nothing for the erased profile.
	_, err = e.ApplyScores(ctx, segment.Scores{RFM: map[string]condition.RFM{
		a: {Recency: 5, Frequency: 5, Monetary: 5, Orders: 3, Revenue: 30},
		b: {Recency: 4, Frequency: 4, Monetary: 4, Orders: 2, Revenue: 20},
	}})
	require.NoError(t, err)
	scores, err := s.ProfileScores(ctx, []string{a, b})
	require.NoError(t, err)
	require.Contains(t, scores, a)
	require.NotContains(t, scores, b, "no scores for an erased profile")
}
