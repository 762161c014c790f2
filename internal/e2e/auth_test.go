package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/internal/cli"
	"github.com/barista-cdp/barista/pkg/auth"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

// TestProductionModeRequiresCredentials runs the four service binaries in
// production mode (a credentials file, peer tokens) and checks, as callers
// see it: no credential, a wrong key or a missing scope is refused;
// personal data is redacted without the pii scope; the services still reach
// each other with their peer token (an event flows into a segment); and the
// Segment HTTP API takes only write keys with the events:write scope.
func TestProductionModeRequiresCredentials(t *testing.T) {
	dir := t.TempDir()
	keys := map[string][]string{
		"internal-token": {"admin"},
		"shop-key":       {"events:write"},
		"analyst-key":    {"segments:read", "profiles:read"},
		"privacy-key":    {"profiles:read", "pii"},
	}
	var file strings.Builder
	file.WriteString("keys:\n")
	for key, scopes := range keys {
		file.WriteString("  - name: " + strings.TrimSuffix(strings.TrimSuffix(key, "-key"), "-token") + "\n")
		file.WriteString("    sha256: " + auth.HashKey(key) + "\n")
		file.WriteString("    scopes: [" + strings.Join(scopes, ", ") + "]\n")
	}
	authFile := filepath.Join(dir, "auth.yaml")
	require.NoError(t, os.WriteFile(authFile, []byte(file.String()), 0o600))
	tokenFile := filepath.Join(dir, "peer-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("internal-token\n"), 0o600))

	addrs := map[string]string{}
	for _, spec := range specs {
		addrs[spec.Name] = freeAddr(t)
	}
	httpAddr := freeAddr(t)
	for _, spec := range specs {
		args := []string{"--auth-file", authFile, "--peer-token-file", tokenFile}
		for _, peer := range spec.Peers {
			args = append(args, "--"+peer+"-addr", addrs[peer])
		}
		if spec.Name == "event" {
			args = append(args, "--http-addr", httpAddr)
		}
		startProcess(t, spec.Name, addrs[spec.Name], args...)
	}
	s := dialSuite(t, addrs["event"], addrs["profile"], addrs["segment"], addrs["metrics"])
	ctx := context.Background()
	as := func(key string) grpc.CallOption { return grpc.PerRPCCredentials(auth.Token(key)) }
	order := &eventv1.IngestEventsRequest{Events: []*eventv1.Event{{
		MessageId: "m1", Event: "Order Completed", Identifiers: []*typev1.Identifier{id("email", "ana@example.com")},
	}}}

	_, err := s.event.IngestEvents(ctx, order)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "no credential")
	_, err = s.event.IngestEvents(ctx, order, as("made-up"))
	require.Equal(t, codes.Unauthenticated, status.Code(err), "unknown key")
	_, err = s.event.IngestEvents(ctx, order, as("analyst-key"))
	require.Equal(t, codes.PermissionDenied, status.Code(err), "analysts read, they do not ingest")

	_, err = s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`},
	}, as("analyst-key"))
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = s.segment.CreateSegment(ctx, &segmentv1.CreateSegmentRequest{
		SegmentId: "buyers", Segment: &segmentv1.Segment{Condition: `count("Order Completed") >= 1`},
	}, as("internal-token"))
	require.NoError(t, err)

	resp, err := s.event.IngestEvents(ctx, order, as("shop-key"))
	require.NoError(t, err)
	require.Equal(t, eventv1.IngestResult_STATUS_ACCEPTED, resp.GetResults()[0].GetStatus(), resp.GetResults()[0].GetError())

	// The event reached the profile, event log, and segment services: the
	// peers authenticated to each other.
	eventually(t, "the buyer joins the segment", func() bool {
		m, err := s.segment.ListSegmentMembers(ctx, &segmentv1.ListSegmentMembersRequest{Segment: "segments/buyers"}, as("analyst-key"))
		return err == nil && len(m.GetMemberships()) == 1
	})

	lookup := &profilev1.LookupProfileRequest{Identifier: id("email", "ana@example.com")}
	p, err := s.profile.LookupProfile(ctx, lookup, as("analyst-key"))
	require.NoError(t, err)
	require.Equal(t, auth.Redacted, p.GetProfile().GetIdentifiers()[0].GetValue(), "no pii scope")
	p, err = s.profile.LookupProfile(ctx, lookup, as("privacy-key"))
	require.NoError(t, err)
	require.Equal(t, "ana@example.com", p.GetProfile().GetIdentifiers()[0].GetValue())

	// The CLI sends the token from BARISTA_TOKEN (or --token-file).
	cliGet := func() (string, int) {
		var out, errOut strings.Builder
		code := cli.Execute(ctx, []string{"--addr", addrs["profile"], "profile", "get", "email:ana@example.com"}, &out, &errOut)
		return out.String() + errOut.String(), code
	}
	out, code := cliGet()
	require.NotZero(t, code)
	require.Contains(t, out, "missing credentials")
	t.Setenv("BARISTA_TOKEN", "privacy-key")
	out, code = cliGet()
	require.Zero(t, code, out)
	require.Contains(t, out, "ana@example.com")

	track := func(writeKey string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/track",
			strings.NewReader(`{"userId":"u1","event":"Product Viewed","messageId":"h1"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if writeKey != "" {
			req.SetBasicAuth(writeKey, "")
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, track(""))
	require.Equal(t, http.StatusUnauthorized, track("analyst-key"), "a key without events:write")
	require.Equal(t, http.StatusOK, track("shop-key"))
}
