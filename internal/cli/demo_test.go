package cli_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/barista-cdp/barista/internal/devserver"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/storegen"
)

// startDevSuite runs the whole suite in memory in this process and returns
// its gRPC address once it serves.
func startDevSuite(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := devserver.New(ctx, devserver.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	conn, err := grpcclient.Dial(srv.GRPCAddr)
	require.NoError(t, err)
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	require.Eventually(t, func() bool {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}, 20*time.Second, 20*time.Millisecond)
	return srv.GRPCAddr
}

// demoOutput is the JSON summary of `barista demo -o json`.
type demoOutput struct {
	Customers int `json:"customers"`
	Events    int `json:"events"`
	Accepted  int `json:"accepted"`
	Duplicate int `json:"duplicate"`
	Rejected  int `json:"rejected"`
	Orders    int `json:"orders"`
	Profiles  int `json:"profiles"`
	Segments  []struct {
		Segment string `json:"segment"`
		Members int    `json:"members"`
	} `json:"segments"`
}

func TestDemo(t *testing.T) {
	addr := startDevSuite(t)
	truthFile := filepath.Join(t.TempDir(), "truth.jsonl")
	args := []string{"--addr", addr, "-o", "json", "demo", "--customers", "300", "--days", "120", "--seed", "3",
		"--install-templates", "--truth", truthFile, "--settle", "1s",
		"--end", time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339)}
	code, stdout, stderr := runCLI(t, args...)
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "acknowledged")
	var first demoOutput
	require.NoError(t, json.Unmarshal([]byte(stdout), &first), stdout)

	// Every generated event is stored, and the truth file describes them.
	f, err := os.Open(truthFile)
	require.NoError(t, err)
	defer f.Close()
	truths, err := storegen.ReadTruth(f)
	require.NoError(t, err)
	require.Len(t, truths, 300)
	events, orders := 0, 0
	for _, tr := range truths {
		events += tr.Events
		orders += tr.Orders
	}
	require.Equal(t, events, first.Events)
	require.Equal(t, events, first.Accepted)
	require.Zero(t, first.Duplicate)
	require.Zero(t, first.Rejected)
	require.Equal(t, orders, first.Orders)
	require.Positive(t, orders)

	conn, err := grpcclient.Dial(addr)
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()

	// A buyer's profile holds its identifiers, and its orders are stored.
	var buyer storegen.Truth
	for _, tr := range truths {
		if tr.Orders > 0 {
			buyer = tr
			break
		}
	}
	prof, err := profilev1.NewProfileServiceClient(conn).LookupProfile(ctx, &profilev1.LookupProfileRequest{
		Identifier: &typev1.Identifier{Type: "email", Value: buyer.Email}})
	require.NoError(t, err)
	require.Equal(t, buyer.Name, prof.GetProfile().GetTraits().GetFields()["name"].GetStringValue())
	list, err := eventv1.NewEventServiceClient(conn).ListProfileEvents(ctx, &eventv1.ListProfileEventsRequest{
		Identifier: &typev1.Identifier{Type: "user_id", Value: buyer.UserID}, PageSize: 1000})
	require.NoError(t, err)
	stored := 0
	for _, ev := range list.GetEvents() {
		if ev.GetEvent() == "Order Completed" {
			stored++
		}
	}
	require.Equal(t, buyer.Orders, stored)

	// Profiles: at least one per customer who was ever seen, more for
	// devices that never logged in.
	require.GreaterOrEqual(t, first.Profiles, 300)

	// Every template is installed, and several have some but not all
	// profiles.
	templates, err := segmentv1.NewSegmentServiceClient(conn).ListSegmentTemplates(ctx, &segmentv1.ListSegmentTemplatesRequest{PageSize: 1000})
	require.NoError(t, err)
	require.Len(t, first.Segments, len(templates.GetTemplates()))
	meaningful := map[string]int{}
	for _, s := range first.Segments {
		if s.Members > 0 && s.Members < first.Profiles {
			meaningful[s.Segment] = s.Members
		}
	}
	require.GreaterOrEqual(t, len(meaningful), 8, "segments with members: %v", first.Segments)
	for _, id := range []string{"window-shoppers", "loyal", "full-price-buyers", "deal-seekers"} {
		require.Contains(t, meaningful, id)
	}

	// Loading the same store again stores nothing new.
	code, stdout, stderr = runCLI(t, args...)
	require.Zero(t, code, stderr)
	var second demoOutput
	require.NoError(t, json.Unmarshal([]byte(stdout), &second), stdout)
	require.Zero(t, second.Accepted)
	require.Equal(t, first.Events, second.Duplicate+second.Rejected)
	require.Zero(t, second.Rejected)
	require.Equal(t, first.Profiles, second.Profiles)
	for k, s := range second.Segments {
		require.Equal(t, first.Segments[k], s, "a second load changed %s", s.Segment)
	}
}
