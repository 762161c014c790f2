package e2e

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/internal/devserver"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/pgtest"
)

// propagated is what the other services show of one profile.
type propagated struct {
	events   []string // message ids, in log order
	segments []string // segment names
	revenue  float64  // revenue of the profile's orders, as the metrics service scores it
}

func observe(t *testing.T, s *suite, profile string) propagated {
	t.Helper()
	ctx := context.Background()
	var out propagated
	evs, err := s.event.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Profile: profile, PageSize: 1000})
	require.NoError(t, err)
	for _, ev := range evs.GetEvents() {
		out.events = append(out.events, ev.GetMessageId())
	}
	ms, err := s.segment.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: profile})
	require.NoError(t, err)
	for _, m := range ms.GetMemberships() {
		out.segments = append(out.segments, m.GetSegment())
	}
	slices.Sort(out.segments)
	v, err := s.metrics.GetProfileValue(ctx, &metricsv1.GetProfileValueRequest{Profile: profile})
	if err == nil {
		out.revenue = v.GetValue().GetRfm().GetMonetary()
	}
	return out
}

// waitFor waits until every profile shows what want says, and reports
// what they showed last when they never do.
func waitFor(t *testing.T, s *suite, what string, want map[string]propagated) {
	t.Helper()
	var last map[string]propagated
	matches := func() bool {
		last = map[string]propagated{}
		for p := range want {
			last[p] = observe(t, s, p)
		}
		for p, w := range want {
			got := last[p]
			if !slices.Equal(got.events, w.events) || !slices.Equal(got.segments, w.segments) || got.revenue != w.revenue {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(20 * time.Second)
	for !matches() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\nwant %+v\ngot  %+v", what, want, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func membershipHistory(t *testing.T, s *suite, profile string) []string {
	t.Helper()
	resp, err := s.segment.ListMembershipChanges(context.Background(), &segmentv1.ListMembershipChangesRequest{Profile: profile, PageSize: 1000})
	require.NoError(t, err)
	var out []string
	for _, c := range resp.GetChanges() {
		out = append(out, c.GetKind().String()+" "+c.GetSegment()+" "+c.GetReason())
	}
	return out
}

// runPropagation merges two people's profiles (by an event joining their
// identifiers, then by an operator), unmerges them, and changes consent,
// checking after each step that the event timelines, segment memberships
// and metrics of both profiles follow. It returns the two profile names.
func runPropagation(t *testing.T, s *suite) (ana, jo string) {
	t.Helper()
	ctx := context.Background()
	for id, cond := range map[string]string{
		"big":      `sum("Order Completed", "revenue") >= 100.0`,
		"buyer":    `count("Order Completed") >= 1`,
		"mailable": `consent("email")`,
	} {
		_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{Condition: cond}})
		require.NoError(t, err)
	}
	order := func(msg string, revenue float64, ids ...*typev1.Identifier) string {
		resp := ingest(t, s, &eventv1.Event{MessageId: msg, Event: "Order Completed", Identifiers: ids, Properties: props(t, map[string]any{"revenue": revenue})})
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus(), resp.GetResults()[0].GetError())
		return resp.GetResults()[0].GetProfile()
	}
	ana = order("ana-order", 60, id("anonymous_id", "ana-browser"))
	jo = order("jo-order", 50, id("email", "jo@example.com"))
	require.NotEqual(t, ana, jo)
	apart := map[string]propagated{
		ana: {events: []string{"ana-order"}, segments: []string{"segments/buyer"}, revenue: 60},
		jo:  {events: []string{"jo-order"}, segments: []string{"segments/buyer"}, revenue: 50},
	}
	waitFor(t, s, "two separate buyers", apart)

	// An event seen with both identifiers merges jo into ana (the older).
	joined := ingest(t, s, &eventv1.Event{
		MessageId: "join", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY,
		Identifiers: []*typev1.Identifier{id("anonymous_id", "ana-browser"), id("email", "jo@example.com")},
	})
	require.Equal(t, ana, joined.GetResults()[0].GetProfile())
	merged := map[string]propagated{
		ana: {events: []string{"ana-order", "jo-order", "join"}, segments: []string{"segments/big", "segments/buyer"}, revenue: 110},
		jo:  {segments: nil},
	}
	waitFor(t, s, "the merge to reach every service", merged)
	require.Contains(t, membershipHistory(t, s, ana), "KIND_ENTERED segments/big profile merged")
	require.Contains(t, membershipHistory(t, s, jo), "KIND_EXITED segments/buyer profile merged")

	// The unmerge gives jo's order back, and both their memberships are
	// exactly as before the merge.
	_, err := s.profile.UnmergeProfile(ctx, &profilev1.UnmergeProfileRequest{Name: jo})
	require.NoError(t, err)
	apartAgain := map[string]propagated{
		ana: {events: []string{"ana-order", "join"}, segments: apart[ana].segments, revenue: 60},
		jo:  apart[jo],
	}
	waitFor(t, s, "the unmerge to reach every service", apartAgain)
	require.Contains(t, membershipHistory(t, s, jo), "KIND_ENTERED segments/buyer profile unmerged")

	// An operator merges them again.
	_, err = s.profile.MergeProfiles(ctx, &profilev1.MergeProfilesRequest{
		Identifiers: []*typev1.Identifier{id("email", "jo@example.com"), id("anonymous_id", "ana-browser")}, Reason: "same household account",
	})
	require.NoError(t, err)
	waitFor(t, s, "the manual merge to reach every service", merged)

	// Consent flips a consent() segment, both ways.
	setConsent := func(status profilev1.ConsentStatus) {
		t.Helper()
		_, err := s.profile.SetConsent(ctx, &profilev1.SetConsentRequest{Profile: ana, Consents: []*profilev1.Consent{{Purpose: "email", Status: status, Source: "preferences"}}})
		require.NoError(t, err)
	}
	setConsent(profilev1.ConsentStatus_CONSENT_STATUS_GRANTED)
	consented := map[string]propagated{ana: merged[ana]}
	c := consented[ana]
	c.segments = []string{"segments/big", "segments/buyer", "segments/mailable"}
	consented[ana] = c
	waitFor(t, s, "consent to enter mailable", consented)
	setConsent(profilev1.ConsentStatus_CONSENT_STATUS_DENIED)
	waitFor(t, s, "withdrawn consent to exit mailable", map[string]propagated{ana: merged[ana]})
	return ana, jo
}

func TestPropagationInMemory(t *testing.T) {
	s, _ := startDev(t, "", nil)
	runPropagation(t, s)
}

// TestPropagationPostgres runs the propagation on Postgres, stops the
// suite and starts it again on the same database: the consumers resume from
// their stored cursors and apply no change a second time.
func TestPropagationPostgres(t *testing.T) {
	db := pgtest.NewDatabase(t)
	first, stop := startDevUntil(t, db)
	ana, jo := runPropagation(t, first)
	before := map[string]propagated{ana: observe(t, first, ana), jo: observe(t, first, jo)}
	historyAna, historyJo := membershipHistory(t, first, ana), membershipHistory(t, first, jo)
	stop()

	s, _ := startDev(t, db, nil)
	// A new event after the restart is applied once, after every change
	// before it.
	resp := ingest(t, s, &eventv1.Event{MessageId: "after-restart", Event: "Order Completed",
		Identifiers: []*typev1.Identifier{id("email", "jo@example.com")}, Properties: props(t, map[string]any{"revenue": 1.0})})
	require.Equal(t, ana, resp.GetResults()[0].GetProfile())
	want := maps.Clone(before)
	w := want[ana]
	w.events = append(slices.Clone(w.events), "after-restart")
	w.revenue++
	want[ana] = w
	waitFor(t, s, "the event after the restart", want)
	require.Equal(t, historyAna, membershipHistory(t, s, ana), "no change applied twice")
	require.Equal(t, historyJo, membershipHistory(t, s, jo), "no change applied twice")
}

// startDevUntil runs `barista dev` in process on databaseURL until the
// returned stop is called.
func startDevUntil(t *testing.T, databaseURL string) (*suite, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := devserver.New(ctx, devserver.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DatabaseURL: databaseURL})
	require.NoError(t, err)
	require.True(t, srv.Durable)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	s := dialSuite(t, srv.GRPCAddr, srv.GRPCAddr, srv.GRPCAddr, srv.GRPCAddr)
	waitServing(t, s.conn)
	return s, stop
}
