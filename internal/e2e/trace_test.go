package e2e

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

// TestOneEventOneTraceAcrossAllServices ingests one order and checks that the
// spans of all four services, including the asynchronous delivery to the
// segment service and the membership change fed to metrics, share its trace.
func TestOneEventOneTraceAcrossAllServices(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	s, _ := startDev(t, "", spans)
	ctx := context.Background()

	_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`},
	})
	require.NoError(t, err)
	ingest(t, s, &eventv1.Event{Event: "Order Completed", Identifiers: []*typev1.Identifier{id("user_id", "7")}})
	eventually(t, "metrics size 1", func() bool {
		resp, err := s.metrics.GetSegmentMetrics(ctx, &metricsv1.GetSegmentMetricsRequest{Segment: "segments/buyers"})
		return err == nil && resp.GetMetrics().GetSize() == 1
	})

	var ingestTrace trace.TraceID
	for _, sp := range spans.GetSpans() {
		if sp.Name == "barista.event.v1.EventService/IngestEvents" && sp.SpanKind == trace.SpanKindServer {
			ingestTrace = sp.SpanContext.TraceID()
		}
	}
	require.True(t, ingestTrace.IsValid(), "no server span for IngestEvents")

	want := map[string]bool{
		"event: IngestEvents server span":        false,
		"profile: ResolveProfiles server span":   false,
		"segment: span of the delivered event":   false,
		"metrics: span of the membership change": false,
	}
	for _, sp := range spans.GetSpans() {
		if sp.SpanContext.TraceID() != ingestTrace {
			continue
		}
		switch {
		case sp.Name == "barista.event.v1.EventService/IngestEvents" && sp.SpanKind == trace.SpanKindServer:
			want["event: IngestEvents server span"] = true
		case sp.Name == "barista.profile.v1.ProfileService/ResolveProfiles" && sp.SpanKind == trace.SpanKindServer:
			want["profile: ResolveProfiles server span"] = true
		case sp.InstrumentationScope.Name == "github.com/barista-cdp/barista/services/segment":
			want["segment: span of the delivered event"] = true
		case sp.InstrumentationScope.Name == "github.com/barista-cdp/barista/services/metrics":
			want["metrics: span of the membership change"] = true
		}
	}
	for what, found := range want {
		require.True(t, found, "trace %s has no %s", ingestTrace, what)
	}
}
