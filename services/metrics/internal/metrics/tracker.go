package metrics

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/barista-cdp/barista/pkg/telemetry"
)

// TracerName names the tracer of the spans the metrics service starts for
// asynchronous work; the end-to-end trace test looks for it.
const TracerName = "github.com/barista-cdp/barista/services/metrics"

// Segments tells whether the segment service knows a segment.
type Segments interface {
	// Exists reports whether the segment with id exists.
	Exists(ctx context.Context, id string) (bool, error)
}

// Tracker applies the membership feed to a Store and answers metrics
// queries.
type Tracker struct {
	store    Store
	models   modelCache
	scores   scoresCache
	segments Segments
}

// NewTracker returns a Tracker on store that asks segments about segments
// it has no metrics of.
func NewTracker(store Store, segments Segments) *Tracker {
	return &Tracker{store: store, segments: segments}
}

// Cursor returns the position of the last membership change applied.
func (t *Tracker) Cursor(ctx context.Context) (int64, error) {
	return t.store.Cursor(ctx)
}

// Apply applies one delivered batch of changes atomically and stores
// cursor, the position of the batch's last entry (which may be an entry the
// caller passed over). Changes at or before the stored cursor are skipped,
// so redelivery is harmless. Each change gets a span that continues the
// trace of the work that caused it.
func (t *Tracker) Apply(ctx context.Context, changes []Change, cursor int64) (int, error) {
	if len(changes) == 0 {
		if _, err := t.store.Apply(ctx, nil, cursor); err != nil {
			return 0, fmt.Errorf("store cursor %d: %w", cursor, err)
		}
		return 0, nil
	}
	tracer := otel.Tracer(TracerName)
	spans := make([]trace.Span, len(changes))
	links := make([]trace.Link, len(changes))
	for i, c := range changes {
		_, spans[i] = tracer.Start(telemetry.Extract(ctx, c.TraceContext), "metrics.ApplyMembershipChange",
			trace.WithAttributes(
				attribute.String("barista.segment", "segments/"+c.Segment),
				attribute.String("barista.profile", c.Profile),
				attribute.String("barista.membership_change.kind", c.Kind.String()),
				attribute.Int64("barista.membership_change.seq", c.Seq),
			))
		links[i] = trace.Link{SpanContext: spans[i].SpanContext()}
	}
	// The store's spans join the change's trace when there is one change,
	// and a batch span linked to every change's span otherwise.
	applyCtx := trace.ContextWithSpan(ctx, spans[0])
	if len(changes) > 1 {
		var batch trace.Span
		applyCtx, batch = tracer.Start(ctx, "metrics.ApplyMembershipChanges", trace.WithLinks(links...),
			trace.WithAttributes(attribute.Int("barista.membership_change.count", len(changes))))
		spans = append(spans, batch)
	}
	applied, err := t.store.Apply(applyCtx, changes, cursor)
	for _, span := range spans {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "applying membership changes failed")
		} else {
			span.SetAttributes(attribute.Int("barista.membership_change.batch_applied", applied))
		}
		span.End()
	}
	if err != nil {
		return 0, fmt.Errorf("apply membership changes up to %d: %w", cursor, err)
	}
	return applied, nil
}

// SegmentMetrics returns the metrics of segment id. A segment without any
// change applied has zero metrics if the segment service knows it, and is
// ErrUnknownSegment otherwise.
func (t *Tracker) SegmentMetrics(ctx context.Context, id string) (SegmentMetrics, error) {
	m, err := t.store.SegmentMetrics(ctx, id)
	if !errors.Is(err, ErrNotFound) {
		return m, err
	}
	exists, err := t.segments.Exists(ctx, id)
	if err != nil {
		return SegmentMetrics{}, err
	}
	if !exists {
		return SegmentMetrics{}, fmt.Errorf("%w: segments/%s", ErrUnknownSegment, id)
	}
	return SegmentMetrics{Segment: id}, nil
}
