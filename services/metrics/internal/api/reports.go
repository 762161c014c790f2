package api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

// maxSegments bounds the segments of a comparison or migration.
const maxSegments = 20

// defaultRangeDays is the length of a range without a start date.
const defaultRangeDays = 30

// experimentSuffix ends every experiment name.
const experimentSuffix = "/experiment"

// GetSegmentReport reports a segment over a range of days.
func (s *Server) GetSegmentReport(ctx context.Context, req *metricsv1.GetSegmentReportRequest) (*metricsv1.GetSegmentReportResponse, error) {
	id, idErr := parseSegment("segment", req.GetSegment())
	from, to, rangeErr := s.parseRange(req.GetStartDate(), req.GetEndDate())
	if err := joinInvalid(idErr, rangeErr); err != nil {
		return nil, err
	}
	r, err := s.tracker.Report(ctx, id, from, to)
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetSegmentReportResponse{Report: reportProto(r)}, nil
}

// CompareSegments reports several segments over the same range.
func (s *Server) CompareSegments(ctx context.Context, req *metricsv1.CompareSegmentsRequest) (*metricsv1.CompareSegmentsResponse, error) {
	ids, idErr := parseSegments(req.GetSegments())
	from, to, rangeErr := s.parseRange(req.GetStartDate(), req.GetEndDate())
	if err := joinInvalid(idErr, rangeErr); err != nil {
		return nil, err
	}
	reports, err := s.tracker.Compare(ctx, ids, from, to)
	if err != nil {
		return nil, err
	}
	out := &metricsv1.CompareSegmentsResponse{Reports: make([]*metricsv1.SegmentReport, len(reports))}
	for i, r := range reports {
		out.Reports[i] = reportProto(r)
	}
	return out, nil
}

// GetSegmentMigration returns the matrix of moves between segments.
func (s *Server) GetSegmentMigration(ctx context.Context, req *metricsv1.GetSegmentMigrationRequest) (*metricsv1.GetSegmentMigrationResponse, error) {
	ids, idErr := parseSegments(req.GetSegments())
	var invalid *apierror.InvalidError
	add := func(field, format string, args ...any) {
		if invalid == nil {
			invalid = apierror.Invalid(field, format, args...)
			return
		}
		invalid.Add(field, format, args...)
	}
	from, fromErr := parseDate(req.GetFromDate())
	if fromErr != "" {
		add("from_date", "%s", fromErr)
	}
	to, toErr := parseDate(req.GetToDate())
	if toErr != "" {
		add("to_date", "%s", toErr)
	}
	if fromErr == "" && toErr == "" && to.Before(from) {
		add("to_date", "%s is before from_date %s", req.GetToDate(), req.GetFromDate())
	}
	if err := joinInvalid(idErr, invalid.OrNil()); err != nil {
		return nil, err
	}
	m, err := s.tracker.Migration(ctx, ids, from, to)
	if err != nil {
		return nil, err
	}
	out := &metricsv1.GetSegmentMigrationResponse{FromDate: formatDate(m.From), ToDate: formatDate(m.To)}
	// The last group is none; the others are segments, even one with the
	// id "none".
	for i, g := range m.Groups {
		if i < len(m.Groups)-1 {
			g = segmentPrefix + g
		}
		out.Groups = append(out.Groups, g)
	}
	for i, r := range m.Rows {
		row := &metricsv1.MigrationRow{From: out.Groups[i], Profiles: r.Profiles}
		for j, n := range r.Counts {
			row.Cells = append(row.Cells, &metricsv1.MigrationCell{To: out.Groups[j], Count: n, Rate: metrics.Ratio(n, r.Profiles)})
		}
		out.Rows = append(out.Rows, row)
	}
	return out, nil
}

// GetExperiment returns a segment's experiment.
func (s *Server) GetExperiment(ctx context.Context, req *metricsv1.GetExperimentRequest) (*metricsv1.GetExperimentResponse, error) {
	id, err := parseExperiment("name", req.GetName())
	if err != nil {
		return nil, err
	}
	e, err := s.tracker.Experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetExperimentResponse{Experiment: experimentProto(e)}, nil
}

// UpdateExperiment sets a segment's experiment.
func (s *Server) UpdateExperiment(ctx context.Context, req *metricsv1.UpdateExperimentRequest) (*metricsv1.UpdateExperimentResponse, error) {
	e := req.GetExperiment()
	if e == nil {
		return nil, apierror.Invalid("experiment", "is required")
	}
	var invalid *apierror.InvalidError
	id, err := parseExperiment("experiment.name", e.GetName())
	if err != nil {
		invalid, _ = err.(*apierror.InvalidError)
	}
	for i, path := range req.GetUpdateMask().GetPaths() {
		if path != "holdout_share" {
			field := fmt.Sprintf("update_mask.paths[%d]", i)
			if invalid == nil {
				invalid = apierror.Invalid(field, "%q cannot be updated: only holdout_share", path)
			} else {
				invalid.Add(field, "%q cannot be updated: only holdout_share", path)
			}
		}
	}
	if share := e.GetHoldoutShare(); !(share >= 0 && share <= metrics.MaxHoldoutShare) {
		const msg = "%v is out of range: want a share from 0 to %v, such as 0.1 to hold out 10%% of the members"
		if invalid == nil {
			invalid = apierror.Invalid("experiment.holdout_share", msg, share, metrics.MaxHoldoutShare)
		} else {
			invalid.Add("experiment.holdout_share", msg, share, metrics.MaxHoldoutShare)
		}
	}
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	saved, err := s.tracker.SetExperiment(ctx, metrics.Experiment{Segment: id, HoldoutShare: e.GetHoldoutShare()}, s.now())
	if err != nil {
		return nil, err
	}
	return &metricsv1.UpdateExperimentResponse{Experiment: experimentProto(saved)}, nil
}

// CheckHoldout tells whether a profile is held out of an experiment.
func (s *Server) CheckHoldout(ctx context.Context, req *metricsv1.CheckHoldoutRequest) (*metricsv1.CheckHoldoutResponse, error) {
	id, expErr := parseExperiment("experiment", req.GetExperiment())
	var profileErr error
	if p := req.GetProfile(); !strings.HasPrefix(p, "profiles/") || len(p) == len("profiles/") {
		profileErr = apierror.Invalid("profile", "%q is not a profile name: want profiles/{profile}, such as profiles/p1", p)
	}
	if err := joinInvalid(expErr, profileErr); err != nil {
		return nil, err
	}
	e, err := s.tracker.Experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	return &metricsv1.CheckHoldoutResponse{Holdout: e.Holdout(req.GetProfile()), Bucket: metrics.Bucket(id, req.GetProfile())}, nil
}

// AnalyzeExperiment compares treatment and holdout conversion.
func (s *Server) AnalyzeExperiment(ctx context.Context, req *metricsv1.AnalyzeExperimentRequest) (*metricsv1.AnalyzeExperimentResponse, error) {
	id, idErr := parseExperiment("experiment", req.GetExperiment())
	from, to, rangeErr := s.parseRange(req.GetStartDate(), req.GetEndDate())
	if err := joinInvalid(idErr, rangeErr); err != nil {
		return nil, err
	}
	a, err := s.tracker.Analyze(ctx, id, from, to)
	if err != nil {
		return nil, err
	}
	arm := func(a metrics.Arm) *metricsv1.ExperimentArm {
		return &metricsv1.ExperimentArm{Profiles: a.Profiles, Converted: a.Converted, ConversionRate: a.Rate()}
	}
	return &metricsv1.AnalyzeExperimentResponse{Analysis: &metricsv1.ExperimentAnalysis{
		Experiment:   segmentPrefix + id + experimentSuffix,
		HoldoutShare: a.Experiment.HoldoutShare,
		StartDate:    formatDate(a.From),
		EndDate:      formatDate(a.To),
		Treatment:    arm(a.Treatment),
		Holdout:      arm(a.Holdout),
		Lift:         a.Lift,
		LiftCiLow:    a.Low,
		LiftCiHigh:   a.High,
		Z:            a.Z,
		PValue:       a.P,
		Significant:  a.Significant(),
	}}, nil
}

// joinInvalid merges the field violations of several validation errors,
// each nil or an *apierror.InvalidError, into one.
func joinInvalid(errs ...error) error {
	var out *apierror.InvalidError
	for _, err := range errs {
		invalid, ok := err.(*apierror.InvalidError)
		if !ok {
			continue
		}
		for _, v := range invalid.Violations {
			if out == nil {
				out = apierror.Invalid(v.Field, "%s", v.Description)
			} else {
				out.Add(v.Field, "%s", v.Description)
			}
		}
	}
	return out.OrNil()
}

// parseSegments returns the ids of 1 to maxSegments distinct segment names.
func parseSegments(names []string) ([]string, error) {
	if len(names) == 0 || len(names) > maxSegments {
		return nil, apierror.Invalid("segments", "has %d segments: want 1 to %d, such as [segments/buyers, segments/vip]", len(names), maxSegments)
	}
	var errs []error
	ids := make([]string, len(names))
	for i, name := range names {
		field := fmt.Sprintf("segments[%d]", i)
		id, err := parseSegment(field, name)
		if err == nil && slices.Contains(ids[:i], id) {
			err = apierror.Invalid(field, "%s is repeated", name)
		}
		errs = append(errs, err)
		ids[i] = id
	}
	if err := joinInvalid(errs...); err != nil {
		return nil, err
	}
	return ids, nil
}

// parseExperiment returns the segment id of an experiment name,
// "segments/{segment}/experiment".
func parseExperiment(field, name string) (string, error) {
	segment, ok := strings.CutSuffix(name, experimentSuffix)
	if !ok {
		return "", apierror.Invalid(field, "%q is not an experiment name: want segments/{segment}/experiment, such as segments/buyers/experiment", name)
	}
	id, err := parseSegment(field, segment)
	if err != nil {
		return "", apierror.Invalid(field, "%q is not an experiment name: want segments/{segment}/experiment, such as segments/buyers/experiment", name)
	}
	return id, nil
}

// parseDate reads a YYYY-MM-DD date; it returns a description of the
// problem, or "".
func parseDate(s string) (time.Time, string) {
	if s == "" {
		return time.Time{}, "is required: a date such as 2025-06-01"
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Sprintf("%q is not a date: want YYYY-MM-DD, such as 2025-06-01", s)
	}
	return d, ""
}

// parseRange reads a report's start and end dates, with their defaults:
// the end is today and the start 29 days before the end. An end after
// today is today.
func (s *Server) parseRange(start, end string) (from, to time.Time, err error) {
	var invalid *apierror.InvalidError
	to = metrics.DateOf(s.now())
	if end != "" {
		var problem string
		if to, problem = parseDate(end); problem != "" {
			invalid = apierror.Invalid("end_date", "%s", problem)
		}
	}
	from = to.AddDate(0, 0, 1-defaultRangeDays)
	if start != "" {
		var problem string
		if from, problem = parseDate(start); problem != "" {
			if invalid == nil {
				invalid = apierror.Invalid("start_date", "%s", problem)
			} else {
				invalid.Add("start_date", "%s", problem)
			}
		}
	}
	if invalid != nil {
		return from, to, invalid
	}
	// Nothing has happened after today: a range running into the future ends
	// today, so member-days and rates are not diluted by days without data.
	// The response's end_date says where the report ends.
	if today := metrics.DateOf(s.now()); to.After(today) {
		if from.After(today) {
			return from, to, apierror.Invalid("start_date", "%s is after today (%s): there is no data yet", formatDate(from), formatDate(today))
		}
		to = today
	}
	if to.Before(from) {
		return from, to, apierror.Invalid("end_date", "%s is before start_date %s", formatDate(to), formatDate(from))
	}
	if n := int(to.Sub(from).Hours()/24) + 1; n > metrics.MaxRangeDays {
		return from, to, apierror.Invalid("start_date", "the range spans %d days: at most %d", n, metrics.MaxRangeDays)
	}
	return from, to, nil
}

func formatDate(t time.Time) string { return t.Format(time.DateOnly) }

func reportProto(r metrics.Report) *metricsv1.SegmentReport {
	out := &metricsv1.SegmentReport{
		Segment:     segmentPrefix + r.Segment,
		StartDate:   formatDate(r.From),
		EndDate:     formatDate(r.To),
		StartSize:   r.StartSize,
		EndSize:     r.EndSize,
		History:     make([]*metricsv1.SegmentSizePoint, len(r.History)),
		Members:     populationProto(r.Members, r.All.Revenue),
		AllProfiles: populationProto(r.All, r.All.Revenue),
	}
	for i, d := range r.History {
		out.History[i] = sizePointProto(d)
	}
	return out
}

func sizePointProto(d metrics.Day) *metricsv1.SegmentSizePoint {
	return &metricsv1.SegmentSizePoint{Date: formatDate(d.Date), Entered: d.Entered, Exited: d.Exited, Net: d.Entered - d.Exited, Size: d.Size}
}

func populationProto(p metrics.Population, totalRevenue float64) *metricsv1.Population {
	return &metricsv1.Population{
		Profiles:          p.Profiles,
		MemberDays:        p.MemberDays,
		Converted:         p.Converted,
		ConversionRate:    metrics.Ratio(p.Converted, p.Profiles),
		Orders:            p.Orders,
		Revenue:           p.Revenue,
		AverageOrderValue: metrics.Ratio(p.Revenue, float64(p.Orders)),
		OrdersPerProfile:  metrics.Ratio(p.Orders, p.Profiles),
		RevenueShare:      metrics.Ratio(p.Revenue, totalRevenue),
		Opened:            p.Opened,
		OpenRate:          metrics.Ratio(p.Opened, p.Profiles),
		Clicked:           p.Clicked,
		ClickRate:         metrics.Ratio(p.Clicked, p.Profiles),
		Unsubscribed:      p.Unsubscribed,
		UnsubscribeRate:   metrics.Ratio(p.Unsubscribed, p.Profiles),
	}
}

func experimentProto(e metrics.Experiment) *metricsv1.Experiment {
	return &metricsv1.Experiment{
		Name:         segmentPrefix + e.Segment + experimentSuffix,
		HoldoutShare: e.HoldoutShare,
		UpdateTime:   timestamppb.New(e.UpdateTime),
	}
}
