package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/internal/devserver"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/pgtest"
)

// startDevRefreshingScores runs `barista dev` in process with the scores
// refreshed every second.
func startDevRefreshingScores(t *testing.T, databaseURL string) *suite {
	t.Helper()
	cfg := devserver.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DatabaseURL: databaseURL,
		Flags: map[string]map[string]string{"segment": {"scores-interval": "1s"}}}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := devserver.New(ctx, cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	s := dialSuite(t, srv.GRPCAddr, srv.GRPCAddr, srv.GRPCAddr, srv.GRPCAddr)
	waitServing(t, s.conn)
	return s
}

// runScores orders for five customers and checks that segments over their
// RFM scores and the store's statistics, which the segment service reads
// from the metrics service, hold exactly the expected customers.
//
// The customers' orders (days ago × revenue) and, with five customers,
// their quintile scores (1 + the customers strictly worse):
//
//	u1: 1×100 ×3          recency 1d → 4, frequency 3 → 4, monetary 300 → 4: cell 444
//	u2: 2×50, 40×50       2d → 3, 2 → 3, 100 → 2: cell 332
//	u3: 200×20            200d → 1, 1 → 1, 20 → 1: cell 111
//	u4: 100,110,120,130×60 100d → 2, 4 → 5, 240 → 3: cell 253
//	u5: 0×500             0d → 5, 1 → 1, 500 → 5: cell 515
//
// The store: 11 orders, 1160 of revenue, an average order value of 105.45.
// u6 only browses.
func runScores(t *testing.T, s *suite) {
	ctx := context.Background()
	segments := map[string]string{
		"champions":         `rfm.recency >= 4 && rfm.frequency >= 4 && rfm.monetary >= 4`,
		"at-risk":           `rfm.recency >= 1 && rfm.recency <= 2 && rfm.frequency >= 3`,
		"cell-515":          `rfm.cell == "515"`,
		"no-orders":         `rfm.orders == 0`,
		"big-basket":        `store.customers > 0 && max("Order Completed", "revenue") > 2.0 * store.avg_order_value`,
		"high-value-repeat": `count("Order Completed", "180d") >= 2 && store.avg_order_value > 0.0 && sum("Order Completed", "revenue", "180d") >= 2.0 * store.avg_order_value`,
	}
	for id, cond := range segments {
		_, err := s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: id, Segment: &segmentv1.Segment{Condition: cond}})
		require.NoError(t, err, id)
	}

	now := time.Now().UTC()
	var events []*eventv1.Event
	orders := map[string][][2]float64{ // user: {days ago, revenue}
		"u1": {{1, 100}, {1, 100}, {1, 100}},
		"u2": {{2, 50}, {40, 50}},
		"u3": {{200, 20}},
		"u4": {{100, 60}, {110, 60}, {120, 60}, {130, 60}},
		"u5": {{0, 500}},
	}
	for _, user := range []string{"u1", "u2", "u3", "u4", "u5"} {
		for i, o := range orders[user] {
			at := now.Add(-time.Duration(o[0]*24)*time.Hour - time.Duration(i)*time.Minute)
			if o[0] == 0 {
				at = now.Add(-time.Minute)
			}
			events = append(events, &eventv1.Event{
				MessageId: fmt.Sprintf("%s-order-%d", user, i), Event: "Order Completed",
				Identifiers: []*typev1.Identifier{id("user_id", user)}, Timestamp: timestamppb.New(at),
				Properties: props(t, map[string]any{"revenue": o[1]}),
			})
		}
	}
	events = append(events, &eventv1.Event{MessageId: "u6-view", Event: "Product Viewed", Identifiers: []*typev1.Identifier{id("user_id", "u6")}})
	resp := ingest(t, s, events...)
	profiles := map[string]string{}
	for i, r := range resp.GetResults() {
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
		profiles[events[i].GetIdentifiers()[0].GetValue()] = r.GetProfile()
	}

	eventually(t, "the orders to reach the metrics service", func() bool {
		resp, err := s.metrics.GetStoreStatistics(ctx, &metricsv1.GetStoreStatisticsRequest{})
		return err == nil && resp.GetStatistics().GetOrders() == 11
	})
	want := map[string][]string{
		"champions":         {"u1"},
		"at-risk":           {"u4"},
		"cell-515":          {"u5"},
		"no-orders":         {"u6"},
		"big-basket":        {"u5"},
		"high-value-repeat": {"u1", "u4"},
	}
	membersOf := func(segment string) []string {
		resp, err := s.segment.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/" + segment, PageSize: 100})
		require.NoError(t, err)
		var out []string
		for _, m := range resp.GetMemberships() {
			out = append(out, m.GetProfile())
		}
		slices.Sort(out)
		return out
	}
	expected := func(users []string) []string {
		var out []string
		for _, u := range users {
			out = append(out, profiles[u])
		}
		slices.Sort(out)
		return out
	}
	eventually(t, "a refresh of the scores to settle every segment", func() bool {
		for seg, users := range want {
			if !slices.Equal(membersOf(seg), expected(users)) {
				return false
			}
		}
		return true
	})
	// The champion entered when the scores were refreshed (a refresh that
	// saw only some of the orders may have come before).
	history, err := s.segment.ListMembershipChanges(ctx, &segmentv1.ListMembershipChangesRequest{Segment: "segments/champions", PageSize: 100})
	require.NoError(t, err)
	require.NotEmpty(t, history.GetChanges())
	last := history.GetChanges()[len(history.GetChanges())-1]
	require.Equal(t, "scores refreshed", last.GetReason())
	require.Equal(t, profiles["u1"], last.GetProfile())

	// Preview reads the same scores.
	preview, err := s.segment.PreviewSegment(ctx, &segmentv1.PreviewSegmentRequest{Condition: `rfm.cell == "253" || rfm.cell == "111"`})
	require.NoError(t, err)
	require.EqualValues(t, 2, preview.GetSize())
}

func TestScoresInMemory(t *testing.T) {
	runScores(t, startDevRefreshingScores(t, ""))
}

func TestScoresPostgres(t *testing.T) {
	runScores(t, startDevRefreshingScores(t, pgtest.NewDatabase(t)))
}
