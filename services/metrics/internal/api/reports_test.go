package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/api"
	"github.com/barista-cdp/barista/services/metrics/internal/memory"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
)

func at(day, hour int) time.Time { return time.Date(2025, 6, day, hour, 0, 0, 0, time.UTC) }

func delivered(cursor, profile, name string, at time.Time, props map[string]any) *eventv1.DeliveredEvent {
	p, err := structpb.NewStruct(props)
	if err != nil {
		panic(err)
	}
	return &eventv1.DeliveredEvent{Cursor: cursor, Event: &eventv1.Event{
		Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name, Profile: profile, Timestamp: timestamppb.New(at), Properties: p,
	}}
}

// seed applies, through the consumers' code paths, this history:
// buyers: a enters June 1 10:00, b June 1 11:00, a exits June 2 9:00;
// vip: b enters June 2 10:00. Events: a's order of 10 on June 1, b's
// order of 30 (its "total") on June 2, c's order of 60 on June 2 (c is in
// no segment), b's email open on June 1 and a's click on June 2.
func seed(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	_, err := f.tracker.Apply(ctx, []metrics.Change{
		{Seq: 1, Segment: "buyers", Profile: "profiles/a", Kind: metrics.Entered, Time: at(1, 10)},
		{Seq: 2, Segment: "buyers", Profile: "profiles/b", Kind: metrics.Entered, Time: at(1, 11)},
		{Seq: 3, Segment: "buyers", Profile: "profiles/a", Kind: metrics.Exited, Time: at(2, 9)},
		{Seq: 4, Segment: "vip", Profile: "profiles/b", Kind: metrics.Entered, Time: at(2, 10)},
	}, 4)
	require.NoError(t, err)
	consumer := api.EventConsumer(f.tracker, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, consumer.Apply(ctx, &eventv1.StreamEventsResponse{Events: []*eventv1.DeliveredEvent{
		delivered("1", "profiles/a", "Order Completed", at(1, 12), map[string]any{"revenue": 10, "total": 99}),
		delivered("2", "profiles/b", "Order Completed", at(2, 12), map[string]any{"total": 30}),
		delivered("3", "profiles/c", "Order Completed", at(2, 13), map[string]any{"revenue": 60}),
		delivered("4", "profiles/b", "Email Opened", at(1, 8), nil),
		delivered("5", "profiles/a", "Email Clicked", at(2, 8), nil),
	}}))
}

func TestEventConsumerCountsOrdersAndEmails(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	consumer := api.EventConsumer(metrics.NewTracker(store, nil), nil, slog.New(slog.DiscardHandler))
	identify := delivered("5", "profiles/d", "", at(1, 9), nil)
	identify.Event.Type = eventv1.EventType_EVENT_TYPE_IDENTIFY
	noProfile := delivered("6", "", "Order Completed", at(1, 9), map[string]any{"revenue": 5})
	noTime := delivered("7", "profiles/a", "Order Completed", at(1, 9), map[string]any{"revenue": 5})
	noTime.Event.Timestamp = nil
	received := delivered("8", "profiles/a", "Unsubscribed", at(1, 9), nil)
	received.Event.Timestamp, received.Event.ReceiveTime = nil, timestamppb.New(at(2, 9))
	require.NoError(t, consumer.Apply(ctx, &eventv1.StreamEventsResponse{Events: []*eventv1.DeliveredEvent{
		delivered("1", "profiles/a", "Order Completed", at(1, 9), map[string]any{"revenue": 12.5, "total": 99}),
		delivered("2", "profiles/a", "Order Completed", at(1, 10), map[string]any{"total": 7.5}),
		delivered("3", "profiles/a", "Order Completed", at(1, 11), map[string]any{"revenue": "12", "total": "x"}),
		delivered("4", "profiles/a", "Email Opened", at(1, 12), nil),
		identify, noProfile, noTime, received,
	}}))
	cursor, err := consumer.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 8, cursor, "events passed over still move the cursor")
	got, err := store.Activity(ctx, at(1, 0), at(2, 0))
	require.NoError(t, err)
	require.Equal(t, []metrics.ProfileDay{
		{Profile: "profiles/a", Date: at(1, 0), Orders: 3, Revenue: 20, Opens: 1},
		{Profile: "profiles/a", Date: at(2, 0), Unsubscribes: 1},
	}, got, "revenue, else total, else 0; the receive time without a timestamp")
	n, err := store.Profiles(ctx, at(3, 0))
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "a and d; events without profile or time are not counted")

	for _, bad := range []string{"", "0", "x9"} {
		err := consumer.Apply(ctx, &eventv1.StreamEventsResponse{Events: []*eventv1.DeliveredEvent{
			delivered("9", "profiles/a", "Order Completed", at(1, 9), nil),
			delivered(bad, "profiles/a", "Order Completed", at(1, 9), nil),
		}})
		require.ErrorContains(t, err, "not a position in the log", "cursor %q", bad)
	}
	cursor, err = consumer.Cursor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 8, cursor, "a batch with an unusable cursor writes nothing")
}

func TestGetSegmentReport(t *testing.T) {
	f := start(t)
	seed(t, f)
	resp, err := f.client.GetSegmentReport(context.Background(), &metricsv1.GetSegmentReportRequest{
		Segment: "segments/buyers", StartDate: "2025-06-01", EndDate: "2025-06-02",
	})
	require.NoError(t, err)
	want := &metricsv1.SegmentReport{
		Segment: "segments/buyers", StartDate: "2025-06-01", EndDate: "2025-06-02", StartSize: 0, EndSize: 1,
		History: []*metricsv1.SegmentSizePoint{
			{Date: "2025-06-01", Entered: 2, Net: 2, Size: 2},
			{Date: "2025-06-02", Exited: 1, Net: -1, Size: 1},
		},
		// a and b are members on both days; both ordered while members.
		Members: &metricsv1.Population{
			Profiles: 2, MemberDays: 4, Converted: 2, ConversionRate: 1, Orders: 2, Revenue: 40,
			AverageOrderValue: 20, OrdersPerProfile: 1, RevenueShare: 0.4,
			Opened: 1, OpenRate: 0.5, Clicked: 1, ClickRate: 0.5,
		},
		// a, b and c are known; each ordered once, for 100 in all.
		AllProfiles: &metricsv1.Population{
			Profiles: 3, MemberDays: 6, Converted: 3, ConversionRate: 1, Orders: 3, Revenue: 100,
			AverageOrderValue: 100.0 / 3, OrdersPerProfile: 1, RevenueShare: 1,
			Opened: 1, OpenRate: 1.0 / 3, Clicked: 1, ClickRate: 1.0 / 3,
		},
	}
	require.Empty(t, cmp.Diff(want, resp.GetReport(), protocmp.Transform()))

	resp, err = f.client.GetSegmentReport(context.Background(), &metricsv1.GetSegmentReportRequest{Segment: "segments/buyers"})
	require.NoError(t, err)
	require.Equal(t, "2025-05-12", resp.GetReport().GetStartDate(), "30 days by default")
	require.Equal(t, "2025-06-10", resp.GetReport().GetEndDate(), "up to today by default")
	require.Len(t, resp.GetReport().GetHistory(), 30)
	require.EqualValues(t, 1, resp.GetReport().GetEndSize())

	resp, err = f.client.GetSegmentReport(context.Background(), &metricsv1.GetSegmentReportRequest{Segment: "segments/buyers", StartDate: "2025-06-01", EndDate: "2025-06-30"})
	require.NoError(t, err)
	require.Equal(t, "2025-06-10", resp.GetReport().GetEndDate(), "a range into the future ends today")
	require.Len(t, resp.GetReport().GetHistory(), 10)
	require.EqualValues(t, 10*3, resp.GetReport().GetAllProfiles().GetMemberDays(), "no member-days after today")

	_, err = f.client.GetSegmentReport(context.Background(), &metricsv1.GetSegmentReportRequest{Segment: "segments/buyers", StartDate: "2025-07-01", EndDate: "2025-07-31"})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "start_date: 2025-07-01 is after today (2025-06-10)")

	_, err = f.client.GetSegmentReport(context.Background(), &metricsv1.GetSegmentReportRequest{Segment: "segments/nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
}

func TestCompareSegments(t *testing.T) {
	f := start(t)
	seed(t, f)
	resp, err := f.client.CompareSegments(context.Background(), &metricsv1.CompareSegmentsRequest{
		Segments: []string{"segments/vip", "segments/buyers"}, StartDate: "2025-06-02", EndDate: "2025-06-02",
	})
	require.NoError(t, err)
	require.Len(t, resp.GetReports(), 2)
	vip, buyers := resp.GetReports()[0], resp.GetReports()[1]
	require.Equal(t, "segments/vip", vip.GetSegment())
	// On June 2, b (in both) ordered 30 and c (in neither) 60; a, a member
	// of buyers until 9:00, did not order.
	require.Empty(t, cmp.Diff(&metricsv1.Population{
		Profiles: 1, MemberDays: 1, Converted: 1, ConversionRate: 1, Orders: 1, Revenue: 30,
		AverageOrderValue: 30, OrdersPerProfile: 1, RevenueShare: 1.0 / 3,
	}, vip.GetMembers(), protocmp.Transform()))
	require.Empty(t, cmp.Diff(&metricsv1.Population{
		Profiles: 2, MemberDays: 2, Converted: 1, ConversionRate: 0.5, Orders: 1, Revenue: 30,
		AverageOrderValue: 30, OrdersPerProfile: 0.5, RevenueShare: 1.0 / 3, Clicked: 1, ClickRate: 0.5,
	}, buyers.GetMembers(), protocmp.Transform()))
	require.Empty(t, cmp.Diff(vip.GetAllProfiles(), buyers.GetAllProfiles(), protocmp.Transform()), "one baseline")
	require.EqualValues(t, 90, vip.GetAllProfiles().GetRevenue())
	require.InDelta(t, 2.0/3, vip.GetAllProfiles().GetConversionRate(), 1e-12)
}

func TestGetSegmentMigration(t *testing.T) {
	f := start(t)
	seed(t, f)
	resp, err := f.client.GetSegmentMigration(context.Background(), &metricsv1.GetSegmentMigrationRequest{
		Segments: []string{"segments/buyers", "segments/vip"}, FromDate: "2025-06-01", ToDate: "2025-06-02",
	})
	require.NoError(t, err)
	cells := func(counts ...int64) []*metricsv1.MigrationCell {
		out := make([]*metricsv1.MigrationCell, len(counts))
		for i, to := range []string{"segments/buyers", "segments/vip", "none"} {
			out[i] = &metricsv1.MigrationCell{To: to, Count: counts[i]}
		}
		return out
	}
	rows := []*metricsv1.MigrationRow{
		// a leaves buyers for none; b stays in buyers and joins vip.
		{From: "segments/buyers", Profiles: 2, Cells: cells(1, 1, 1)},
		{From: "segments/vip", Cells: cells(0, 0, 0)},
		// c, known from its order, is in none on both days.
		{From: "none", Profiles: 1, Cells: cells(0, 0, 1)},
	}
	for _, c := range rows[0].Cells {
		c.Rate = 0.5
	}
	rows[2].Cells[2].Rate = 1
	require.Empty(t, cmp.Diff(&metricsv1.GetSegmentMigrationResponse{
		Groups: []string{"segments/buyers", "segments/vip", "none"}, Rows: rows, FromDate: "2025-06-01", ToDate: "2025-06-02",
	}, resp, protocmp.Transform()))
}

func TestExperiments(t *testing.T) {
	f := start(t)
	seed(t, f)
	ctx := context.Background()
	_, err := f.client.GetExperiment(ctx, &metricsv1.GetExperimentRequest{Name: "segments/buyers/experiment"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = f.client.UpdateExperiment(ctx, &metricsv1.UpdateExperimentRequest{Experiment: &metricsv1.Experiment{Name: "segments/nope/experiment", HoldoutShare: 0.1}})
	require.Equal(t, codes.NotFound, status.Code(err), "the segment must exist")

	updated, err := f.client.UpdateExperiment(ctx, &metricsv1.UpdateExperimentRequest{
		Experiment: &metricsv1.Experiment{Name: "segments/buyers/experiment", HoldoutShare: 0.55},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"holdout_share"}},
	})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Nil(t, updated)
	updated, err = f.client.UpdateExperiment(ctx, &metricsv1.UpdateExperimentRequest{
		Experiment: &metricsv1.Experiment{Name: "segments/buyers/experiment", HoldoutShare: 0.5},
	})
	require.NoError(t, err)
	want := &metricsv1.Experiment{Name: "segments/buyers/experiment", HoldoutShare: 0.5, UpdateTime: timestamppb.New(now)}
	require.Empty(t, cmp.Diff(want, updated.GetExperiment(), protocmp.Transform()))
	got, err := f.client.GetExperiment(ctx, &metricsv1.GetExperimentRequest{Name: "segments/buyers/experiment"})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(want, got.GetExperiment(), protocmp.Transform()))

	// Buckets computed with Python's hashlib: both above the share.
	for profile, bucket := range map[string]float64{"profiles/a": 0.544383003955144, "profiles/b": 0.8134185140300035} {
		resp, err := f.client.CheckHoldout(ctx, &metricsv1.CheckHoldoutRequest{Experiment: "segments/buyers/experiment", Profile: profile})
		require.NoError(t, err)
		require.InDelta(t, bucket, resp.GetBucket(), 1e-15)
		require.False(t, resp.GetHoldout(), "%s is above the share", profile)
	}
	held := 0
	for i := range 200 {
		resp, err := f.client.CheckHoldout(ctx, &metricsv1.CheckHoldoutRequest{Experiment: "segments/buyers/experiment", Profile: fmt.Sprintf("profiles/x%d", i)})
		require.NoError(t, err)
		require.Equal(t, resp.GetBucket() < 0.5, resp.GetHoldout())
		if resp.GetHoldout() {
			held++
		}
	}
	require.InDelta(t, 100, held, 40, "about half of 200 held out")

	resp, err := f.client.AnalyzeExperiment(ctx, &metricsv1.AnalyzeExperimentRequest{
		Experiment: "segments/buyers/experiment", StartDate: "2025-06-01", EndDate: "2025-06-02",
	})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(&metricsv1.ExperimentAnalysis{
		Experiment: "segments/buyers/experiment", HoldoutShare: 0.5, StartDate: "2025-06-01", EndDate: "2025-06-02",
		Treatment: &metricsv1.ExperimentArm{Profiles: 2, Converted: 2, ConversionRate: 1},
		Holdout:   &metricsv1.ExperimentArm{},
		Lift:      1, PValue: 1,
	}, resp.GetAnalysis(), protocmp.Transform()), "an empty holdout proves nothing")
}

func TestReportRequestsAreValidated(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	tooMany := make([]string, 21)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("segments/s%d", i)
	}
	tests := []struct {
		name   string
		call   func() error
		fields []string
	}{
		{"report bad dates", func() error {
			_, err := f.client.GetSegmentReport(ctx, &metricsv1.GetSegmentReportRequest{Segment: "buyers", StartDate: "June 1", EndDate: "2025-13-01"})
			return err
		}, []string{"segment", "end_date", "start_date"}},
		{"report end before start", func() error {
			_, err := f.client.GetSegmentReport(ctx, &metricsv1.GetSegmentReportRequest{Segment: "segments/buyers", StartDate: "2025-06-02", EndDate: "2025-06-01"})
			return err
		}, []string{"end_date"}},
		{"report too long", func() error {
			_, err := f.client.GetSegmentReport(ctx, &metricsv1.GetSegmentReportRequest{Segment: "segments/buyers", StartDate: "2000-01-01", EndDate: "2025-06-01"})
			return err
		}, []string{"start_date"}},
		{"compare none", func() error {
			_, err := f.client.CompareSegments(ctx, &metricsv1.CompareSegmentsRequest{})
			return err
		}, []string{"segments"}},
		{"compare too many", func() error {
			_, err := f.client.CompareSegments(ctx, &metricsv1.CompareSegmentsRequest{Segments: tooMany})
			return err
		}, []string{"segments"}},
		{"compare repeated and bad", func() error {
			_, err := f.client.CompareSegments(ctx, &metricsv1.CompareSegmentsRequest{Segments: []string{"segments/vip", "vip", "segments/vip"}})
			return err
		}, []string{"segments[1]", "segments[2]"}},
		{"migration dates", func() error {
			_, err := f.client.GetSegmentMigration(ctx, &metricsv1.GetSegmentMigrationRequest{Segments: []string{"segments/vip"}, ToDate: "x"})
			return err
		}, []string{"from_date", "to_date"}},
		{"migration backwards", func() error {
			_, err := f.client.GetSegmentMigration(ctx, &metricsv1.GetSegmentMigrationRequest{Segments: []string{"segments/vip"}, FromDate: "2025-06-02", ToDate: "2025-06-01"})
			return err
		}, []string{"to_date"}},
		{"experiment name", func() error {
			_, err := f.client.GetExperiment(ctx, &metricsv1.GetExperimentRequest{Name: "segments/buyers"})
			return err
		}, []string{"name"}},
		{"update", func() error {
			_, err := f.client.UpdateExperiment(ctx, &metricsv1.UpdateExperimentRequest{
				Experiment: &metricsv1.Experiment{Name: "buyers/experiment", HoldoutShare: -0.1},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
			})
			return err
		}, []string{"experiment.name", "update_mask.paths[0]", "experiment.holdout_share"}},
		{"update nothing", func() error {
			_, err := f.client.UpdateExperiment(ctx, &metricsv1.UpdateExperimentRequest{})
			return err
		}, []string{"experiment"}},
		{"holdout", func() error {
			_, err := f.client.CheckHoldout(ctx, &metricsv1.CheckHoldoutRequest{Experiment: "segments/buyers/experiments", Profile: "p1"})
			return err
		}, []string{"experiment", "profile"}},
		{"analyze", func() error {
			_, err := f.client.AnalyzeExperiment(ctx, &metricsv1.AnalyzeExperimentRequest{Experiment: "segments/buyers/experiment", EndDate: "2025-02-30"})
			return err
		}, []string{"end_date"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(tt.call())
			require.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
						require.False(t, strings.HasSuffix(v.GetDescription(), " "))
					}
				}
			}
			require.Equal(t, tt.fields, fields)
		})
	}
}
