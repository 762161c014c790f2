package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/app"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/pgtest"
	eventservice "github.com/barista-cdp/barista/services/event/service"
	metricsservice "github.com/barista-cdp/barista/services/metrics/service"
	profileservice "github.com/barista-cdp/barista/services/profile/service"
	segmentservice "github.com/barista-cdp/barista/services/segment/service"
)

// specs are the four services in the order they start.
var specs = []app.Spec{profileservice.Spec, eventservice.Spec, segmentservice.Spec, metricsservice.Spec}

// startSuiteProcesses migrates databaseURL and starts the four service
// binaries on it, each told its peers' addresses as its Spec names them.
func startSuiteProcesses(t *testing.T, databaseURL string) (*suite, map[string]*process) {
	t.Helper()
	addrs := map[string]string{}
	for _, spec := range specs {
		migrate(t, spec.Name, databaseURL)
		addrs[spec.Name] = freeAddr(t)
	}
	procs := map[string]*process{}
	for _, spec := range specs {
		args := []string{"--database-url", databaseURL}
		for _, peer := range spec.Peers {
			args = append(args, "--"+peer+"-addr", addrs[peer])
		}
		procs[spec.Name] = startProcess(t, spec.Name, addrs[spec.Name], args...)
	}
	return dialSuite(t, addrs["event"], addrs["profile"], addrs["segment"], addrs["metrics"]), procs
}

// TestPostgresCrashLosesNoAcknowledgedEvent crashes Postgres under a running
// suite (an immediate stop: no checkpoint, recovery from the write-ahead log)
// while events keep arriving, and starts it again. Nothing is acknowledged
// while Postgres is down; every event acknowledged before or after the
// outage reaches the segment and metrics services exactly once; and the
// client's retries of what was refused are stored once.
func TestPostgresCrashLosesNoAcknowledgedEvent(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	s, _ := startSuiteProcesses(t, cluster.URL())
	ctx := context.Background()

	_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`},
	})
	require.NoError(t, err)

	acked := map[string]bool{}
	send := func(i int) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := s.event.IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: []*eventv1.Event{{
			MessageId: fmt.Sprintf("order-%d", i), Event: "Order Completed",
			Identifiers: []*typev1.Identifier{id("user_id", fmt.Sprintf("customer-%d", i))},
		}}})
		if err != nil {
			return false
		}
		st := resp.GetResults()[0].GetStatus()
		require.Contains(t, []eventv1.IngestResult_Status{eventv1.IngestResult_STATUS_ACCEPTED, eventv1.IngestResult_STATUS_DUPLICATE}, st, resp.GetResults()[0].GetError())
		acked[fmt.Sprint(i)] = true
		return true
	}

	const before, during, after = 10, 5, 10
	for i := range before {
		require.True(t, send(i), "ingest before the crash")
	}
	cluster.Crash()
	for i := before; i < before+during; i++ {
		require.False(t, send(i), "event %d acknowledged while Postgres was down", i)
	}
	cluster.Start()
	for i := before; i < before+during+after; i++ {
		// The client retries what was not acknowledged, as SDKs do; the
		// message id makes the retry harmless.
		eventually(t, fmt.Sprintf("event %d acknowledged after the restart", i), func() bool { return acked[fmt.Sprint(i)] || send(i) })
	}
	total := len(acked)
	require.Equal(t, before+during+after, total)

	eventually(t, "every acknowledged customer counted by metrics", func() bool {
		resp, err := s.metrics.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: "segments/buyers"})
		return err == nil && resp.GetMetrics().GetSize() == int64(total)
	})
	m, err := s.metrics.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: "segments/buyers"})
	require.NoError(t, err)
	require.EqualValues(t, total, m.GetMetrics().GetEnteredTotal(), "each entry counted once")
	members, err := s.segment.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers", PageSize: 100})
	require.NoError(t, err)
	require.Len(t, members.GetMemberships(), total)

	// Each event is stored once, retries included.
	for i := range total {
		events, err := s.event.ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{Identifier: id("user_id", fmt.Sprintf("customer-%d", i))})
		require.NoError(t, err)
		require.Len(t, events.GetEvents(), 1, "customer-%d", i)
	}
}
