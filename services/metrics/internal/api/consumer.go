package api

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/barista-cdp/barista/pkg/feed"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// Consumer returns the consumer of the segment service's membership
// changes: it resumes after the cursor the tracker stored and applies each
// delivered message in one transaction.
//
// A change the service cannot interpret (an unknown kind, say from a newer
// segment service) is logged and passed over, with its cursor still
// stored: retrying it could never succeed and would stall the feed. A
// cursor that does not decode stops the batch instead, since nothing after
// it could be resumed correctly.
func Consumer(tracker *metrics.Tracker, segments segmentv1.SegmentServiceClient, logger *slog.Logger) feed.Consumer[*segmentv1.WatchMembershipChangesResponse] {
	if logger == nil {
		logger = slog.Default()
	}
	return feed.Consumer[*segmentv1.WatchMembershipChangesResponse]{
		Name:   "metrics<-segment",
		Logger: logger,
		Cursor: tracker.Cursor,
		Open: func(ctx context.Context, after string) (feed.Stream[*segmentv1.WatchMembershipChangesResponse], error) {
			return segments.WatchMembershipChanges(ctx, &segmentv1.WatchMembershipChangesRequest{AfterCursor: after})
		},
		Apply: func(ctx context.Context, msg *segmentv1.WatchMembershipChangesResponse) error {
			changes := make([]metrics.Change, 0, len(msg.GetChanges()))
			var cursor int64
			for _, c := range msg.GetChanges() {
				change, ok, err := changeFromProto(c)
				if err != nil {
					return err
				}
				cursor = max(cursor, change.Seq)
				if !ok {
					logger.ErrorContext(ctx, "skipping a membership change the metrics service cannot interpret",
						"cursor", c.GetCursor(), "segment", c.GetSegment(), "kind", c.GetKind().String(), "has_change_time", c.GetChangeTime() != nil)
					continue
				}
				changes = append(changes, change)
			}
			if cursor == 0 {
				return nil
			}
			_, err := tracker.Apply(ctx, changes, cursor)
			return err
		},
	}
}

// changeFromProto returns the domain form of a delivered change, and false
// when it cannot be counted (unknown kind, bad segment name, no time). An
// error means its cursor is unusable.
func changeFromProto(c *segmentv1.MembershipChange) (metrics.Change, bool, error) {
	seq, err := feed.DecodeCursor("cursor", c.GetCursor())
	if err != nil || seq == 0 {
		return metrics.Change{}, false, fmt.Errorf("membership change of %s with cursor %q: not a position in the feed", c.GetSegment(), c.GetCursor())
	}
	out := metrics.Change{
		Seq:          seq,
		Profile:      c.GetProfile(),
		Time:         c.GetChangeTime().AsTime(),
		TraceContext: c.GetTraceContext(),
	}
	switch c.GetKind() {
	case segmentv1.MembershipChange_KIND_ENTERED:
		out.Kind = metrics.Entered
	case segmentv1.MembershipChange_KIND_EXITED:
		out.Kind = metrics.Exited
	default:
		return out, false, nil
	}
	id, ok := strings.CutPrefix(c.GetSegment(), segmentPrefix)
	if !ok || !segmentID.MatchString(id) || c.GetChangeTime() == nil {
		return out, false, nil
	}
	out.Segment = id
	return out, true, nil
}
