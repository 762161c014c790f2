package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// testProfileUpdates applies a merge, an unmerge and an erasure through the
// Tracker, with the event service's timelines as they are after each, and
// checks every profile's activity after each.
func testProfileUpdates(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	tracker := metrics.NewTracker(s, nil)
	_, err := s.ApplyEvents(ctx, events(), 7)
	require.NoError(t, err)
	before := activity(t, s, day1, day1.Add(48*time.Hour))
	apply(t, s, []metrics.Change{{Seq: 1, Segment: "buyers", Profile: "profiles/b", Kind: metrics.Entered, Time: day1}}, 1)

	// timelines are the event service's: b's events move to a on the
	// merge and back on the unmerge.
	timelines := map[string][]metrics.Event{}
	for _, ev := range events() {
		timelines[ev.Profile] = append(timelines[ev.Profile], ev)
	}
	source := func(_ context.Context, profile string, before int64) ([]metrics.Event, error) {
		var out []metrics.Event
		for _, ev := range timelines[profile] {
			if ev.Seq < before {
				out = append(out, ev)
			}
		}
		return out, nil
	}
	marker := func(u metrics.ProfileUpdate) {
		t.Helper()
		require.NoError(t, tracker.ApplyProfileUpdate(ctx, u, source))
		require.Equal(t, u.Seq, eventCursor(t, s))
		again := activity(t, s, day1, day1.Add(48*time.Hour))
		require.NoError(t, tracker.ApplyProfileUpdate(ctx, u, source))
		require.Equal(t, again, activity(t, s, day1, day1.Add(48*time.Hour)), "a redelivered marker changes nothing")
	}

	timelines["profiles/a"] = append(timelines["profiles/a"], timelines["profiles/b"]...)
	slices.SortFunc(timelines["profiles/a"], func(x, y metrics.Event) int { return int(x.Seq - y.Seq) })
	timelines["profiles/b"] = nil
	marker(metrics.ProfileUpdate{Seq: 8, Kind: metrics.UpdateMerged, Profiles: []string{"profiles/a", "profiles/b"}})
	d2, d3 := day1.Add(24*time.Hour), day1.Add(48*time.Hour)
	require.Equal(t, []metrics.ProfileDay{
		{Profile: "profiles/a", Date: date(day1), Orders: 2, Revenue: 14.75, Opens: 1},
		{Profile: "profiles/a", Date: date(d2), Clicks: 1, Unsubscribes: 1},
		{Profile: "profiles/a", Date: date(d3), Orders: 1, Revenue: 2},
	}, activity(t, s, day1, d3), "the survivor's activity holds both profiles'")
	require.EqualValues(t, 2, profiles(t, s, d3), "the merged profile no longer counts")

	// An order of a after the merge, counted as events are.
	late := event(9, "profiles/a", metrics.Order, d3, 1)
	timelines["profiles/a"] = append(timelines["profiles/a"], late)
	_, err = s.ApplyEvents(ctx, []metrics.Event{late}, 9)
	require.NoError(t, err)

	var back, stay []metrics.Event
	for _, ev := range timelines["profiles/a"] {
		if ev.Seq == 4 || ev.Seq == 5 {
			ev.Profile = "profiles/b"
			back = append(back, ev)
		} else {
			stay = append(stay, ev)
		}
	}
	timelines["profiles/a"], timelines["profiles/b"] = stay, back
	marker(metrics.ProfileUpdate{Seq: 10, Kind: metrics.UpdateUnmerged, Profiles: []string{"profiles/a", "profiles/b"}})
	want := slices.Clone(before)
	want[1].Orders, want[1].Revenue = 2, 3
	require.Equal(t, want, activity(t, s, day1, d3), "the unmerge gives each profile its own activity back")
	require.EqualValues(t, 3, profiles(t, s, d3))

	marker(metrics.ProfileUpdate{Seq: 11, Kind: metrics.UpdateConsent, Profiles: []string{"profiles/b"}})
	require.Equal(t, want, activity(t, s, day1, d3), "a consent change counts nothing")

	timelines["profiles/b"] = nil
	marker(metrics.ProfileUpdate{Seq: 12, Kind: metrics.UpdateErased, Profiles: []string{"profiles/b"}})
	require.Equal(t, want[:2], activity(t, s, day1, d3), "an erased profile's activity is gone")
	changes, err := s.Memberships(ctx, []string{"buyers"}, d3)
	require.NoError(t, err)
	require.Empty(t, changes, "no membership change names an erased profile")
	require.EqualValues(t, 2, profiles(t, s, d3))

	// The membership feed runs apart from the event log: a change of b read
	// before the erasure and applied after it does not bring b back.
	apply(t, s, []metrics.Change{{Seq: 2, Segment: "buyers", Profile: "profiles/b", Kind: metrics.Exited, Time: d2}}, 2)
	changes, err = s.Memberships(ctx, []string{"buyers"}, d3)
	require.NoError(t, err)
	require.Empty(t, changes, "a late change of an erased profile is dropped")
	require.EqualValues(t, 2, profiles(t, s, d3))
}
