package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/internal/cli"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/pgtest"
)

// runMetricsReview creates two segments, sends orders, an email open and a
// page view, and reads the monthly review with the CLI: the report, the
// comparison, the migration since yesterday and an experiment.
func runMetricsReview(t *testing.T, s *suite, addr string) {
	ctx := context.Background()
	for id, condition := range map[string]string{
		"buyers": `count("Order Completed") >= 1`,
		"vip":    `sum("Order Completed", "revenue") > 100.0`,
	} {
		_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{Condition: condition}})
		require.NoError(t, err)
	}
	user := func(id string) []*typev1.Identifier { return []*typev1.Identifier{{Type: "user_id", Value: id}} }
	ingest(t, s,
		&eventv1.Event{MessageId: "o1", Event: "Order Completed", Identifiers: user("1"), Properties: props(t, map[string]any{"revenue": 50})},
		&eventv1.Event{MessageId: "o2", Event: "Order Completed", Identifiers: user("2"), Properties: props(t, map[string]any{"revenue": 150})},
		&eventv1.Event{MessageId: "e1", Event: "Email Opened", Identifiers: user("1")},
		&eventv1.Event{MessageId: "v3", Event: "Product Viewed", Identifiers: user("3")},
	)
	today := time.Now().UTC().Format(time.DateOnly)
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	eventually(t, "orders and memberships to reach the metrics service", func() bool {
		resp, err := s.metrics.CompareSegments(ctx, &metricsv1.CompareSegmentsRequest{Segments: []string{"segments/buyers", "segments/vip"}})
		return err == nil && resp.GetReports()[0].GetMembers().GetOrders() == 2 && resp.GetReports()[1].GetMembers().GetOrders() == 1 &&
			resp.GetReports()[0].GetAllProfiles().GetProfiles() == 3
	})

	t.Setenv("BARISTA_ADDR", addr)
	run := func(args ...string) string {
		var out, errOut bytes.Buffer
		code := cli.Execute(ctx, args, &out, &errOut)
		require.Zero(t, code, "barista %s:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
		return out.String()
	}
	out := run("metrics", "segment", "buyers", "--from", today, "--to", today)
	require.Regexp(t, `CONVERSION\s+100\.0% \(2\)\s+66\.7% \(2\)`, out, "members next to all profiles")
	require.Regexp(t, `REVENUE\s+200\.00\s+200\.00`, out)
	require.Regexp(t, `AVERAGE ORDER VALUE\s+100\.00\s+100\.00`, out)
	require.Regexp(t, `EMAIL OPEN RATE\s+50\.0%\s+33\.3%`, out)
	require.Regexp(t, today+`\s+2\s+0\s+2\s+2`, out)

	out = run("metrics", "compare", "buyers", "vip")
	require.Regexp(t, `REVENUE SHARE\s+100\.0%\s+75\.0%\s+100\.0%`, out)
	require.Regexp(t, `ORDERS PER PROFILE\s+1\.00\s+1\.00\s+0\.67`, out)

	out = run("metrics", "migration", "--from", yesterday, "--to", today, "buyers", "vip")
	require.Regexp(t, `none\s+3\s+2 \(66\.7%\)\s+1 \(33\.3%\)\s+1 \(33\.3%\)`, out, "everyone came from none")

	out = run("metrics", "experiment", "buyers", "--holdout", "0.5")
	require.Regexp(t, `HOLDOUT SHARE\s+50\.0%`, out)
	require.Regexp(t, `treatment\s+\d\s+\d`, out)
	require.Contains(t, out, "P-VALUE")
	members, err := s.segment.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers", PageSize: 10})
	require.NoError(t, err)
	require.Len(t, members.GetMemberships(), 2)
	profile := members.GetMemberships()[0].GetProfile()
	out = run("metrics", "experiment", "buyers", "--profile", profile)
	require.Regexp(t, `PROFILE\s+`+profile+`\nHOLDOUT\s+(true|false)\nBUCKET\s+0\.\d{6}`, out)
	out = run("metrics", "experiment", "buyers", "--profile", strings.TrimPrefix(profile, "profiles/"), "-o", "json")
	require.Contains(t, out, `"bucket"`, "a bare profile id works too")
}

func TestMetricsReviewInMemory(t *testing.T) {
	s, srv := startDev(t, "", nil)
	runMetricsReview(t, s, srv.GRPCAddr)
}

func TestMetricsReviewPostgres(t *testing.T) {
	s, srv := startDev(t, pgtest.NewDatabase(t), nil)
	runMetricsReview(t, s, srv.GRPCAddr)
}
