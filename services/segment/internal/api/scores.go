package api

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// Timing of the refresh of the scores.
const (
	// DefaultScoresInterval is how often the scores are refreshed when the
	// service is not told otherwise.
	DefaultScoresInterval = 15 * time.Minute
	// maxScoresRetry bounds the wait after a failed refresh, so that a
	// metrics service that starts after this one is read soon.
	maxScoresRetry = 30 * time.Second
	// scoresCallTimeout is the deadline of each call to the metrics service.
	scoresCallTimeout = time.Minute
	// scoresPageSize is the page size asked of ListProfileScores.
	scoresPageSize = 10000
)

// Refresher copies the RFM scores and store statistics the metrics service
// computes into the segment store, where conditions read them as rfm.* and
// store.*.
type Refresher struct {
	engine   *segment.Engine
	metrics  metricsv1.MetricsServiceClient
	interval time.Duration
	logger   *slog.Logger
}

// NewRefresher returns a refresher that reads metrics every interval.
func NewRefresher(engine *segment.Engine, metrics metricsv1.MetricsServiceClient, interval time.Duration, logger *slog.Logger) *Refresher {
	return &Refresher{engine: engine, metrics: metrics, interval: interval, logger: logger}
}

// ParseScoresInterval reads the --scores-interval flag: a Go duration of
// at least a second, DefaultScoresInterval when empty.
func ParseScoresInterval(s string) (time.Duration, error) {
	if s == "" {
		return DefaultScoresInterval, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("--scores-interval %q: want a duration of at least 1s, such as 15m", s)
	}
	return d, nil
}

// Run refreshes the scores at once and then every interval until ctx ends.
// A failed refresh is logged and tried again after the interval or 30
// seconds, whichever is shorter; it never stops the service, and events are
// evaluated meanwhile with the scores of the last refresh.
func (r *Refresher) Run(ctx context.Context) error {
	for {
		wait := r.interval
		if err := r.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = min(wait, maxScoresRetry)
			r.logger.WarnContext(ctx, "refreshing the scores from the metrics service failed; conditions keep the last scores", "error", err, "retry_in", wait.String())
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// Refresh fetches every profile's RFM and the store's statistics over the
// metrics service's default window (the last 365 days), and applies them:
// the memberships they change are recorded with the reason "scores
// refreshed".
func (r *Refresher) Refresh(ctx context.Context) error {
	scores, err := r.fetch(ctx)
	if err != nil {
		return err
	}
	res, err := r.engine.ApplyScores(ctx, scores)
	if err != nil {
		return fmt.Errorf("apply scores: %w", err)
	}
	r.logger.InfoContext(ctx, "scores refreshed", "customers", len(scores.RFM), "changed_profiles", res.Profiles,
		"store_changed", res.StoreChanged, "membership_changes", res.Changes)
	return nil
}

func (r *Refresher) fetch(ctx context.Context) (segment.Scores, error) {
	out := segment.Scores{RFM: map[string]condition.RFM{}}
	for token, first := "", true; first || token != ""; first = false {
		callCtx, cancel := context.WithTimeout(ctx, scoresCallTimeout)
		resp, err := r.metrics.ListProfileScores(callCtx, &metricsv1.ListProfileScoresRequest{PageSize: scoresPageSize, PageToken: token})
		cancel()
		if err != nil {
			return segment.Scores{}, fmt.Errorf("list profile scores: %w", err)
		}
		if first {
			out.Store = storeFromProto(resp.GetStatistics())
		}
		for _, s := range resp.GetScores() {
			if !s.GetRfm().GetHasOrders() {
				continue
			}
			out.RFM[s.GetProfile()] = rfmFromProto(s.GetRfm())
		}
		token = resp.GetNextPageToken()
	}
	return out, nil
}

func storeFromProto(s *metricsv1.StoreStatistics) condition.StoreStatistics {
	return condition.StoreStatistics{
		AverageOrderValue: s.GetAverageOrderValue(),
		P25:               s.GetOrderValueP25(),
		P50:               s.GetOrderValueP50(),
		P75:               s.GetOrderValueP75(),
		P90:               s.GetOrderValueP90(),
		P99:               s.GetOrderValueP99(),
		Orders:            s.GetOrders(),
		Customers:         s.GetCustomers(),
	}
}

func rfmFromProto(r *metricsv1.RFM) condition.RFM {
	return condition.RFM{
		Recency:     int(r.GetRecencyScore()),
		Frequency:   int(r.GetFrequencyScore()),
		Monetary:    int(r.GetMonetaryScore()),
		RecencyDays: r.GetRecencyDays(),
		Orders:      r.GetFrequency(),
		Revenue:     r.GetMonetary(),
	}
}
