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
