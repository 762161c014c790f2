package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/barista-cdp/barista/pkg/telemetry"
)

func TestTraceContextCrossesAnAsynchronousHop(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), "test", telemetry.Options{SpanExporter: spans})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	ctx, producer := otel.Tracer("test").Start(context.Background(), "produce")
	stored := telemetry.Inject(ctx)
	producer.End()
	require.Contains(t, stored, "traceparent")

	_, consumer := otel.Tracer("test").Start(telemetry.Extract(context.Background(), stored), "consume")
	consumer.End()

	got := spans.GetSpans()
	require.Len(t, got, 2)
	require.Equal(t, got[0].SpanContext.TraceID(), got[1].SpanContext.TraceID())
	require.Equal(t, got[0].SpanContext.SpanID(), got[1].Parent.SpanID())

	// No stored context: a new trace.
	require.Equal(t, context.Background(), telemetry.Extract(context.Background(), nil))
}

func TestLoggerAddsTraceIDs(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), "test", telemetry.Options{SpanExporter: tracetest.NewInMemoryExporter()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	var buf bytes.Buffer
	logger := telemetry.NewLogger(&buf, "json", "debug")
	ctx, span := otel.Tracer("test").Start(context.Background(), "work")
	logger.InfoContext(ctx, "hello")
	span.End()

	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	require.Equal(t, span.SpanContext().TraceID().String(), rec["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), rec["span_id"])

	buf.Reset()
	logger.Info("no span")
	require.NotContains(t, buf.String(), "trace_id")
}

// TestWithoutExporterNothingIsRecorded: with no exporter configured, spans
// of our own traces are not recorded, but they still carry trace ids, and
// a caller's sampled trace is followed and passed on as sampled.
func TestWithoutExporterNothingIsRecorded(t *testing.T) {
	for _, env := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER"} {
		t.Setenv(env, "")
	}
	tel, err := telemetry.Setup(context.Background(), "test", telemetry.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	ctx, root := otel.Tracer("test").Start(context.Background(), "root")
	require.False(t, root.IsRecording())
	require.True(t, root.SpanContext().IsValid(), "a trace id for logs and events all the same")
	require.Contains(t, telemetry.Inject(ctx), "traceparent")
	root.End()

	sampled := map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ctx, child := otel.Tracer("test").Start(telemetry.Extract(context.Background(), sampled), "child")
	require.True(t, child.IsRecording(), "a caller's sampled trace is followed")
	require.True(t, child.SpanContext().IsSampled())
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", child.SpanContext().TraceID().String())
	require.Contains(t, telemetry.Inject(ctx)["traceparent"], "-01")
	child.End()
}
