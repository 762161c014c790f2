package api

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// segmentDirectory answers metrics.Segments by calling GetSegment.
type segmentDirectory struct {
	client segmentv1.SegmentServiceClient
	logger *slog.Logger
}

// Segments returns the segment service, through client, as the metrics
// domain sees it.
func Segments(client segmentv1.SegmentServiceClient, logger *slog.Logger) metrics.Segments {
	if logger == nil {
		logger = slog.Default()
	}
	return segmentDirectory{client: client, logger: logger}
}

// Exists reports whether the segment service knows segment id. The
// caller's cancellation and deadline pass through as they are; any other
// failure is the segment service being unavailable, with the cause logged
// rather than shown to the caller.
func (d segmentDirectory) Exists(ctx context.Context, id string) (bool, error) {
	_, err := d.client.GetSegment(ctx, &segmentv1.GetSegmentRequest{Name: segmentPrefix + id})
	switch status.Code(err) {
	case codes.OK:
		return true, nil
	case codes.NotFound:
		return false, nil
	case codes.Canceled, codes.DeadlineExceeded:
		return false, err
	}
	d.logger.WarnContext(ctx, "checking a segment with the segment service failed", "segment", segmentPrefix+id, "error", err)
	return false, fmt.Errorf("checking segments/%s: the segment service is %w", id, apierror.ErrUnavailable)
}
