package benchsuite

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

const (
	// watchRate is the offered load of the real-time goal, events/s.
	watchRate = 10_000
	// watchSustainedRate is a load this suite sustains on a small shared
	// machine, to show the latency of the pipeline itself, without queues.
	watchSustainedRate = 200
	// watchTick is how often the producer sends: every watchTick it sends
	// the events scheduled since the last send as one request of an
	// IngestEventStream, without waiting for earlier acknowledgements.
	watchTick = 10 * time.Millisecond
)

// BenchmarkWatchLatency measures the real-time goal: a producer offers
// 10,000 events/s for BENCH_SECONDS through IngestEventStream (open loop),
// then 200 events/s for at least two seconds (a rate the suite sustains
// here, showing the pipeline's own latency without queues). Each event
// comes from a new visitor, so each one makes its profile enter the
// segment count("Bench Event", "1d") >= 1; a WatchMembershipChanges
// subscriber records when each change arrives. Reported, in milliseconds:
//
//   - ack-p50/p99/max-ms: change arrival − acknowledgement of its event;
//   - sent-p50/p99-ms: change arrival − the instant the event was scheduled
//     to be sent (includes the producer falling behind);
//   - health-p50/p99-ms: a grpc.health.v1 Check offered at the same rate on
//     the same server, from its scheduled instant (the baseline);
//   - health-failed: baseline calls that failed (past the client's
//     deadline, when the server falls far behind);
//   - acked-events/s and changes/s: the rates achieved;
//   - unacked: events never acknowledged because the server ended the
//     stream (beyond its capacity, a call of its own ran past its
//     deadline);
//   - p99/health-p99: the ratio of the ack p99 to the baseline's.
func BenchmarkWatchLatency(b *testing.B) {
	for _, st := range stores {
		for _, rate := range []int{watchRate, watchSustainedRate} {
			b.Run(fmt.Sprintf("%s/%d", st.name, rate), func(b *testing.B) {
				d := loadSeconds(b)
				if rate < watchRate {
					d = max(d, 2*time.Second)
				}
				for b.Loop() {
					conns := startSuite(b, st.durable, 2)
					r := runWatchLoad(b, conns, rate, d)
					base, baseFailed := healthBaseline(b, conns, float64(rate), d)
					b.Logf("%s at %d events/s offered: %d events acked at %.0f events/s, changes at %.0f/s; ack→change %s; sent→change %s; health Check at %d/s %s (%d failed)",
						st.name, rate, r.ack.N, r.ackedRate, r.changeRate, r.ack, r.sent, rate, base, baseFailed)
					b.ReportMetric(Ms(r.ack.P50), "ack-p50-ms")
					b.ReportMetric(Ms(r.ack.P99), "ack-p99-ms")
					b.ReportMetric(Ms(r.ack.Max), "ack-max-ms")
					b.ReportMetric(Ms(r.sent.P50), "sent-p50-ms")
					b.ReportMetric(Ms(r.sent.P99), "sent-p99-ms")
					b.ReportMetric(Ms(base.P50), "health-p50-ms")
					b.ReportMetric(Ms(base.P99), "health-p99-ms")
					b.ReportMetric(float64(baseFailed), "health-failed")
					b.ReportMetric(r.ackedRate, "acked-events/s")
					b.ReportMetric(r.changeRate, "changes/s")
					b.ReportMetric(float64(r.unacked), "unacked")
					b.ReportMetric(float64(r.ack.P99)/float64(max(base.P99, 1)), "p99/health-p99")
				}
			})
		}
	}
}

type watchResult struct {
	ack, sent             Summary
	ackedRate, changeRate float64
	// unacked counts the events sent but never acknowledged, when the
	// stream failed.
	unacked int
}

// sentEvent is what the producer knows of one event.
type sentEvent struct {
	scheduled, acked time.Time
}

func runWatchLoad(b *testing.B, conns []*grpc.ClientConn, rate int, d time.Duration) watchResult {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	segments := segmentv1.NewSegmentServiceClient(conns[0])
	events := eventv1.NewEventServiceClient(conns[1])
	_, err := segments.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "bench", Segment: &segmentv1.Segment{Condition: `count("Bench Event", "1d") >= 1`},
	})
	require.NoError(b, err)

	// The subscriber: arrival time of each change, by the event that
	// caused it ("event events/17").
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	watch, err := segments.WatchMembershipChanges(ctx, &segmentv1.WatchMembershipChangesRequest{Segments: []string{"segments/bench"}})
	require.NoError(b, err)
	watchDone := make(chan error, 1)
	go func() {
		for {
			resp, err := watch.Recv()
			if err != nil {
				watchDone <- err
				return
			}
			now := time.Now()
			mu.Lock()
			for _, c := range resp.GetChanges() {
				arrived[strings.TrimPrefix(c.GetReason(), "event ")] = now
			}
			mu.Unlock()
		}
	}()
	changesOf := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(arrived)
	}

	// A warm-up event, so the first measured events do not pay for
	// connections and caches.
	warm, err := events.IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: []*eventv1.Event{benchEvent("warm", 0)}})
	require.NoError(b, err)
	require.Equal(b, eventv1.IngestResult_STATUS_ACCEPTED, warm.GetResults()[0].GetStatus(), warm.GetResults()[0].GetError())
	waitFor(b, "the warm-up change", func() bool { return changesOf() == 1 })

	stream, err := events.IngestEventStream(ctx)
	require.NoError(b, err)
	// Requests are sent every watchTick with the events scheduled since
	// the previous one; schedule[k] holds the scheduled instants of
	// request k's events.
	var schedMu sync.Mutex
	var schedule [][]time.Time
	sent := map[string]sentEvent{}
	acksDone := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err == io.EOF {
				acksDone <- nil
				return
			}
			if err != nil {
				acksDone <- err
				return
			}
			now := time.Now()
			schedMu.Lock()
			at := schedule[resp.GetRequestIndex()]
			schedMu.Unlock()
			for _, r := range resp.GetResults() {
				if r.GetStatus() != eventv1.IngestResult_STATUS_ACCEPTED {
					acksDone <- fmt.Errorf("event %s not accepted: %s %s", r.GetMessageId(), r.GetStatus(), r.GetError())
					return
				}
				sent[r.GetName()] = sentEvent{scheduled: at[r.GetIndex()], acked: now}
			}
		}
	}()

	var batch []*eventv1.Event
	var batchAt []time.Time
	var sendErr error
	flush := func() {
		if len(batch) == 0 || sendErr != nil {
			return
		}
		schedMu.Lock()
		schedule = append(schedule, batchAt)
		schedMu.Unlock()
		sendErr = stream.Send(&eventv1.IngestEventStreamRequest{Events: batch})
		batch, batchAt = nil, nil
	}
	tickEvery := max(1, int(float64(rate)*watchTick.Seconds()))
	total, start := OpenLoop(ctx, float64(rate), d, func(i int, at time.Time) {
		batch = append(batch, benchEvent("load", i))
		batchAt = append(batchAt, at)
		if len(batch) == tickEvery {
			flush()
		}
	})
	flush()
	if sendErr == nil {
		sendErr = stream.CloseSend()
	}
	// Under a load beyond its capacity the server may end the stream (a
	// call of its own past its deadline); what it acknowledged until then
	// is measured, and the failure reported.
	ackErr := <-acksDone
	if ackErr != nil || sendErr != nil {
		b.Logf("the ingest stream failed after %d of %d events were acknowledged: %v (send: %v)", len(sent), total, ackErr, sendErr)
	}
	require.NotEmpty(b, sent, "no event was acknowledged")
	acked := len(sent)
	var lastAck time.Time
	for _, s := range sent {
		if s.acked.After(lastAck) {
			lastAck = s.acked
		}
	}
	waitFor(b, "the membership change of every acknowledged event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for name := range sent {
			if _, ok := arrived[name]; !ok {
				return false
			}
		}
		return true
	})
	cancel()
	<-watchDone

	var ack, fromSent Latencies
	var lastChange time.Time
	for name, s := range sent {
		at, ok := arrived[name]
		require.True(b, ok, "no change for %s", name)
		ack.Add(at.Sub(s.acked))
		fromSent.Add(at.Sub(s.scheduled))
		if at.After(lastChange) {
			lastChange = at
		}
	}
	return watchResult{
		ack: ack.Summary(), sent: fromSent.Summary(),
		ackedRate:  float64(acked) / lastAck.Sub(start).Seconds(),
		changeRate: float64(acked) / lastChange.Sub(start).Seconds(),
		unacked:    total - acked,
	}
}

// benchEvent is event i of a run: a "Bench Event" of a new visitor.
func benchEvent(run string, i int) *eventv1.Event {
	return &eventv1.Event{
		MessageId:   fmt.Sprintf("%s-%d", run, i),
		Event:       "Bench Event",
		Identifiers: []*typev1.Identifier{{Type: "anonymous_id", Value: fmt.Sprintf("%s-%d", run, i)}},
		Timestamp:   timestamppb.Now(),
	}
}
