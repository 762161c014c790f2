package cli_test

import (
	"context"
	"log/slog"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/barista-cdp/barista/pkg/app"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	profileservice "github.com/barista-cdp/barista/services/profile/service"
)

func TestProfileMatchesCommands(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.DiscardHandler)
	svc, err := profileservice.Spec.New(ctx, app.Env{Logger: logger, Flags: map[string]string{profileservice.MatchIntervalFlag: "20ms"}})
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
	addr := lis.Addr().String()
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}

	code, out, stderr := run("profile", "matches", "list")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "no pending match candidates")

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	client := profilev1.NewProfileServiceClient(conn)
	phone := &profilev1.MatchSignals{Ip: "10.0.0.9", UserAgent: "Mobile Safari", DeviceFingerprint: "fp-9"}
	for _, v := range []string{"a1", "a2"} {
		_, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{{Type: "anonymous_id", Value: v}}, Signals: phone})
		require.NoError(t, err)
	}
	// Matching runs in the background: wait for its pass.
	require.Eventually(t, func() bool {
		code, out, _ := run("profile", "matches", "list")
		return code == 0 && regexp.MustCompile(`matchCandidates/\d+ +pending`).MatchString(out)
	}, 10*time.Second, 20*time.Millisecond)
	code, out, stderr = run("profile", "matches", "list")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "device_fingerprint, ip_user_agent")
	name := regexp.MustCompile(`matchCandidates/\d+`).FindString(out)

	code, _, stderr = run("profile", "matches", "accept", name)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "reason")

	code, out, stderr = run("profile", "matches", "accept", name, "--reason", "same phone")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "accepted")
	require.Contains(t, out, "anonymous_id:a1, anonymous_id:a2")

	code, out, stderr = run("profile", "matches", "list", "--state", "accepted")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "same phone")
	code, out, stderr = run("profile", "merges", "anonymous_id:a1")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "probabilistic")

	code, _, stderr = run("profile", "matches", "reject", "999", "--reason", "no")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NotFound")
	code, _, stderr = run("profile", "matches", "list", "--state", "bogus")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "--state must be one of")
}
