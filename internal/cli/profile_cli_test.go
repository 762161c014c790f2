package cli_test

import (
	"context"
	"log/slog"
	"net"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/barista-cdp/barista/pkg/app"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	profileservice "github.com/barista-cdp/barista/services/profile/service"
)

// startProfile serves an in-memory profile service on a loopback port and
// returns its address.
func startProfile(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.DiscardHandler)
	svc, err := profileservice.Spec.New(ctx, app.Env{Logger: logger})
	require.NoError(t, err)
	srv := grpcserver.New(grpcserver.Options{Logger: logger})
	svc.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, logger, srv, lis, nil, nil, svc.Run) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return lis.Addr().String()
}

func TestProfileMergeCommands(t *testing.T) {
	addr := startProfile(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}
	code, out, stderr := run("profile", "rules")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "user_id > email > phone > device_id > anonymous_id")
	require.Contains(t, out, "at most 5 anonymous_id per 168h0m0s")

	// Two profiles to merge: the event service creates them in real use,
	// the merge command itself here.
	code, _, stderr = run("profile", "merge", "email:ana@example.com", "anonymous_id:a1", "--reason", "ticket 9")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound")

	code, _, stderr = run("profile", "merges", "email:ana@example.com")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound: no profile holds email:ana@example.com")

	code, _, stderr = run("profile", "merge", "email:ana@example.com", "anonymous_id:a1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "reason")

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	client := profilev1.NewProfileServiceClient(conn)
	for _, id := range []*typev1.Identifier{{Type: "email", Value: "ana@example.com"}, {Type: "anonymous_id", Value: "a1"}} {
		_, err := client.ResolveProfile(context.Background(), &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id}})
		require.NoError(t, err)
	}
	code, out, stderr = run("profile", "merge", "email:ana@example.com", "anonymous_id:a1", "--reason", "ticket 9")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "email:ana@example.com, anonymous_id:a1")
	code, out, stderr = run("profile", "merges", "anonymous_id:a1")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "manual")
	require.Contains(t, out, "manual merge: ticket 9")
	merged := regexp.MustCompile(`manual\s+profiles/\S+\s+(profiles/\S+)`).FindStringSubmatch(out)
	require.Len(t, merged, 2, out)
	code, out, stderr = run("profile", "get", "anonymous_id:a1")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "SHARED")

	rules := writeFile(t, "rules.yaml", "blocked: [{type: email, pattern: 'ana@.*'}]\n")
	code, out, stderr = run("profile", "rules", "preview", rules)
	require.Zero(t, code, stderr)
	require.Regexp(t, `PROFILES TO SPLIT\s+1\n`, out)
	require.Regexp(t, `IDENTIFIERS TO UNLINK\s+1\n`, out)
	require.Regexp(t, `MERGES TO REFUSE\s+0\n`, out, "a manual merge is not the rules' to refuse")
	require.Regexp(t, `PROFILES TO MERGE\s+0\n`, out)
	bad := writeFile(t, "bad.yaml", "limits: [{type: email, max: 2}]\n")
	code, _, stderr = run("profile", "rules", "preview", bad)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "InvalidArgument")

	code, out, stderr = run("profile", "unmerge", merged[1])
	require.Zero(t, code, stderr)
	require.Regexp(t, `PROFILE\s+`+merged[1], out)
	code, _, stderr = run("profile", "unmerge", merged[1])
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "FailedPrecondition")
}

func TestProfileConsentCommand(t *testing.T) {
	addr := startProfile(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = profilev1.NewProfileServiceClient(conn).ResolveProfile(context.Background(),
		&profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{{Type: "email", Value: "ana@example.com"}}})
	require.NoError(t, err)

	code, out, stderr := run("profile", "consent", "email:ana@example.com")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "none recorded")
	code, out, stderr = run("profile", "consent", "email:ana@example.com", "--set", "email=granted", "--set", "sms=Denied",
		"--source", "signup-form", "--time", "2026-03-01T09:00:00Z")
	require.Zero(t, code, stderr)
	require.Regexp(t, `email\s+granted\s+signup-form\s+2026-03-01T09:00:00Z`, out)
	require.Regexp(t, `sms\s+denied\s+signup-form`, out)
	code, out, stderr = run("profile", "consent", "email:ana@example.com", "-o", "json")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "CONSENT_STATUS_GRANTED")
	code, out, _ = run("profile", "get", "email:ana@example.com", "-o", "json")
	require.Zero(t, code)
	require.Contains(t, out, "consents")

	code, _, stderr = run("profile", "consent", "email:ana@example.com", "--set", "email=maybe")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "PURPOSE=granted")
	code, _, stderr = run("profile", "consent", "email:ana@example.com", "--set", "fax=granted")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "InvalidArgument")
}
