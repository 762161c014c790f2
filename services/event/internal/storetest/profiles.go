package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

// logTexts describes log entries in one line each: "message-id@profile" for
// an event, "kind[profiles]" for a marker.
func logTexts(entries []event.Event) []string {
	out := make([]string, len(entries))
	for i, ev := range entries {
		if ev.Update != nil {
			out[i] = fmt.Sprintf("%d%v", ev.Update.Kind, ev.Update.Profiles)
			continue
		}
		out[i] = ev.MessageID + "@" + ev.ProfileID
	}
	return out
}

func profileTexts(t *testing.T, s event.Store, profileID string) []string {
	t.Helper()
	events, err := s.ListProfile(context.Background(), profileID, 0, 1000)
	require.NoError(t, err)
	return messageIDs(events)
}

func withIDs(ev event.Event, ids ...string) event.Event {
	ev.Identifiers = nil
	for _, id := range ids {
		ev.Identifiers = append(ev.Identifiers, event.Identifier{Type: "anonymous_id", Value: id})
	}
	return ev
}

func idents(values ...string) []event.Identifier {
	out := make([]event.Identifier, len(values))
	for i, v := range values {
		out[i] = event.Identifier{Type: "anonymous_id", Value: v}
	}
	return out
}

// applier returns s as an event.ProfileChangeStore, and a function that
// applies a change to it twice, as a redelivery does: the first time
// applies it, the second skips it, and the cursor is the change's.
func applier(t *testing.T, s event.Store) (event.ProfileChangeStore, func(event.ProfileChange)) {
	ps, ok := s.(event.ProfileChangeStore)
	require.True(t, ok, "the store applies profile changes")
	return ps, func(c event.ProfileChange) {
		t.Helper()
		ctx := context.Background()
		applied, err := ps.ApplyProfileChange(ctx, c)
		require.NoError(t, err)
		require.True(t, applied)
		again, err := ps.ApplyProfileChange(ctx, c)
		require.NoError(t, err)
		require.False(t, again, "a change at or before the cursor is skipped")
		cursor, err := ps.ProfileCursor(ctx)
		require.NoError(t, err)
		require.Equal(t, c.Seq, cursor)
	}
}

// testProfileChanges applies a merge, an unmerge, a consent change and an
// erasure, each twice (as a redelivery does), and checks the events, the
// markers in the log and the cursor after each.
func testProfileChanges(t *testing.T, s event.Store) {
	ctx := context.Background()
	ps, apply := applier(t, s)
	cursor, err := ps.ProfileCursor(ctx)
	require.NoError(t, err)
	require.Zero(t, cursor)

	appendOK(t, s,
		withIDs(newEvent("a1", "A"), "a"),
		withIDs(newEvent("b1", "B"), "b"),
		withIDs(newEvent("b2", "B"), "b", "x"),
		withIDs(newEvent("c1", "C"), "c"))
	apply(event.ProfileChange{Seq: 3, Kind: event.UpdateMerged, Time: base, Profile: "A", Other: "B"})
	require.Equal(t, []string{"a1", "b1", "b2"}, profileTexts(t, s, "A"), "the merged profile's events are the survivor's, in log order")
	require.Empty(t, profileTexts(t, s, "B"))
	byID, err := s.ByMessageIDs(ctx, []string{"b1"})
	require.NoError(t, err)
	require.Equal(t, "A", byID["b1"].ProfileID)
	entries := readAll(t, s)
	require.Equal(t, []string{"a1@A", "b1@A", "b2@A", "c1@C", "1[A B]"}, logTexts(entries))
	require.Equal(t, base, entries[4].Update.Time)
	require.Greater(t, entries[4].Seq, entries[3].Seq, "the marker takes the next position of the log")

	// An event resolved to B before the merge and appended after it is
	// stored under A.
	late := appendOK(t, s, withIDs(newEvent("late", "B"), "b"))
	require.Equal(t, "A", late[0].Event.ProfileID, "an append for a profile merged away goes to the survivor")
	appendOK(t, s, withIDs(newEvent("j1", "A"), "a", "b"), withIDs(newEvent("b3", "A"), "b"), withIDs(newEvent("a2", "A"), "a"))
	apply(event.ProfileChange{Seq: 4, Kind: event.UpdateUnmerged, Time: base, Profile: "A", Other: "B",
		Identifiers: idents("b", "x"), Kept: idents("a")})
	require.Equal(t, []string{"a1", "j1", "a2"}, profileTexts(t, s, "A"), "an event with identifiers of both stays with the survivor")
	require.Equal(t, []string{"b1", "b2", "late", "b3"}, profileTexts(t, s, "B"))
	again := appendOK(t, s, withIDs(newEvent("b4", "B"), "b"))
	require.Equal(t, "B", again[0].Event.ProfileID, "after the unmerge, B's events are B's again")
	byID, err = s.ByMessageIDs(ctx, []string{"b3", "j1"})
	require.NoError(t, err)
	require.Equal(t, "B", byID["b3"].ProfileID)
	require.Equal(t, "A", byID["j1"].ProfileID)

	consents := []event.Consent{{Purpose: "email", Granted: true, Source: "signup", Time: base}}
	apply(event.ProfileChange{Seq: 7, Kind: event.UpdateConsent, Time: base, Profile: "A", Consents: consents})
	entries = readAll(t, s)
	last := entries[len(entries)-1]
	require.Equal(t, &event.ProfileUpdate{Kind: event.UpdateConsent, Profiles: []string{"A"}, Consents: consents, Time: base}, last.Update)
	require.Equal(t, event.Event{Seq: last.Seq, Update: last.Update}, last, "a marker carries nothing else")

	apply(event.ProfileChange{Seq: 8, Kind: event.UpdateConsent, Time: base, Profile: "B", Consents: consents})
	apply(event.ProfileChange{Seq: 9, Kind: event.UpdateErased, Time: base, Profile: "B"})
	require.Empty(t, profileTexts(t, s, "B"))
	byID, err = s.ByMessageIDs(ctx, []string{"b1", "b2", "b3"})
	require.NoError(t, err)
	require.Empty(t, byID, "an erased profile's message ids are forgotten")
	entries = readAll(t, s)
	require.Equal(t, []string{"a1@A", "c1@C", "1[A B]", "j1@A", "a2@A", "2[A B]", "3[A]", "3[B]", "4[B]"}, logTexts(entries))
	require.Equal(t, consents, entries[6].Update.Consents, "the consents of others stay")
	require.Nil(t, entries[7].Update.Consents, "an erased profile's consents (their sources may name the person) are dropped")
	for i := 1; i < len(entries); i++ {
		require.Greater(t, entries[i].Seq, entries[i-1].Seq)
	}
	// Reading one entry at a time past the holes the erasure left finds
	// every entry.
	var paged []event.Event
	for after := int64(0); ; {
		page, err := s.ReadAfter(ctx, after, 1)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[0].Seq
	}
	require.Equal(t, logTexts(entries), logTexts(paged))

	res := appendOK(t, s, withIDs(newEvent("b1", "B2"), "b"))
	require.False(t, res[0].Duplicate, "an erased message id can be stored again")

	// An append resolved before an erasure and committed after it stores
	// nothing, for the erased profile and for those merged into it before:
	// resolved again, its events get a profile that is not erased.
	apply(event.ProfileChange{Seq: 10, Kind: event.UpdateMerged, Time: base, Profile: "A", Other: "C"})
	apply(event.ProfileChange{Seq: 11, Kind: event.UpdateErased, Time: base, Profile: "A"})
	before := readAll(t, s)
	for _, profile := range []string{"A", "B", "C"} {
		_, err := s.Append(ctx, []event.Event{withIDs(newEvent("live-"+profile, "D"), "d"), withIDs(newEvent("late-"+profile, profile), "a")})
		require.ErrorIs(t, err, event.ErrProfileErased, "profile %s", profile)
	}
	require.Equal(t, logTexts(before), logTexts(readAll(t, s)), "nothing of the failed appends is stored")
	appendOK(t, s, withIDs(newEvent("live", "D"), "d"))
}

// testResolvedBeforeUnmerge appends events resolved before an unmerge was
// applied (their ResolvedAfter is before it) after it was: those that carry
// an identifier moved back and none kept go where they would have gone had
// they been stored before it, following later merges and unmerges, and
// never to an erased profile.
func testResolvedBeforeUnmerge(t *testing.T, s event.Store) {
	ctx := context.Background()
	_, apply := applier(t, s)
	resolved := func(ev event.Event, after int64) event.Event {
		ev.ResolvedAfter = after
		return ev
	}
	profiles := func(out []event.Appended) []string {
		var ps []string
		for _, a := range out {
			require.Zero(t, a.Event.ResolvedAfter, "it is not stored")
			ps = append(ps, a.Event.ProfileID)
		}
		return ps
	}

	appendOK(t, s, withIDs(newEvent("a1", "A"), "a"), withIDs(newEvent("b1", "B"), "b"))
	apply(event.ProfileChange{Seq: 1, Kind: event.UpdateMerged, Profile: "A", Other: "B"})
	apply(event.ProfileChange{Seq: 2, Kind: event.UpdateUnmerged, Profile: "A", Other: "B", Identifiers: idents("b", "x"), Kept: idents("a")})
	out := appendOK(t, s,
		resolved(withIDs(newEvent("late-b", "A"), "b"), 1),
		resolved(withIDs(newEvent("late-ab", "A"), "a", "b"), 1),
		resolved(withIDs(newEvent("late-y", "A"), "y"), 1),
		resolved(withIDs(newEvent("after-b", "A"), "b"), 2))
	require.Equal(t, []string{"B", "A", "A", "A"}, profiles(out),
		"moved back: only the event resolved before the unmerge with a moved identifier and none kept")
	require.Equal(t, []string{"b1", "late-b"}, profileTexts(t, s, "B"))
	require.Equal(t, []string{"a1", "late-ab", "late-y", "after-b"}, profileTexts(t, s, "A"))

	// B was merged into C since, and C unmerged D, which took x back: an
	// event resolved to A before all of it, carrying x, is D's.
	apply(event.ProfileChange{Seq: 3, Kind: event.UpdateMerged, Profile: "C", Other: "B"})
	out = appendOK(t, s, resolved(withIDs(newEvent("late-x", "A"), "x"), 1))
	require.Equal(t, []string{"C"}, profiles(out), "the restored profile was merged since")
	apply(event.ProfileChange{Seq: 4, Kind: event.UpdateUnmerged, Profile: "C", Other: "D", Identifiers: idents("x"), Kept: idents("b")})
	out = appendOK(t, s, resolved(withIDs(newEvent("later-x", "A"), "x"), 1), resolved(withIDs(newEvent("c-x", "C"), "x"), 3))
	require.Equal(t, []string{"D", "D"}, profiles(out), "unmerges apply in order")

	// An event that would go to an erased profile is not stored: resolved
	// again, it finds the profile its identifiers belong to now.
	apply(event.ProfileChange{Seq: 5, Kind: event.UpdateErased, Profile: "D"})
	before := readAll(t, s)
	_, err := s.Append(ctx, []event.Event{withIDs(newEvent("live", "E"), "e"), resolved(withIDs(newEvent("gone", "A"), "x"), 1)})
	require.ErrorIs(t, err, event.ErrProfileErased)
	require.Equal(t, logTexts(before), logTexts(readAll(t, s)), "nothing of the failed append is stored")
	out = appendOK(t, s, resolved(withIDs(newEvent("gone", "A"), "x"), 5))
	require.Equal(t, []string{"A"}, profiles(out))
}
