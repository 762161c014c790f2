package api_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/segment/internal/api"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// metricsScores is a metrics service that lists scores one profile a page,
// or fails while down is set.
type metricsScores struct {
	metricsv1.UnimplementedMetricsServiceServer
	down   bool
	scores []*metricsv1.ProfileScores
	stats  *metricsv1.StoreStatistics
	tokens []string
}

func (m *metricsScores) ListProfileScores(_ context.Context, req *metricsv1.ListProfileScoresRequest) (*metricsv1.ListProfileScoresResponse, error) {
	if m.down {
		return nil, status.Error(codes.Unavailable, "connection refused")
	}
	m.tokens = append(m.tokens, req.GetPageToken())
	i := 0
	if req.GetPageToken() != "" {
		i = int(req.GetPageToken()[0] - '0')
	}
	resp := &metricsv1.ListProfileScoresResponse{Statistics: m.stats}
	if i < len(m.scores) {
		resp.Scores = m.scores[i : i+1]
	}
	if i+1 < len(m.scores) {
		resp.NextPageToken = string(rune('0' + i + 1))
	}
	return resp, nil
}

func TestRefresherCopiesEveryPageOfScores(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	engine := segment.NewEngine(store, segment.Options{Now: func() time.Time { return t0 }})
	fake := &metricsScores{
		stats: &metricsv1.StoreStatistics{Orders: 9, Customers: 3, AverageOrderValue: 42.5, OrderValueP25: 1, OrderValueP50: 2, OrderValueP75: 3, OrderValueP90: 4, OrderValueP99: 5},
		scores: []*metricsv1.ProfileScores{
			{Profile: "profiles/a", Rfm: &metricsv1.RFM{HasOrders: true, RecencyDays: 3, Frequency: 4, Monetary: 120.5, RecencyScore: 5, FrequencyScore: 4, MonetaryScore: 3, Customers: 3}},
			{Profile: "profiles/b", Rfm: &metricsv1.RFM{HasOrders: true, RecencyDays: 90, Frequency: 1, Monetary: 10, RecencyScore: 1, FrequencyScore: 1, MonetaryScore: 1, Customers: 3}},
			{Profile: "profiles/c", Rfm: &metricsv1.RFM{HasOrders: true, RecencyDays: 0, Frequency: 4, Monetary: 200, RecencyScore: 5, FrequencyScore: 4, MonetaryScore: 5, Customers: 3}},
		},
	}
	conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { metricsv1.RegisterMetricsServiceServer(r, fake) })
	refresher := api.NewRefresher(engine, metricsv1.NewMetricsServiceClient(conn), time.Hour, slog.New(slog.DiscardHandler))

	_, err := engine.CreateSegment(ctx, segment.Segment{ID: "champions", Condition: `count("Order Completed") >= 1 && rfm.cell == "545"`})
	require.NoError(t, err)
	require.NoError(t, engine.ApplyEvents(ctx, []segment.Event{
		{Seq: 1, Resource: "events/1", Profile: "profiles/c", Name: "Order Completed", Time: t0},
	}))

	fake.down = true
	require.ErrorContains(t, refresher.Refresh(ctx), "connection refused")
	st, err := store.StoreStatistics(ctx)
	require.NoError(t, err)
	require.Zero(t, st, "a failed refresh stores nothing")

	fake.down = false
	require.NoError(t, refresher.Refresh(ctx))
	require.Equal(t, []string{"", "1", "2"}, fake.tokens, "every page, each once")
	st, err = store.StoreStatistics(ctx)
	require.NoError(t, err)
	require.Equal(t, condition.StoreStatistics{AverageOrderValue: 42.5, P25: 1, P50: 2, P75: 3, P90: 4, P99: 5, Orders: 9, Customers: 3}, st)
	got, err := store.ProfileScores(ctx, []string{"profiles/a", "profiles/b", "profiles/c"})
	require.NoError(t, err)
	require.Equal(t, map[string]condition.RFM{
		"profiles/a": {Recency: 5, Frequency: 4, Monetary: 3, RecencyDays: 3, Orders: 4, Revenue: 120.5},
		"profiles/b": {Recency: 1, Frequency: 1, Monetary: 1, RecencyDays: 90, Orders: 1, Revenue: 10},
		"profiles/c": {Recency: 5, Frequency: 4, Monetary: 5, RecencyDays: 0, Orders: 4, Revenue: 200},
	}, got)
	members, err := engine.ListMembers(ctx, "champions", "", 10)
	require.NoError(t, err)
	require.Len(t, members, 1)
	require.Equal(t, "profiles/c", members[0].Profile)
	changes, err := engine.ListChanges(ctx, "champions", "", 0, 10)
	require.NoError(t, err)
	require.Equal(t, segment.ReasonScores, changes[len(changes)-1].Reason)
}

// flaky fails its first calls, then lists one profile.
type flaky struct {
	metricsv1.UnimplementedMetricsServiceServer
	mu    sync.Mutex
	calls int
}

func (f *flaky) ListProfileScores(context.Context, *metricsv1.ListProfileScoresRequest) (*metricsv1.ListProfileScoresResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= 2 {
		return nil, status.Error(codes.Unavailable, "connection refused")
	}
	return &metricsv1.ListProfileScoresResponse{
		Statistics: &metricsv1.StoreStatistics{Customers: 1},
		Scores:     []*metricsv1.ProfileScores{{Profile: "profiles/a", Rfm: &metricsv1.RFM{HasOrders: true, RecencyScore: 1}}},
	}, nil
}

func TestRunKeepsRefreshingAfterFailures(t *testing.T) {
	conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { metricsv1.RegisterMetricsServiceServer(r, &flaky{}) })
	store := memory.New()
	engine := segment.NewEngine(store, segment.Options{})
	refresher := api.NewRefresher(engine, metricsv1.NewMetricsServiceClient(conn), 10*time.Millisecond, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- refresher.Run(ctx) }()
	require.Eventually(t, func() bool {
		st, err := store.StoreStatistics(ctx)
		return err == nil && st.Customers == 1
	}, 10*time.Second, 5*time.Millisecond, "the refresh after two failures stores the scores")
	cancel()
	require.NoError(t, <-done, "failures and the end of ctx never stop the service")
}

func TestParseScoresInterval(t *testing.T) {
	d, err := api.ParseScoresInterval("")
	require.NoError(t, err)
	require.Equal(t, api.DefaultScoresInterval, d)
	d, err = api.ParseScoresInterval("90s")
	require.NoError(t, err)
	require.Equal(t, 90*time.Second, d)
	for _, bad := range []string{"soon", "10ms", "-1m"} {
		_, err := api.ParseScoresInterval(bad)
		require.ErrorContains(t, err, "--scores-interval", bad)
	}
}

func TestUnknownScoreFieldIsRefusedWithItsPosition(t *testing.T) {
	f := start(t)
	_, err := f.client.CreateSegment(context.Background(), &segmentv1.CreateSegmentRequest{SegmentId: "typo",
		Segment: &segmentv1.Segment{Condition: "count(\"Order Completed\") > 1 &&\n  rfm.recncy >= 4"}})
	require.Contains(t, violations(t, err)["segment.condition"], `2:3: rfm has no field "recncy" (did you mean 'rfm.recency'?); it has recency, frequency, monetary`)
}
