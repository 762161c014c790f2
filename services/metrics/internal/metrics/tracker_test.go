package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/metrics/internal/memory"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// segments is a segment service that knows some segments, or fails.
type segments struct {
	known map[string]bool
	err   error
	asked []string
}

func (s *segments) Exists(_ context.Context, id string) (bool, error) {
	s.asked = append(s.asked, id)
	return s.known[id], s.err
}

func TestSegmentMetricsAsksTheSegmentServiceOnlyWithoutChanges(t *testing.T) {
	down := fmt.Errorf("the segment service is %w", apierror.ErrUnavailable)
	tests := []struct {
		name      string
		segment   string
		segments  *segments
		want      metrics.SegmentMetrics
		wantErr   error
		wantAsked []string
	}{
		{
			name: "segment with changes", segment: "buyers", segments: &segments{},
			want: metrics.SegmentMetrics{Segment: "buyers", Size: 1, EnteredTotal: 1, UpdateTime: t0,
				History: []metrics.Day{{Date: metrics.DateOf(t0), Entered: 1, Size: 1}}},
		},
		{
			name: "known segment without changes", segment: "vip", segments: &segments{known: map[string]bool{"vip": true}},
			want: metrics.SegmentMetrics{Segment: "vip"}, wantAsked: []string{"vip"},
		},
		{
			name: "unknown segment", segment: "nope", segments: &segments{},
			wantErr: metrics.ErrUnknownSegment, wantAsked: []string{"nope"},
		},
		{
			name: "segment service failing", segment: "vip", segments: &segments{err: down},
			wantErr: down, wantAsked: []string{"vip"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			tracker := metrics.NewTracker(memory.New(), tt.segments)
			_, err := tracker.Apply(ctx, []metrics.Change{{Seq: 1, Segment: "buyers", Profile: "profiles/p1", Kind: metrics.Entered, Time: t0}}, 1)
			require.NoError(t, err)

			got, err := tracker.SegmentMetrics(ctx, tt.segment)
			require.Equal(t, tt.wantAsked, tt.segments.asked)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestUnknownSegmentIsNotFound(t *testing.T) {
	tracker := metrics.NewTracker(memory.New(), &segments{})
	_, err := tracker.SegmentMetrics(context.Background(), "nope")
	require.ErrorIs(t, err, apierror.ErrNotFound)
	require.EqualError(t, err, "segment not found: segments/nope")
}

// recordSpans installs a tracer provider that records every span, and the
// W3C propagator, for the duration of the test.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
	})
	return rec
}

// spyStore records the span context each Apply runs in, and can fail.
type spyStore struct {
	metrics.Store
	err  error
	seen []trace.SpanContext
}

func (s *spyStore) Apply(ctx context.Context, changes []metrics.Change, cursor int64) (int, error) {
	s.seen = append(s.seen, trace.SpanContextFromContext(ctx))
	if s.err != nil {
		return 0, s.err
	}
	return s.Store.Apply(ctx, changes, cursor)
}

const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceB = "0af7651916cd43dd8448eb211c80319c"
)

func traceContext(traceID string) map[string]string {
	return map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}
}

func TestApplyContinuesTheTraceOfEachChange(t *testing.T) {
	rec := recordSpans(t)
	store := &spyStore{Store: memory.New()}
	tracker := metrics.NewTracker(store, &segments{})
	ctx := context.Background()

	applied, err := tracker.Apply(ctx, []metrics.Change{
		{Seq: 1, Segment: "buyers", Profile: "profiles/a", Kind: metrics.Entered, Time: t0, TraceContext: traceContext(traceA)},
	}, 1)
	require.NoError(t, err)
	require.Equal(t, 1, applied)
	spans := rec.Ended()
	require.Len(t, spans, 1)
	require.Equal(t, "metrics.ApplyMembershipChange", spans[0].Name())
	require.Equal(t, metrics.TracerName, spans[0].InstrumentationScope().Name)
	require.Equal(t, traceA, spans[0].SpanContext().TraceID().String())
	require.Equal(t, "00f067aa0ba902b7", spans[0].Parent().SpanID().String(), "the span is a child of the producer's span")
	require.Equal(t, spans[0].SpanContext(), store.seen[0], "a single change's store work joins its trace")

	applied, err = tracker.Apply(ctx, []metrics.Change{
		{Seq: 2, Segment: "buyers", Profile: "profiles/b", Kind: metrics.Entered, Time: t0, TraceContext: traceContext(traceA)},
		{Seq: 3, Segment: "buyers", Profile: "profiles/c", Kind: metrics.Exited, Time: t0, TraceContext: traceContext(traceB)},
		{Seq: 4, Segment: "vip", Profile: "profiles/d", Kind: metrics.Entered, Time: t0},
	}, 5)
	require.NoError(t, err)
	require.Equal(t, 3, applied)
	spans = rec.Ended()[1:]
	require.Len(t, spans, 4)
	byTrace := map[string]int{}
	var batch sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "metrics.ApplyMembershipChanges" {
			batch = s
			continue
		}
		require.Equal(t, "metrics.ApplyMembershipChange", s.Name())
		byTrace[s.SpanContext().TraceID().String()]++
	}
	require.Equal(t, 1, byTrace[traceA])
	require.Equal(t, 1, byTrace[traceB])
	require.NotNil(t, batch, "a batch of changes has its own span")
	require.Len(t, batch.Links(), 3, "linked to the span of every change")
	require.Equal(t, batch.SpanContext(), store.seen[1])

	cursor, err := tracker.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 5, cursor, "the batch's cursor is stored even past its last change")
}

func TestApplyFailureMarksTheSpans(t *testing.T) {
	rec := recordSpans(t)
	boom := errors.New("disk full")
	tracker := metrics.NewTracker(&spyStore{Store: memory.New(), err: boom}, &segments{})
	_, err := tracker.Apply(context.Background(), []metrics.Change{
		{Seq: 1, Segment: "buyers", Profile: "profiles/a", Kind: metrics.Entered, Time: t0, TraceContext: traceContext(traceA)},
	}, 1)
	require.ErrorIs(t, err, boom)
	spans := rec.Ended()
	require.Len(t, spans, 1)
	require.Equal(t, codes.Error, spans[0].Status().Code)
}

func TestApplyWithoutChangesStoresTheCursor(t *testing.T) {
	rec := recordSpans(t)
	tracker := metrics.NewTracker(memory.New(), &segments{})
	applied, err := tracker.Apply(context.Background(), nil, 7)
	require.NoError(t, err)
	require.Zero(t, applied)
	cursor, err := tracker.Cursor(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 7, cursor)
	require.Empty(t, rec.Ended())
}

func TestSummarizeAddsUpPerSegmentAndDay(t *testing.T) {
	day2 := t0.Add(24 * time.Hour)
	got := metrics.Summarize([]metrics.Change{
		{Seq: 1, Segment: "vip", Kind: metrics.Entered, Time: day2},
		{Seq: 2, Segment: "buyers", Kind: metrics.Entered, Time: day2.Add(time.Nanosecond)},
		{Seq: 3, Segment: "buyers", Kind: metrics.Exited, Time: t0},
		{Seq: 4, Segment: "buyers", Kind: 0, Time: day2.Add(time.Hour)},
		{Seq: 5, Segment: "buyers", Kind: metrics.Entered, Time: t0.In(time.FixedZone("UTC+13", 13*3600))}, // June 2 there, June 1 in UTC
	})
	require.Equal(t, []metrics.SegmentDelta{
		{Segment: "buyers", Entered: 2, Exited: 1, UpdateTime: day2, Days: []metrics.Day{
			{Date: metrics.DateOf(t0), Entered: 1, Exited: 1},
			{Date: metrics.DateOf(day2), Entered: 1},
		}},
		{Segment: "vip", Entered: 1, UpdateTime: day2, Days: []metrics.Day{{Date: metrics.DateOf(day2), Entered: 1}}},
	}, got)
}
