package segment_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/barista-cdp/barista/pkg/telemetry"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// TestApplyEventContinuesTheEventsTrace checks that applying a delivered
// event starts a span in the ingest call's trace, under the service's
// tracer, and that the changes it causes carry that span's context, which
// the metrics service continues.
func TestApplyEventContinuesTheEventsTrace(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	ctx := context.Background()
	ingestCtx, ingest := tp.Tracer("test").Start(ctx, "ingest")
	delivered := telemetry.Inject(ingestCtx)
	ingest.End()

	store := memory.New()
	e := segment.NewEngine(store, segment.Options{Now: func() time.Time { return t0 }})
	_, err := e.CreateSegment(ctx, segment.Segment{ID: "buyers", Condition: `count("Order Completed") >= 1`})
	require.NoError(t, err)
	require.NoError(t, e.ApplyEvents(ctx, []segment.Event{{
		Seq: 1, Resource: "events/1", Profile: "profiles/p1", Name: "Order Completed", Time: t0, TraceContext: delivered,
	}}))

	var apply sdktrace.ReadOnlySpan
	for _, s := range spans.GetSpans().Snapshots() {
		if s.Name() == "segment.ApplyEvent" {
			apply = s
		}
	}
	require.NotNil(t, apply, "no segment.ApplyEvent span")
	require.Equal(t, segment.TracerName, apply.InstrumentationScope().Name)
	require.Equal(t, ingest.SpanContext().TraceID(), apply.SpanContext().TraceID())
	require.Equal(t, ingest.SpanContext().SpanID(), apply.Parent().SpanID())

	changes, err := store.ReadChanges(ctx, 0, 10, nil)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	got := trace.SpanContextFromContext(telemetry.Extract(ctx, changes[0].TraceContext))
	require.Equal(t, apply.SpanContext().TraceID(), got.TraceID())
	require.Equal(t, apply.SpanContext().SpanID(), got.SpanID())
}

func TestCreateSegmentChecksTheCondition(t *testing.T) {
	e := segment.NewEngine(memory.New(), segment.Options{})
	_, err := e.CreateSegment(context.Background(), segment.Segment{ID: "x", Condition: `count("a") >`})
	var cerr *condition.Error
	require.ErrorAs(t, err, &cerr)
	_, err = e.GetSegment(context.Background(), "x")
	require.ErrorIs(t, err, segment.ErrNotFound)
}

func TestIDPattern(t *testing.T) {
	for id, ok := range map[string]bool{
		"buyers": true, "vip-2024": true, "a": true,
		"": false, "Buyers": false, "1st": false, "-a": false, "a_b": false, "a/b": false,
		"a" + strings.Repeat("b", 62): true,
		"a" + strings.Repeat("b", 63): false,
	} {
		require.Equal(t, ok, segment.IDPattern.MatchString(id), id)
	}
}
