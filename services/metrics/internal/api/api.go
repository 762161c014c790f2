// Package api is the metrics service's edge: the gRPC MetricsService
// handlers, the consumers of the segment service's membership changes and
// of the event service's log, and the segment service as seen by the
// metrics domain. Proto types stop here.
package api

import (
	"context"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// segmentPrefix starts every segment resource name.
const segmentPrefix = "segments/"

// segmentID is the segment service's rule for segment ids: lowercase
// letters, digits and hyphens, starting with a letter, at most 63
// characters.
var segmentID = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// Server implements metricsv1.MetricsServiceServer.
type Server struct {
	metricsv1.UnimplementedMetricsServiceServer
	tracker *metrics.Tracker
	now     func() time.Time
}

// New returns the API over tracker; now, when not nil, replaces the clock
// that dates default ranges and experiment updates.
func New(tracker *metrics.Tracker, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{tracker: tracker, now: now}
}

// Register adds the MetricsService to r.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	metricsv1.RegisterMetricsServiceServer(r, s)
}

// GetSegmentMetrics returns a segment's size, totals and daily history.
func (s *Server) GetSegmentMetrics(ctx context.Context, req *metricsv1.GetSegmentMetricsRequest) (*metricsv1.GetSegmentMetricsResponse, error) {
	id, err := parseSegment("segment", req.GetSegment())
	if err != nil {
		return nil, err
	}
	m, err := s.tracker.SegmentMetrics(ctx, id)
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetSegmentMetricsResponse{Metrics: metricsProto(m)}, nil
}

// parseSegment returns the id of a segment name, "segments/{segment}".
func parseSegment(field, name string) (string, error) {
	if name == "" {
		return "", apierror.Invalid(field, "is required: a segment name such as segments/buyers")
	}
	id, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok || !segmentID.MatchString(id) {
		return "", apierror.Invalid(field, "%q is not a segment name: want segments/{segment}, such as segments/buyers, where {segment} is lowercase letters, digits and hyphens, starting with a letter, at most 63 characters", name)
	}
	return id, nil
}

func metricsProto(m metrics.SegmentMetrics) *metricsv1.SegmentMetrics {
	out := &metricsv1.SegmentMetrics{
		Segment:      segmentPrefix + m.Segment,
		Size:         m.Size,
		EnteredTotal: m.EnteredTotal,
		ExitedTotal:  m.ExitedTotal,
		History:      make([]*metricsv1.SegmentSizePoint, len(m.History)),
	}
	if !m.UpdateTime.IsZero() {
		out.UpdateTime = timestamppb.New(m.UpdateTime)
	}
	for i, d := range m.History {
		out.History[i] = sizePointProto(d)
	}
	return out
}
