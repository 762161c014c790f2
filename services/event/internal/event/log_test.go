package event_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/memory"
)

// resolverFunc adapts a function to event.Resolver.
type resolverFunc func(ctx context.Context, ids []event.Identifier) (string, error)

func (f resolverFunc) Resolve(ctx context.Context, ids []event.Identifier, _ json.RawMessage, _ time.Time) (string, error) {
	return f(ctx, ids)
}

func (f resolverFunc) Lookup(ctx context.Context, id event.Identifier) (string, error) {
	return f(ctx, []event.Identifier{id})
}

func ev(messageID string, ids ...string) event.Event {
	e := event.Event{MessageID: messageID, Type: event.TypeTrack, Name: "E", OccurredAt: time.Now(), ReceivedAt: time.Now()}
	for _, v := range ids {
		e.Identifiers = append(e.Identifiers, event.Identifier{Type: "user_id", Value: v})
	}
	return e
}

func statuses(out []event.Outcome) []event.Status {
	s := make([]event.Status, len(out))
	for i, o := range out {
		s[i] = o.Status
	}
	return s
}

// TestIngestOrdersResolutionsThatShareIdentifiers proves both halves of the
// scheduling rule without timing: "a" blocks until "c", which shares no
// identifier with it, has been resolved (so resolutions do run in parallel),
// and "b", which shares an identifier with "a", is resolved only after "a".
func TestIngestOrdersResolutionsThatShareIdentifiers(t *testing.T) {
	cResolved := make(chan struct{})
	var mu sync.Mutex
	var order []string
	resolver := resolverFunc(func(ctx context.Context, ids []event.Identifier) (string, error) {
		if ids[0].Value == "a" {
			select {
			case <-cResolved:
			case <-time.After(10 * time.Second):
				return "", errors.New("c was not resolved while a was waiting: resolutions are not parallel")
			}
		}
		mu.Lock()
		order = append(order, ids[len(ids)-1].Value)
		mu.Unlock()
		if ids[0].Value == "c" {
			close(cResolved)
		}
		return "p-" + ids[0].Value, nil
	})
	log := event.NewLog(memory.New(), resolver, nil)
	out, err := log.Ingest(context.Background(), []event.Event{ev("m1", "a"), ev("m2", "a", "b"), ev("m3", "c")})
	require.NoError(t, err)
	require.Equal(t, []event.Status{event.StatusAccepted, event.StatusAccepted, event.StatusAccepted}, statuses(out))
	require.Equal(t, []string{"c", "a", "b"}, order)
	require.Equal(t, "p-a", out[1].Event.ProfileID)
}

func TestIngestRejectsWhatTheResolverRejects(t *testing.T) {
	resolver := resolverFunc(func(ctx context.Context, ids []event.Identifier) (string, error) {
		if ids[0].Value == "blocked" {
			return "", apierror.Invalid("identifiers[0]", "user_id blocked is blocked")
		}
		return "p1", nil
	})
	log := event.NewLog(memory.New(), resolver, nil)
	out, err := log.Ingest(context.Background(), []event.Event{ev("m1", "blocked"), ev("m2", "ok"), ev("m1", "blocked")})
	require.NoError(t, err)
	require.Equal(t, []event.Outcome{
		{Status: event.StatusRejected, Field: "identifiers[0]", Reason: "user_id blocked is blocked"},
		{Status: event.StatusAccepted, Event: out[1].Event},
		{Status: event.StatusRejected, Field: "message_id", Reason: "repeats the message_id of an earlier event of the batch, which was rejected"},
	}, out)
	require.EqualValues(t, 1, out[1].Event.Seq)
}

func TestIngestFailsWholeBatchWhenResolverFails(t *testing.T) {
	store := memory.New()
	resolver := resolverFunc(func(ctx context.Context, ids []event.Identifier) (string, error) {
		if ids[0].Value == "down" {
			return "", errors.New("connection refused")
		}
		return "p1", nil
	})
	log := event.NewLog(store, resolver, nil)
	_, err := log.Ingest(context.Background(), []event.Event{ev("m1", "ok"), ev("m2", "down"), ev("m3", "ok2")})
	require.ErrorIs(t, err, event.ErrProfileUnavailable)
	require.ErrorIs(t, err, apierror.ErrUnavailable)
	stored, err := store.ReadAfter(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Empty(t, stored, "nothing of a failed batch is stored")
}

func TestIngestReturnsCallerCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	resolver := resolverFunc(func(ctx context.Context, ids []event.Identifier) (string, error) {
		cancel()
		<-ctx.Done()
		return "", ctx.Err()
	})
	_, err := event.NewLog(memory.New(), resolver, nil).Ingest(ctx, []event.Event{ev("m1", "a")})
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, apierror.ErrUnavailable)
}

func TestIngestWakesTailers(t *testing.T) {
	log := event.NewLog(memory.New(), resolverFunc(func(context.Context, []event.Identifier) (string, error) { return "p1", nil }), nil)
	woken := log.Signal().C()
	_, err := log.Ingest(context.Background(), []event.Event{ev("m1", "a")})
	require.NoError(t, err)
	select {
	case <-woken:
	default:
		t.Fatal("a commit must notify the signal")
	}
}
