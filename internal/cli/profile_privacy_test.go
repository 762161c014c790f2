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
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/barista-cdp/barista/internal/devserver"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcclient"
)

// startPrivacySuite runs the whole suite in memory in this process, with a
// person who ordered, consented and joined a segment, and returns its
// address.
func startPrivacySuite(t *testing.T) string {
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
	t.Cleanup(func() { conn.Close() })
	health := healthpb.NewHealthClient(conn)
	require.Eventually(t, func() bool {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}, 20*time.Second, 20*time.Millisecond)

	segments := segmentv1.NewSegmentServiceClient(conn)
	_, err = segments.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`}})
	require.NoError(t, err)
	revenue, err := structpb.NewStruct(map[string]any{"revenue": 42.0})
	require.NoError(t, err)
	resp, err := eventv1.NewEventServiceClient(conn).IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: []*eventv1.Event{
		{MessageId: "m1", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Identifiers: []*typev1.Identifier{{Type: "email", Value: "ana@example.com"}, {Type: "anonymous_id", Value: "a1"}}},
		{MessageId: "m2", Event: "Order Completed", Identifiers: []*typev1.Identifier{{Type: "email", Value: "ana@example.com"}}, Properties: revenue},
	}})
	require.NoError(t, err)
	for _, r := range resp.GetResults() {
		require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, r.GetStatus(), r.GetError())
	}
	_, err = profilev1.NewProfileServiceClient(conn).SetConsent(ctx, &profilev1.SetConsentRequest{
		Identifier: &typev1.Identifier{Type: "email", Value: "ana@example.com"},
		Consents:   []*profilev1.Consent{{Purpose: "email", Status: profilev1.ConsentStatus_CONSENT_STATUS_GRANTED, Source: "signup-form"}},
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		m, err := segments.ListProfileMemberships(ctx, &segmentv1.ListProfileMembershipsRequest{Identifier: &typev1.Identifier{Type: "email", Value: "ana@example.com"}})
		return err == nil && len(m.GetMemberships()) == 1
	}, 20*time.Second, 20*time.Millisecond)
	return srv.GRPCAddr
}

func TestProfileExportAndDeleteCommands(t *testing.T) {
	addr := startPrivacySuite(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}

	code, out, stderr := run("profile", "export", "email:Ana@Example.com")
	require.Zero(t, code, stderr)
	var doc struct {
		Profile struct {
			Profile struct {
				Name string `json:"name"`
			} `json:"profile"`
			IdentifierLinks []any `json:"identifierLinks"`
			Consents        []struct {
				Consent struct {
					Source string `json:"source"`
				} `json:"consent"`
			} `json:"consents"`
		} `json:"profile"`
		Events            []map[string]any `json:"events"`
		Memberships       []map[string]any `json:"segmentMemberships"`
		MembershipChanges []map[string]any `json:"segmentMembershipChanges"`
		Value             struct {
			Value struct {
				Profile string `json:"profile"`
			} `json:"value"`
		} `json:"customerValue"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	require.NotEmpty(t, doc.Profile.Profile.Name)
	require.Len(t, doc.Profile.IdentifierLinks, 2)
	require.Len(t, doc.Profile.Consents, 1)
	require.Equal(t, "signup-form", doc.Profile.Consents[0].Consent.Source)
	require.Len(t, doc.Events, 2)
	require.Len(t, doc.Memberships, 1)
	require.Equal(t, "segments/buyers", doc.Memberships[0]["segment"])
	require.NotEmpty(t, doc.MembershipChanges)
	require.Equal(t, doc.Profile.Profile.Name, doc.Value.Value.Profile)

	file := filepath.Join(t.TempDir(), "ana.json")
	code, out, stderr = run("profile", "export", doc.Profile.Profile.Name, "--file", file)
	require.Zero(t, code, stderr)
	require.Empty(t, out)
	written, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(written), doc.Profile.Profile.Name)

	// Commands that take a person also take the profile's name.
	code, out, stderr = run("segment", "of", doc.Profile.Profile.Name)
	require.Zero(t, code, stderr)
	require.Regexp(t, `(?m)^buyers\s`, out)
	code, out, stderr = run("event", "list", doc.Profile.Profile.Name)
	require.Zero(t, code, stderr)
	require.Contains(t, out, "Order Completed")

	code, _, stderr = run("profile", "delete", "email:ana@example.com")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "--yes")

	code, out, stderr = run("profile", "delete", "email:ana@example.com", "--yes")
	require.Zero(t, code, stderr)
	require.Contains(t, out, doc.Profile.Profile.Name)
	require.Contains(t, out, "email:ana@example.com, anonymous_id:a1 (now suppressed)")

	code, _, stderr = run("profile", "delete", "email:ana@example.com", "--yes")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound")
	code, _, stderr = run("profile", "export", "email:ana@example.com")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound")
}
