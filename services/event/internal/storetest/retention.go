package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

// RetentionStore is a store that applies retention policies.
type RetentionStore interface {
	event.Store
	event.RetentionStore
}

// RunRetention runs the retention suite; newStore returns an empty store for
// each subtest.
func RunRetention(t *testing.T, newStore func(t *testing.T) RetentionStore) {
	t.Run("Delete", func(t *testing.T) { testRetentionDelete(t, newStore(t)) })
	t.Run("Anonymize", func(t *testing.T) { testRetentionAnonymize(t, newStore(t)) })
	t.Run("KeepForever", func(t *testing.T) { testRetentionKeepForever(t, newStore(t)) })
}

const retentionAge = 30 * 24 * time.Hour

// agedEvents appends, for profile p, events received at the given ages
// before now, and returns them as stored.
func agedEvents(t *testing.T, s event.Store, now time.Time, p string, ages map[string]time.Duration) map[string]event.Event {
	t.Helper()
	var batch []event.Event
	for id, age := range ages {
		ev := newEvent(id, p)
		ev.ReceivedAt = now.Add(-age).Truncate(time.Microsecond)
		ev.OccurredAt = ev.ReceivedAt
		batch = append(batch, ev)
	}
	appended, err := s.Append(context.Background(), batch)
	require.NoError(t, err)
	out := map[string]event.Event{}
	for _, a := range appended {
		out[a.Event.MessageID] = a.Event
	}
	return out
}

// loggedEvents returns the events of the log, without profile change
// markers.
func loggedEvents(t *testing.T, s event.Store) []event.Event {
	t.Helper()
	var out []event.Event
	for _, ev := range readAll(t, s) {
		if ev.Update == nil {
			out = append(out, ev)
		}
	}
	return out
}

func testRetentionDelete(t *testing.T, s RetentionStore) {
	ctx := context.Background()
	now := time.Now().UTC()
	agedEvents(t, s, now, "p1", map[string]time.Duration{
		"ancient":  800 * 24 * time.Hour,
		"old":      200 * 24 * time.Hour,
		"older":    45 * 24 * time.Hour,
		"boundary": retentionAge + time.Hour,
		"recent":   retentionAge - time.Hour,
		"new":      time.Hour,
	})
	agedEvents(t, s, now, "p2", map[string]time.Duration{"p2-old": 60 * 24 * time.Hour})
	r := event.Retention{MaxAge: retentionAge, Mode: event.RetentionDelete}
	res, err := event.ApplyRetention(ctx, s, r, now)
	require.NoError(t, err)
	require.Equal(t, int64(5), res.Deleted)
	require.Equal(t, now.Add(-retentionAge).Truncate(time.Microsecond), res.Cutoff)

	require.ElementsMatch(t, []string{"recent", "new"}, messageIDs(loggedEvents(t, s)))
	list, err := s.ListProfile(ctx, "p1", 0, 100)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"recent", "new"}, messageIDs(list))
	list, err = s.ListProfile(ctx, "p2", 0, 100)
	require.NoError(t, err)
	require.Empty(t, list)
	found, err := s.ByMessageIDs(ctx, []string{"ancient", "old", "boundary", "recent"})
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Contains(t, found, "recent")

	// The message id of a deleted event is forgotten with it.
	again := agedEvents(t, s, now, "p1", map[string]time.Duration{"old": time.Minute})
	require.Equal(t, now.Add(-time.Minute).Truncate(time.Microsecond), again["old"].ReceivedAt)
	appended, err := s.Append(ctx, []event.Event{again["old"]})
	require.NoError(t, err)
	require.True(t, appended[0].Duplicate)

	res, err = event.ApplyRetention(ctx, s, r, now)
	require.NoError(t, err)
	require.Zero(t, res.Deleted, "a second run finds nothing more to delete")
}

func testRetentionAnonymize(t *testing.T, s RetentionStore) {
	ctx := context.Background()
	now := time.Now().UTC()
	old := newEvent("old", "p1")
	old.ReceivedAt = now.Add(-60 * 24 * time.Hour).Truncate(time.Microsecond)
	old.Properties = json.RawMessage(`{"revenue":120.5,"Email":"x@example.com","note":"P1@example.com","plan":"gold"}`)
	old.Traits = json.RawMessage(`{"name":"Ana"}`)
	old.Context = json.RawMessage(`{"ip":"203.0.113.9","locale":"pt-PT","traits":{"email":"p1@example.com"}}`)
	recent := newEvent("recent", "p1")
	recent.ReceivedAt = now.Add(-time.Hour).Truncate(time.Microsecond)
	_, err := s.Append(ctx, []event.Event{old, recent})
	require.NoError(t, err)

	r := event.Retention{MaxAge: retentionAge, Mode: event.RetentionAnonymize}
	res, err := event.ApplyRetention(ctx, s, r, now)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Anonymized)
	require.Zero(t, res.Deleted)

	all := canonAll(t, loggedEvents(t, s))
	require.Len(t, all, 2, "anonymized events are kept")
	got := all[0]
	require.Equal(t, "old", got.MessageID)
	require.Empty(t, got.ProfileID)
	require.Empty(t, got.Identifiers)
	require.Nil(t, got.Traits)
	require.JSONEq(t, `{"revenue":120.5,"plan":"gold"}`, string(got.Properties))
	require.JSONEq(t, `{"locale":"pt-PT"}`, string(got.Context))
	require.Equal(t, old.Name, got.Name)
	require.Equal(t, old.ReceivedAt, got.ReceivedAt)
	require.Equal(t, canon(t, recent).Properties, all[1].Properties, "recent events are untouched")
	require.Equal(t, "p1", all[1].ProfileID)

	list, err := s.ListProfile(ctx, "p1", 0, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"recent"}, messageIDs(list), "an anonymized event belongs to no profile")

	res, err = event.ApplyRetention(ctx, s, r, now)
	require.NoError(t, err)
	require.Zero(t, res.Anonymized, "a second run finds nothing more to anonymize")
}

func testRetentionKeepForever(t *testing.T, s RetentionStore) {
	now := time.Now().UTC()
	agedEvents(t, s, now, "p1", map[string]time.Duration{"ancient": 800 * 24 * time.Hour})
	res, err := event.ApplyRetention(context.Background(), s, event.Retention{}, now)
	require.NoError(t, err)
	require.Zero(t, res.Deleted)
	require.Equal(t, []string{"ancient"}, messageIDs(loggedEvents(t, s)))
}
