package api

import (
	"context"
	"strings"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// defaultWindowDays is the length of a statistics or RFM window, and of a
// prediction horizon, when the request does not set it.
const defaultWindowDays = 365

// GetStoreStatistics returns the store's order statistics over a window.
func (s *Server) GetStoreStatistics(ctx context.Context, req *metricsv1.GetStoreStatisticsRequest) (*metricsv1.GetStoreStatisticsResponse, error) {
	v := &violations{}
	from, to := s.parseWindow(v, req.GetEndDate(), req.GetWindowDays())
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.tracker.Statistics(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetStoreStatisticsResponse{Statistics: statisticsProto(st)}, nil
}

// GetProfileValue returns what a profile is worth.
func (s *Server) GetProfileValue(ctx context.Context, req *metricsv1.GetProfileValueRequest) (*metricsv1.GetProfileValueResponse, error) {
	v := &violations{}
	if p := req.GetProfile(); !strings.HasPrefix(p, "profiles/") || len(p) == len("profiles/") {
		v.add("profile", "%q is not a profile name: want profiles/{profile}, such as profiles/p1", p)
	}
	from, to := s.parseWindow(v, req.GetEndDate(), req.GetWindowDays())
	horizon := int(req.GetHorizonDays())
	switch {
	case horizon == 0:
		horizon = defaultWindowDays
	case horizon < 0 || horizon > metrics.MaxRangeDays:
		v.add("horizon_days", "%d is out of range: want 1 to %d days, such as 365", horizon, metrics.MaxRangeDays)
	}
	if rate := req.GetMonthlyDiscountRate(); !(rate >= 0 && rate <= 1) {
		v.add("monthly_discount_rate", "%v is out of range: want a rate from 0 to 1, such as 0.01 for 1%% per 30 days", rate)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	pv, err := s.tracker.Value(ctx, req.GetProfile(), metrics.ValueOptions{
		From: from, To: to, HorizonDays: horizon, MonthlyDiscountRate: req.GetMonthlyDiscountRate(),
	})
	if err != nil {
		return nil, err
	}
	out := &metricsv1.ProfileValue{
		Profile:                     pv.Profile,
		StartDate:                   formatDate(pv.From),
		EndDate:                     formatDate(pv.To),
		Rfm:                         rfmProto(pv.RFM),
		HistoricalClv:               pv.HistoricalCLV,
		OrdersToDate:                pv.OrdersToDate,
		HorizonDays:                 int32(pv.HorizonDays),
		PredictionUnavailableReason: pv.Unavailable,
	}
	if p := pv.Prediction; p != nil {
		out.Prediction = &metricsv1.CustomerValuePrediction{
			PAlive:               p.ProbAlive,
			ExpectedPurchases:    p.ExpectedPurchases,
			ExpectedAverageSpend: p.ExpectedAvgSpend,
			PredictedClv:         p.CLV,
			RepeatPurchases:      p.RepeatPurchases,
			FittedCustomers:      p.FittedCustomers,
		}
	}
	return &metricsv1.GetProfileValueResponse{Value: out}, nil
}

// violations collects the field violations of one request.
type violations struct {
	invalid *apierror.InvalidError
}

func (v *violations) add(field, format string, args ...any) {
	if v.invalid == nil {
		v.invalid = apierror.Invalid(field, format, args...)
		return
	}
	v.invalid.Add(field, format, args...)
}

func (v *violations) err() error { return v.invalid.OrNil() }

// parseWindow reads a window's last day (default today) and length in days
// (default defaultWindowDays) and returns its first and last days.
func (s *Server) parseWindow(v *violations, end string, days int32) (from, to time.Time) {
	to = metrics.DateOf(s.now())
	if end != "" {
		var problem string
		if to, problem = parseDate(end); problem != "" {
			v.add("end_date", "%s", problem)
		}
	}
	n := int(days)
	switch {
	case n == 0:
		n = defaultWindowDays
	case n < 0 || n > metrics.MaxRangeDays:
		v.add("window_days", "%d is out of range: want 1 to %d days, such as 365", days, metrics.MaxRangeDays)
		n = defaultWindowDays
	}
	return to.AddDate(0, 0, 1-n), to
}
