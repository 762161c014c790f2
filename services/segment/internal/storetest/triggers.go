package storetest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// hook is a webhook receiver that records the requests it verified and
// answers with the next of its statuses (200 once they run out).
type hook struct {
	t        *testing.T
	secret   string
	mu       sync.Mutex
	statuses []int
	got      []string
	srv      *httptest.Server
}

func newHook(t *testing.T, secret string, statuses ...int) *hook {
	h := &hook{t: t, secret: secret, statuses: statuses}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		if err := segment.Verify(h.secret, r.Header.Get(segment.SignatureHeader), body, time.Now(), 24*365*time.Hour*100); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.got = append(h.got, r.Header.Get(segment.DeliveryHeader)+" "+string(body))
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// triggerSetup creates a segment of buyers and a trigger on it.
func triggerSetup(t *testing.T, s segment.Store, clk *clock, tr segment.Trigger) *segment.Engine {
	ctx := context.Background()
	e := segment.NewEngine(s, segment.Options{Now: clk.Now})
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "buyers", Condition: `count("Order Completed", "1d") >= 1`})
	require.NoError(t, err)
	tr.Segment, tr.CreateTime = "buyers", clk.Now()
	require.NoError(t, s.CreateTrigger(ctx, tr))
	return e
}

func deliveries(t *testing.T, s segment.Store, trigger string) []segment.Delivery {
	t.Helper()
	ds, err := s.ListDeliveries(context.Background(), trigger, 0, 100)
	require.NoError(t, err)
	return ds
}

// testTriggerDelayAndRecheck checks that a delivery waits for its delay,
// is sent, signed, when the profile is still a member then, and skipped
// when it is not.
func testTriggerDelayAndRecheck(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	h := newHook(t, "s3cret")
	e := triggerSetup(t, s, clk, segment.Trigger{ID: "welcome", On: segment.Entered, Delay: 4 * time.Hour, URL: h.srv.URL, Secret: "s3cret"})
	d := segment.NewDispatcher(s, segment.DispatcherOptions{Now: clk.Now})

	_, err := s.GetTrigger(ctx, "welcome")
	require.NoError(t, err)
	_, err = s.GetTrigger(ctx, "nope")
	require.ErrorIs(t, err, segment.ErrTriggerNotFound)
	require.ErrorIs(t, s.CreateTrigger(ctx, segment.Trigger{ID: "welcome", Segment: "buyers", CreateTime: t0}), segment.ErrTriggerExists)
	require.ErrorIs(t, s.CreateTrigger(ctx, segment.Trigger{ID: "other", Segment: "nope", CreateTime: t0}), segment.ErrNotFound)

	// ana stays a buyer for 4h; bob's order is 23h old and leaves the 1d
	// window within the delay.
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(1, "profiles/ana", t0, 10), order(2, "profiles/bob", t0.Add(-23*time.Hour), 10)}))
	n, err := d.Enqueue(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = d.Enqueue(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "each change once")

	clk.Set(t0.Add(4*time.Hour - time.Second))
	n, err = d.DeliverDue(ctx, "welcome")
	require.NoError(t, err)
	require.Zero(t, n, "not before the delay")

	clk.Set(t0.Add(4 * time.Hour))
	_, err = e.CheckDue(ctx)
	require.NoError(t, err)
	n, err = d.DeliverDue(ctx, "welcome")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	got := h.requests()
	require.Len(t, got, 1, "only ana is still a member")
	require.Contains(t, got[0], `"profile":"profiles/ana"`)
	require.Contains(t, got[0], `"kind":"entered"`)
	require.Contains(t, got[0], `"segment":"segments/buyers"`)

	ds := deliveries(t, s, "welcome")
	require.Len(t, ds, 2)
	states := map[string]segment.DeliveryState{}
	for _, del := range ds {
		states[del.Profile] = del.State
	}
	require.Equal(t, map[string]segment.DeliveryState{"profiles/ana": segment.Sent, "profiles/bob": segment.Skipped}, states)
	require.Equal(t, t0.Add(4*time.Hour), ds[0].DueTime)

	// The exit of bob fires nothing: the trigger is on enter.
	n, err = d.Enqueue(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

// testTriggerRetries checks that a failed attempt is retried after an
// exponential backoff, by a new dispatcher as after a restart, until it
// succeeds, and that the signature is checked by the receiver.
func testTriggerRetries(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	h := newHook(t, "k", http.StatusServiceUnavailable, http.StatusInternalServerError)
	e := triggerSetup(t, s, clk, segment.Trigger{ID: "crm", On: segment.Entered, URL: h.srv.URL, Secret: "k"})
	opts := segment.DispatcherOptions{Now: clk.Now, Backoff: time.Minute}
	d := segment.NewDispatcher(s, opts)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(1, "profiles/ana", t0, 10)}))
	_, err := d.Enqueue(ctx)
	require.NoError(t, err)

	n, err := d.DeliverDue(ctx, "crm")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	del := deliveries(t, s, "crm")[0]
	require.Equal(t, segment.Pending, del.State)
	require.Equal(t, 1, del.Attempts)
	require.Equal(t, http.StatusServiceUnavailable, del.LastStatus)
	require.Equal(t, t0.Add(time.Minute), del.DueTime)

	// A restart: a new dispatcher over the same store.
	d = segment.NewDispatcher(s, opts)
	clk.Set(t0.Add(time.Minute))
	_, err = d.DeliverDue(ctx, "crm")
	require.NoError(t, err)
	del = deliveries(t, s, "crm")[0]
	require.Equal(t, 2, del.Attempts)
	require.Equal(t, t0.Add(3*time.Minute), del.DueTime, "the backoff doubles")

	clk.Set(t0.Add(3 * time.Minute))
	_, err = d.DeliverDue(ctx, "crm")
	require.NoError(t, err)
	del = deliveries(t, s, "crm")[0]
	require.Equal(t, segment.Sent, del.State)
	require.Equal(t, 3, del.Attempts)
	require.Equal(t, http.StatusOK, del.LastStatus)
	require.Len(t, h.requests(), 3, "every attempt carries the same delivery id")

	// A receiver with another secret refuses the signature.
	wrong := newHook(t, "other")
	require.NoError(t, s.CreateTrigger(ctx, segment.Trigger{ID: "forged", Segment: "buyers", On: segment.Entered, URL: wrong.srv.URL, Secret: "k", CreateTime: t0}))
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{order(2, "profiles/bob", clk.Now(), 10)}))
	_, err = d.Enqueue(ctx)
	require.NoError(t, err)
	_, err = d.DeliverDue(ctx, "forged")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, deliveries(t, s, "forged")[0].LastStatus)
	require.Empty(t, wrong.requests())
}

// testTriggerIsolation checks that a destination that never answers does
// not delay the others: Run gives each trigger its own worker.
func testTriggerIsolation(t *testing.T, s segment.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	fast := newHook(t, "f")
	clk := &clock{now: time.Now().UTC().Truncate(time.Microsecond)}
	e := triggerSetup(t, s, clk, segment.Trigger{ID: "a-slow", On: segment.Entered, URL: slow.URL, Secret: "s"})
	require.NoError(t, s.CreateTrigger(ctx, segment.Trigger{ID: "b-fast", Segment: "buyers", On: segment.Entered, URL: fast.srv.URL, Secret: "f", CreateTime: clk.Now()}))
	var events []segment.Event
	for i := range 5 {
		events = append(events, order(int64(i+1), "profiles/p"+string(rune('a'+i)), clk.Now(), 10))
	}
	require.NoError(t, e.ApplyEvents(ctx, events))

	d := segment.NewDispatcher(s, segment.DispatcherOptions{Poll: 10 * time.Millisecond, Client: &http.Client{Timeout: time.Hour}})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	require.Eventually(t, func() bool { return len(fast.requests()) == 5 }, 10*time.Second, 10*time.Millisecond,
		"the fast destination gets all its deliveries while the slow one hangs")
	for _, del := range deliveries(t, s, "a-slow") {
		require.Equal(t, segment.Pending, del.State)
	}
	close(release)
	cancel()
	require.NoError(t, <-done)
	slow.Close()
}

// testTriggerRequiresConsent checks that a trigger requiring a consent
// purpose sends only for profiles that granted it when the webhook is due,
// and logs why it skipped the others.
func testTriggerRequiresConsent(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	h := newHook(t, "s3cret")
	e := triggerSetup(t, s, clk, segment.Trigger{ID: "email-welcome", On: segment.Entered, URL: h.srv.URL, Secret: "s3cret", RequiredConsent: "email"})
	d := segment.NewDispatcher(s, segment.DispatcherOptions{Now: clk.Now})

	// ana grants email, bob grants sms only, cy never answered, and dee
	// granted email but withdrew it before the webhook was due.
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{
		order(1, "profiles/ana", t0, 10), order(2, "profiles/bob", t0, 10), order(3, "profiles/cy", t0, 10), order(4, "profiles/dee", t0, 10),
	}))
	consent := func(seq int64, profile string, consents map[string]bool) {
		require.NoError(t, e.ApplyProfileUpdate(ctx, segment.ProfileUpdate{Seq: seq, Kind: segment.UpdateConsent, Profiles: []string{profile}, Consents: consents}, nil))
	}
	consent(5, "profiles/ana", map[string]bool{"email": true})
	consent(6, "profiles/bob", map[string]bool{"sms": true, "email": false})
	consent(7, "profiles/dee", map[string]bool{"email": true})
	consent(8, "profiles/dee", map[string]bool{"email": false})

	n, err := d.Enqueue(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	n, err = d.DeliverDue(ctx, "email-welcome")
	require.NoError(t, err)
	require.Equal(t, 4, n)
	got := h.requests()
	require.Len(t, got, 1, "only ana consented to email")
	require.Contains(t, got[0], `"profile":"profiles/ana"`)

	for _, del := range deliveries(t, s, "email-welcome") {
		if del.Profile == "profiles/ana" {
			require.Equal(t, segment.Sent, del.State)
			continue
		}
		require.Equal(t, segment.Skipped, del.State, del.Profile)
		require.Equal(t, `consent: the profile has not granted "email" consent`, del.LastError, del.Profile)
	}
	tr, err := s.GetTrigger(ctx, "email-welcome")
	require.NoError(t, err)
	require.Equal(t, "email", tr.RequiredConsent, "stored")
}

// testTriggerSkipsMergedAwayExits checks that an exit trigger does not fire
// for a profile that left its segments because it was merged into another
// (the person did not leave), and still fires for a real exit.
func testTriggerSkipsMergedAwayExits(t *testing.T, s segment.Store) {
	ctx := context.Background()
	clk := &clock{now: t0}
	h := newHook(t, "s3cret")
	e := triggerSetup(t, s, clk, segment.Trigger{ID: "goodbye", On: segment.Exited, URL: h.srv.URL, Secret: "s3cret"})
	d := segment.NewDispatcher(s, segment.DispatcherOptions{Now: clk.Now})

	// ana and bob are buyers; bob is merged into ana. cy's order is 23h old
	// and leaves the 1d window an hour later: a real exit.
	ana, bob := order(1, "profiles/ana", t0, 10), order(2, "profiles/bob", t0, 10)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{ana, bob, order(3, "profiles/cy", t0.Add(-23*time.Hour), 10)}))
	merged := func(_ context.Context, profile string, before int64) ([]segment.Event, error) {
		require.Equal(t, "profiles/ana", profile, "only the survivor is rebuilt")
		b := bob
		b.Profile = "profiles/ana"
		return []segment.Event{ana, b}, nil
	}
	require.NoError(t, e.ApplyProfileUpdate(ctx, segment.ProfileUpdate{Seq: 4, Kind: segment.UpdateMerged, Profiles: []string{"profiles/ana", "profiles/bob"}}, merged))
	clk.Set(t0.Add(time.Hour))
	_, err := e.CheckDue(ctx)
	require.NoError(t, err)

	n, err := d.Enqueue(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n, "bob's exit by the merge and cy's real exit")
	_, err = d.DeliverDue(ctx, "goodbye")
	require.NoError(t, err)
	got := h.requests()
	require.Len(t, got, 1)
	require.Contains(t, got[0], `"profile":"profiles/cy"`)
	for _, del := range deliveries(t, s, "goodbye") {
		if del.Profile == "profiles/bob" {
			require.Equal(t, segment.Skipped, del.State)
			require.Contains(t, del.LastError, "merged into another profile")
		}
	}
}
