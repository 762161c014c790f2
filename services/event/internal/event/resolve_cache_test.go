package event_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

// cachedLog returns a Log over a memory store whose resolver answers each
// request with the profile "p-" + its identifier values, recording the
// requests, and whose resolution cache runs on *now.
func cachedLog(t *testing.T, now *time.Time) (*event.Log, *memory.Store, *batchResolver) {
	t.Helper()
	r := &batchResolver{t: t, answer: func(req event.Resolution) event.Resolved {
		return event.Resolved{ProfileID: "p-" + strings.Join(values(req), "+")}
	}}
	store := memory.New()
	clock := func() time.Time { return *now }
	return event.NewLog(store, r, nil, event.WithResolveCache(time.Minute, 100, clock)), store, r
}

// requested returns the identifier values of every request r received
// since the last call, one string per request.
func requested(r *batchResolver) []string {
	var out []string
	for _, call := range r.calls {
		for _, req := range call {
			out = append(out, strings.Join(values(req), "+"))
		}
	}
	r.calls = nil
	return out
}

func ingest(t *testing.T, l *event.Log, events ...event.Event) []event.Outcome {
	t.Helper()
	out, err := l.Ingest(context.Background(), events)
	require.NoError(t, err)
	return out
}

// TestResolveCacheReusesKnownVisitors checks that a known visitor's next
// events are stored under their profile without asking the profile service,
// in the order sent, and that what could change a resolution asks again:
// traits, other signals, other identifiers, expiry, a profile change.
func TestResolveCacheReusesKnownVisitors(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l, store, r := cachedLog(t, &now)

	out := ingest(t, l, ev("a1", "ann"), ev("b1", "bob"))
	require.Equal(t, []string{"ann", "bob"}, requested(r))
	require.Equal(t, "p-ann", out[0].Event.ProfileID)

	// Known: nothing asked, stored under the cached profile, in order.
	out = ingest(t, l, ev("a2", "ann"), ev("c1", "cid"), ev("a3", "ann"))
	require.Equal(t, []string{"cid"}, requested(r))
	require.Equal(t, []event.Status{event.StatusAccepted, event.StatusAccepted, event.StatusAccepted}, statuses(out))
	require.Equal(t, "p-ann", out[0].Event.ProfileID)
	require.Equal(t, "p-ann", out[2].Event.ProfileID)
	require.Less(t, out[0].Event.Seq, out[1].Event.Seq)
	require.Less(t, out[1].Event.Seq, out[2].Event.Seq)

	// A known event sent again is a duplicate, found at commit.
	out = ingest(t, l, ev("a2", "ann"))
	require.Empty(t, requested(r))
	require.Equal(t, []event.Status{event.StatusDuplicate}, statuses(out))

	// Traits are set by the profile service, every time.
	identify := ev("a4", "ann")
	identify.Type, identify.Traits = event.TypeIdentify, json.RawMessage(`{"plan":"pro"}`)
	ingest(t, l, identify)
	require.Equal(t, []string{"ann"}, requested(r))

	// Other weak matching signals are recorded by the profile service; the
	// same ones are reused.
	withIP := ev("a5", "ann")
	withIP.Context = json.RawMessage(`{"ip":"203.0.113.9","page":{"url":"/a"}}`)
	ingest(t, l, withIP)
	require.Equal(t, []string{"ann"}, requested(r))
	samePage := ev("a6", "ann")
	samePage.Context = json.RawMessage(`{"ip":"203.0.113.9","page":{"url":"/b"}}`)
	ingest(t, l, samePage)
	require.Empty(t, requested(r))

	// Other identifiers, even a superset, are a new resolution.
	ingest(t, l, ev("a7", "ann", "ann-anon"))
	require.Equal(t, []string{"ann+ann-anon"}, requested(r))

	// Entries expire.
	now = now.Add(time.Minute + time.Second)
	ingest(t, l, ev("b2", "bob"))
	require.Equal(t, []string{"bob"}, requested(r))
	ingest(t, l, ev("b3", "bob"))
	require.Empty(t, requested(r))

	// Any profile change clears the cache, even one applied before.
	require.NoError(t, l.ApplyProfileChange(context.Background(), event.ProfileChange{Seq: 1, Kind: event.UpdateMerged, Profile: "p-ann", Other: "p-bob"}))
	ingest(t, l, ev("b4", "bob"))
	require.Equal(t, []string{"bob"}, requested(r))
	ingest(t, l, ev("b5", "bob"))
	require.Empty(t, requested(r))
	require.NoError(t, l.ApplyProfileChange(context.Background(), event.ProfileChange{Seq: 1, Kind: event.UpdateMerged, Profile: "p-ann", Other: "p-bob"}))
	ingest(t, l, ev("b6", "bob"))
	require.Equal(t, []string{"bob"}, requested(r))

	list, err := store.ListProfile(context.Background(), "p-ann", 0, 100)
	require.NoError(t, err)
	require.Len(t, list, 12, "ann's six events and bob's six, merged into ann")
}

// TestResolveCacheYieldsToEarlierLinks checks that an event whose
// identifiers an earlier event of the batch links to others is resolved
// after it by the profile service, not from the cache: the link may merge
// its profile into another.
func TestResolveCacheYieldsToEarlierLinks(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l, _, r := cachedLog(t, &now)
	ingest(t, l, ev("x1", "anon"), ev("u1", "user"))
	requested(r)

	out := ingest(t, l, ev("u2", "user"), ev("l1", "anon", "user"), ev("x2", "anon"))
	require.Equal(t, []string{"anon+user", "anon"}, requested(r), "user's event before the link is known; anon's after it is not")
	require.Equal(t, "p-user", out[0].Event.ProfileID)
	require.Equal(t, "p-anon", out[2].Event.ProfileID)
}

// TestResolveCacheOff checks that a zero time to live asks for every batch.
func TestResolveCacheOff(t *testing.T) {
	r := &batchResolver{t: t, answer: func(req event.Resolution) event.Resolved {
		return event.Resolved{ProfileID: "p-" + strings.Join(values(req), "+")}
	}}
	l := event.NewLog(memory.New(), r, nil, event.WithResolveCache(0, 100, nil))
	ingest(t, l, ev("a1", "ann"))
	ingest(t, l, ev("a2", "ann"))
	require.Equal(t, []string{"ann", "ann"}, requested(r))
}
