package benchsuite

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
)

const (
	// lookupRate is the offered load of the lookup goal, requests/s.
	lookupRate = 20_000
	// lookupConns is how many client connections share the load.
	lookupConns = 4
	// lookupProfiles is how many profiles the lookups pick from.
	lookupProfiles = 1000
)

// lookupSegments are the segments the looked-up profiles are evaluated
// against; each profile is a member of some of them.
var lookupSegments = map[string]string{
	"viewers":  `count("Bench Event", "1d") >= 1`,
	"frequent": `count("Bench Event", "1d") >= 2`,
	"never":    `count("Order Completed", "1d") >= 1`,
}

// BenchmarkProfileMemberships measures the lookup goal: "segments of
// profile X" (ListProfileMemberships by profile name) offered at 20,000
// requests/s for BENCH_SECONDS, open loop over 4 connections, over 1,000
// profiles and 3 segments. Reported, in milliseconds from each request's
// scheduled instant:
//
//   - lookup-p50/p99/max-ms: ListProfileMemberships;
//   - health-p50/p99-ms: grpc.health.v1 Check at the same rate on the same
//     server (the baseline);
//   - lookups/s: responses per second achieved;
//   - p99/health-p99: the ratio of the two p99s;
//   - lookup-failed, health-failed: calls that failed;
//   - capacity-lookups/s, capacity-health/s and their capacity-*-p99-ms:
//     the rate and latency of each call made back to back by 8 callers,
//     unloaded by any queue: what this machine can serve at all, which
//     says whether 20,000/s is within reach here.
func BenchmarkProfileMemberships(b *testing.B) {
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			d := loadSeconds(b)
			for b.Loop() {
				conns := startSuite(b, st.durable, lookupConns)
				profiles := seedLookups(b, conns[0])
				capLookup, capLookupRate, capLookupFailed := closedLoop(d, 2*lookupConns, func(i int) error {
					_, err := segmentv1.NewSegmentServiceClient(conns[i%len(conns)]).ListProfileMemberships(context.Background(),
						&segmentv1.ListProfileMembershipsRequest{Profile: profiles[i%len(profiles)]})
					return err
				})
				capHealth, capHealthRate, capHealthFailed := closedLoop(d, 2*lookupConns, func(i int) error {
					_, err := healthpb.NewHealthClient(conns[i%len(conns)]).Check(context.Background(), &healthpb.HealthCheckRequest{})
					return err
				})
				require.Zero(b, capLookupFailed+capHealthFailed, "calls failed without load")
				b.Logf("%s: capacity with %d callers back to back: ListProfileMemberships %.0f/s, %s; health Check %.0f/s, %s",
					st.name, 2*lookupConns, capLookupRate, capLookup, capHealthRate, capHealth)
				base, baseFailed := healthBaseline(b, conns, lookupRate, d)
				lookups, failed, rate := lookupLoad(b, conns, profiles, d)
				b.Logf("%s: ListProfileMemberships at %d/s offered: %s (%d failed, %.0f/s achieved); health Check at %d/s: %s (%d failed)",
					st.name, lookupRate, lookups, failed, rate, lookupRate, base, baseFailed)
				b.ReportMetric(Ms(lookups.P50), "lookup-p50-ms")
				b.ReportMetric(Ms(lookups.P99), "lookup-p99-ms")
				b.ReportMetric(Ms(lookups.Max), "lookup-max-ms")
				b.ReportMetric(Ms(base.P50), "health-p50-ms")
				b.ReportMetric(Ms(base.P99), "health-p99-ms")
				b.ReportMetric(rate, "lookups/s")
				b.ReportMetric(float64(failed), "lookup-failed")
				b.ReportMetric(float64(baseFailed), "health-failed")
				b.ReportMetric(float64(lookups.P99)/float64(max(base.P99, 1)), "p99/health-p99")
				b.ReportMetric(capLookupRate, "capacity-lookups/s")
				b.ReportMetric(capHealthRate, "capacity-health/s")
				b.ReportMetric(Ms(capLookup.P99), "capacity-lookup-p99-ms")
				b.ReportMetric(Ms(capHealth.P99), "capacity-health-p99-ms")
			}
		})
	}
}

// seedLookups creates the lookup segments and lookupProfiles profiles with
// one or two events each, waits until the segment service has applied
// them, and returns the profile names.
func seedLookups(b *testing.B, conn *grpc.ClientConn) []string {
	b.Helper()
	ctx := context.Background()
	segments := segmentv1.NewSegmentServiceClient(conn)
	for id, cond := range lookupSegments {
		_, err := segments.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{Condition: cond}})
		require.NoError(b, err)
	}
	var batch []*eventv1.Event
	for i := range lookupProfiles {
		batch = append(batch, benchEvent("lookup", i))
		if i%2 == 0 {
			e := benchEvent("lookup", i)
			e.MessageId += "-again"
			batch = append(batch, e)
		}
	}
	resp, err := eventv1.NewEventServiceClient(conn).IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: batch[:1000]})
	require.NoError(b, err)
	results := resp.GetResults()
	resp, err = eventv1.NewEventServiceClient(conn).IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: batch[1000:]})
	require.NoError(b, err)
	results = append(results, resp.GetResults()...)
	seen := map[string]bool{}
	var profiles []string
	for _, r := range results {
		require.Equal(b, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
		if !seen[r.GetProfile()] {
			seen[r.GetProfile()] = true
			profiles = append(profiles, r.GetProfile())
		}
	}
	require.Len(b, profiles, lookupProfiles)
	last := profiles[len(profiles)-1]
	waitFor(b, "the segment service to apply the events", func() bool {
		m, err := segments.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: last})
		return err == nil && len(m.GetMemberships()) > 0
	})
	m, err := segments.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Profile: profiles[0]})
	require.NoError(b, err)
	require.Len(b, m.GetMemberships(), 2, "%s has two events", profiles[0])
	return profiles
}

// lookupLoad offers lookupRate ListProfileMemberships per second for d and
// returns their latencies, failures and the rate of responses achieved.
func lookupLoad(b *testing.B, conns []*grpc.ClientConn, profiles []string, d time.Duration) (Summary, int, float64) {
	b.Helper()
	clients := make([]segmentv1.SegmentServiceClient, len(conns))
	for i, c := range conns {
		clients[i] = segmentv1.NewSegmentServiceClient(c)
	}
	var lat Latencies
	var wg sync.WaitGroup
	var failed atomic.Int64
	n, start := OpenLoop(context.Background(), lookupRate, d, func(i int, at time.Time) {
		wg.Go(func() {
			_, err := clients[i%len(clients)].ListProfileMemberships(context.Background(),
				&segmentv1.ListProfileMembershipsRequest{Profile: profiles[i%len(profiles)]})
			lat.Add(time.Since(at))
			if err != nil {
				failed.Add(1)
			}
		})
	})
	wg.Wait()
	return lat.Summary(), int(failed.Load()), float64(n) / time.Since(start).Seconds()
}
