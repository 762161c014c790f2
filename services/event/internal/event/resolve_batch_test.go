package event_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

// batchResolver is an event.BatchResolver that records its calls and
// answers each request with answer; single calls fail the test.
type batchResolver struct {
	t      *testing.T
	calls  [][]event.Resolution
	answer func(event.Resolution) event.Resolved
	err    error
}

func (b *batchResolver) ResolveBatch(_ context.Context, reqs []event.Resolution) ([]event.Resolved, error) {
	b.calls = append(b.calls, reqs)
	if b.err != nil {
		return nil, b.err
	}
	out := make([]event.Resolved, len(reqs))
	for i, r := range reqs {
		out[i] = b.answer(r)
	}
	return out, nil
}

func (b *batchResolver) Resolve(_ context.Context, ids []event.Identifier, _ json.RawMessage, _ time.Time) (string, error) {
	b.t.Error("Resolve called although ResolveBatch works")
	return "", errors.New("unexpected")
}

func (b *batchResolver) Lookup(context.Context, event.Identifier) (string, error) {
	return "", event.ErrProfileNotFound
}

func values(r event.Resolution) []string {
	var out []string
	for _, id := range r.Identifiers {
		out = append(out, id.Value)
	}
	return out
}

// TestIngestResolvesBatchInOneCall checks that a batch's resolutions go to
// the profile service in one call, in batch order, once per run of events
// with the same identifiers, with identify traits; that a request's bad
// input rejects only its events; and that a request failing otherwise
// stores nothing.
func TestIngestResolvesBatchInOneCall(t *testing.T) {
	resolver := &batchResolver{t: t, answer: func(r event.Resolution) event.Resolved {
		if r.Identifiers[0].Value == "bad" {
			return event.Resolved{Err: apierror.Invalid("identifiers[0]", "bad is blocked")}
		}
		return event.Resolved{ProfileID: "p-" + r.Identifiers[0].Value}
	}}
	store := memory.New()
	log := event.NewLog(store, resolver, nil)
	identify := ev("m4", "a", "b")
	identify.Type, identify.Traits = event.TypeIdentify, json.RawMessage(`{"plan":"gold"}`)
	out, err := log.Ingest(context.Background(), []event.Event{
		ev("m1", "a"), ev("m2", "a"), ev("m3", "bad"), identify, ev("m5", "a"), ev("m6", "bad"), ev("m7", "c"),
	})
	require.NoError(t, err)
	require.Len(t, resolver.calls, 1)
	var asked [][]string
	for _, r := range resolver.calls[0] {
		asked = append(asked, values(r))
	}
	// m2 shares m1's resolution; m5 does not, as m4 linked "a" to "b" in
	// between; m6 shares m3's.
	require.Equal(t, [][]string{{"a"}, {"bad"}, {"a", "b"}, {"a"}, {"c"}}, asked)
	require.JSONEq(t, `{"plan":"gold"}`, string(resolver.calls[0][2].Traits))
	require.Nil(t, resolver.calls[0][0].Traits)
	require.Equal(t, []event.Status{event.StatusAccepted, event.StatusAccepted, event.StatusRejected, event.StatusAccepted,
		event.StatusAccepted, event.StatusRejected, event.StatusAccepted}, statuses(out))
	require.Equal(t, "identifiers[0]", out[5].Field)
	require.Equal(t, "p-a", out[1].Event.ProfileID)
	require.Equal(t, "p-c", out[6].Event.ProfileID)

	// Any other failure of one request fails the batch before the append.
	resolver.answer = func(event.Resolution) event.Resolved { return event.Resolved{Err: errors.New("profile store down")} }
	_, err = log.Ingest(context.Background(), []event.Event{ev("m8", "a")})
	require.ErrorIs(t, err, event.ErrProfileUnavailable)
	stored, err := store.ByMessageIDs(context.Background(), []string{"m8"})
	require.NoError(t, err)
	require.Empty(t, stored)
}

// singleOnly is a BatchResolver whose profile service predates batches.
type singleOnly struct{ resolverFunc }

func (singleOnly) ResolveBatch(context.Context, []event.Resolution) ([]event.Resolved, error) {
	return nil, event.ErrBatchUnsupported
}

// TestIngestFallsBackToSingleResolutions checks that a profile service
// without ResolveProfiles still resolves every event.
func TestIngestFallsBackToSingleResolutions(t *testing.T) {
	calls := 0
	log := event.NewLog(memory.New(), singleOnly{resolverFunc(func(_ context.Context, ids []event.Identifier) (string, error) {
		calls++
		return "p-" + ids[0].Value, nil
	})}, nil)
	out, err := log.Ingest(context.Background(), []event.Event{ev("m1", "a"), ev("m2", "b")})
	require.NoError(t, err)
	require.Equal(t, []event.Status{event.StatusAccepted, event.StatusAccepted}, statuses(out))
	require.Equal(t, "p-b", out[1].Event.ProfileID)
	require.Equal(t, 2, calls)
}

// TestIngestScrubsSuppressedIdentifiers checks that identifiers the profile
// service refused as suppressed (an erased person's) are stored nowhere:
// not among the event's identifiers, nor as values of its traits,
// properties or context, while the rest of the event is kept.
func TestIngestScrubsSuppressedIdentifiers(t *testing.T) {
	erased := event.Identifier{Type: "email", Value: "ana@example.com"}
	resolver := &batchResolver{t: t, answer: func(r event.Resolution) event.Resolved {
		return event.Resolved{ProfileID: "p-new", Suppressed: []event.Identifier{erased}}
	}}
	store := memory.New()
	log := event.NewLog(store, resolver, nil)
	e := ev("m1", "anon-1")
	e.Identifiers = append(e.Identifiers, erased)
	e.Type = event.TypeIdentify
	e.Traits = json.RawMessage(`{"email":" Ana@Example.com","plan":"gold","emails":["ana@example.com","x@example.com"]}`)
	e.Properties = json.RawMessage(`{"revenue":12.5,"contact":{"email":"ana@example.com","city":"Lisbon"}}`)
	e.Context = json.RawMessage(`{"traits":{"email":"ana@example.com"},"ip":"192.0.2.1"}`)
	same := ev("m2", "anon-1")
	same.Identifiers = append(same.Identifiers, erased)
	out, err := log.Ingest(context.Background(), []event.Event{e, same})
	require.NoError(t, err)
	require.Equal(t, []event.Status{event.StatusAccepted, event.StatusAccepted}, statuses(out))

	stored, err := store.ListProfile(context.Background(), "p-new", 0, 10)
	require.NoError(t, err)
	require.Len(t, stored, 2)
	for _, s := range stored {
		require.Equal(t, []event.Identifier{{Type: "user_id", Value: "anon-1"}}, s.Identifiers, s.MessageID)
	}
	require.JSONEq(t, `{"plan":"gold","emails":["x@example.com"]}`, string(stored[0].Traits))
	require.JSONEq(t, `{"revenue":12.5,"contact":{"city":"Lisbon"}}`, string(stored[0].Properties))
	require.JSONEq(t, `{"traits":{},"ip":"192.0.2.1"}`, string(stored[0].Context))
}
