package event_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// normalizerFunc adapts a function to event.Normalizer.
type normalizerFunc func(ev *event.Event) error

func (f normalizerFunc) Normalize(ev *event.Event) error { return f(ev) }

func TestIngestNormalizesBeforeStoring(t *testing.T) {
	store := memory.New()
	normalizer := normalizerFunc(func(ev *event.Event) error {
		if ev.Name == "bad" {
			return errors.New("properties.currency: not a currency")
		}
		ev.Name = "Order Completed"
		return nil
	})
	log := event.NewLog(store, resolverFunc(func(context.Context, []event.Identifier) (string, error) { return "p1", nil }), nil, event.WithNormalizer(normalizer))
	bad := ev("m2", "a")
	bad.Name = "bad"
	out, err := log.Ingest(context.Background(), []event.Event{ev("m1", "a"), bad})
	require.NoError(t, err)
	require.Equal(t, "Order Completed", out[0].Event.Name)
	require.Equal(t, event.Outcome{Status: event.StatusRejected, Field: "properties", Reason: "properties.currency: not a currency"}, out[1])
	stored, err := store.ReadAfter(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, stored, 1)
	require.Equal(t, "Order Completed", stored[0].Name)
}

// TestIngestResolvesRepeatedIdentifiersOnce: events repeating the
// identifiers of an earlier event share its resolution, unless an event in
// between linked one of them to another identifier, or they set traits.
func TestIngestResolvesRepeatedIdentifiersOnce(t *testing.T) {
	var mu sync.Mutex
	var calls [][]string // of the events with identifier a, which are ordered
	badCalls, n := 0, 0
	resolver := resolverFunc(func(ctx context.Context, ids []event.Identifier) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if ids[0].Value == "bad" {
			badCalls++
			return "", apierror.Invalid("identifiers[0]", "blocked")
		}
		var s []string
		for _, id := range ids {
			s = append(s, id.Value)
		}
		calls = append(calls, s)
		n++
		return fmt.Sprintf("p%d", n), nil
	})
	identify := ev("m6", "a")
	identify.Type, identify.Traits = event.TypeIdentify, json.RawMessage(`{"name":"Ana"}`)
	out, err := event.NewLog(memory.New(), resolver, nil).Ingest(context.Background(), []event.Event{
		ev("m1", "a"), ev("m2", "a"), ev("m3", "a", "b"), ev("m4", "a"), ev("m5", "a"), identify, ev("m7", "bad"), ev("m8", "bad"),
	})
	require.NoError(t, err)
	require.Equal(t, [][]string{{"a"}, {"a", "b"}, {"a"}, {"a"}}, calls)
	require.Equal(t, 1, badCalls)
	profiles := make([]string, len(out))
	for i, o := range out {
		profiles[i] = o.Event.ProfileID
	}
	require.Equal(t, []string{"p1", "p1", "p2", "p3", "p3", "p4", "", ""}, profiles)
	require.Equal(t, event.Outcome{Status: event.StatusRejected, Field: "identifiers[0]", Reason: "blocked"}, out[7])
}

// gatedStore blocks its first Append until opened and records the size of
// every Append.
type gatedStore struct {
	event.Store
	entered, open chan struct{}
	mu            sync.Mutex
	sizes         []int
}

func (s *gatedStore) Append(ctx context.Context, events []event.Event) ([]event.Appended, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(events))
	first := len(s.sizes) == 1
	s.mu.Unlock()
	if first {
		close(s.entered)
		<-s.open
	}
	return s.Store.Append(ctx, events)
}

// TestConcurrentIngestsShareTransactions holds the first transaction open
// while three more callers commit: they are appended together in the next
// one, and each gets its own outcomes.
func TestConcurrentIngestsShareTransactions(t *testing.T) {
	store := &gatedStore{Store: memory.New(), entered: make(chan struct{}), open: make(chan struct{})}
	log := event.NewLog(store, resolverFunc(func(_ context.Context, ids []event.Identifier) (string, error) { return "p-" + ids[0].Value, nil }), nil)
	type result struct {
		out []event.Outcome
		err error
	}
	results := make(chan result, 4)
	ingest := func(batch ...event.Event) {
		out, err := log.Ingest(context.Background(), batch)
		results <- result{out, err}
	}
	go ingest(ev("first", "a"))
	<-store.entered
	for _, c := range []string{"b", "c", "d"} {
		go ingest(ev(c+"1", c), ev(c+"2", c), ev("shared", c))
	}
	// The three callers are waiting once their events are resolved and
	// queued; the gate then opens and they share the second transaction.
	require.Eventually(t, func() bool { return log.PendingCommits() == 3 }, 10*time.Second, time.Millisecond)
	close(store.open)
	byProfile := map[string][]event.Outcome{}
	for range 4 {
		r := <-results
		require.NoError(t, r.err)
		byProfile[r.out[0].Event.ProfileID] = r.out
	}
	require.Equal(t, []int{1, 9}, store.sizes)
	shared := 0
	for _, c := range []string{"b", "c", "d"} {
		out := byProfile["p-"+c]
		require.Len(t, out, 3)
		require.Equal(t, event.StatusAccepted, out[0].Status)
		require.Equal(t, c+"1", out[0].Event.MessageID)
		if out[2].Status == event.StatusAccepted {
			shared++
		}
	}
	require.Equal(t, 1, shared, "a message id sent by several callers of one transaction is stored once")
}

// TestErasedProfileFailsOnlyItsCallers checks that when a shared append
// finds a profile erased after its events were resolved, only the callers
// with events of that profile fail (to be resolved again on retry), and the
// others' events are stored.
func TestErasedProfileFailsOnlyItsCallers(t *testing.T) {
	mem := memory.New()
	store := &gatedStore{Store: mem, entered: make(chan struct{}), open: make(chan struct{})}
	log := event.NewLog(store, resolverFunc(func(_ context.Context, ids []event.Identifier) (string, error) { return "p-" + ids[0].Value, nil }), nil)
	type result struct {
		caller string
		err    error
	}
	results := make(chan result, 4)
	ingest := func(caller string, batch ...event.Event) {
		_, err := log.Ingest(context.Background(), batch)
		results <- result{caller, err}
	}
	go ingest("first", ev("first", "a"))
	<-store.entered
	for _, c := range []string{"b", "c", "d"} {
		go ingest(c, ev(c+"1", c), ev(c+"2", c))
	}
	require.Eventually(t, func() bool { return log.PendingCommits() == 3 }, 10*time.Second, time.Millisecond)
	_, err := mem.ApplyProfileChange(context.Background(), event.ProfileChange{Seq: 1, Kind: event.UpdateErased, Profile: "p-c"})
	require.NoError(t, err)
	close(store.open)
	errs := map[string]error{}
	for range 4 {
		r := <-results
		errs[r.caller] = r.err
	}
	require.NoError(t, errs["first"])
	require.NoError(t, errs["b"])
	require.NoError(t, errs["d"])
	require.ErrorIs(t, errs["c"], event.ErrProfileErased)
	require.Equal(t, []int{1, 6, 2, 2, 2}, store.sizes, "the shared append, then each caller's on its own")
	for _, c := range []string{"b", "d"} {
		list, err := mem.ListProfile(context.Background(), "p-"+c, 0, 10)
		require.NoError(t, err)
		require.Len(t, list, 2)
	}
}
