package cli_test

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	segmentservice "github.com/barista-cdp/barista/services/segment/service"
)

// startSegmentAPI serves an in-memory segment service's API on a loopback
// port, without its consumer and scheduler (its peers are unreachable), and
// returns its address.
func startSegmentAPI(t *testing.T) string {
	t.Helper()
	nowhere, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = nowhere.Close() })
	logger := slog.New(slog.DiscardHandler)
	svc, err := segmentservice.Spec.New(context.Background(), app.Env{Logger: logger,
		Peers: map[string]*grpc.ClientConn{"event": nowhere, "profile": nowhere}})
	require.NoError(t, err)
	srv := grpcserver.New(grpcserver.Options{Logger: logger})
	svc.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-done
	})
	return lis.Addr().String()
}

func TestSegmentTemplatesCommands(t *testing.T) {
	addr := startSegmentAPI(t)
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--addr", addr}, args...)...)
	}
	code, out, stderr := run("segment", "templates")
	require.Zero(t, code, stderr)
	require.Regexp(t, `cart-abandoners\s+browsing\s+-\s+sequence\(\["Product Viewed", "Product Added"\], "1h", "7d"\)`, out)
	require.Regexp(t, `vip\s+lifecycle\s+lifecycle #10\s+`, out)

	code, _, stderr = run("segment", "templates", "install")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "name the templates to install, or give --all")
	code, _, stderr = run("segment", "templates", "install", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no template "nope"; the templates are vip, loyal,`)

	code, out, stderr = run("segment", "templates", "install", "cart-abandoners")
	require.Zero(t, code, stderr)
	require.Regexp(t, `cart-abandoners\s+created`, out)
	code, out, stderr = run("segment", "templates", "install", "--all", "--author", "ana@example.com")
	require.Zero(t, code, stderr)
	require.Regexp(t, `cart-abandoners\s+exists, left as it is`, out)
	require.Regexp(t, `loyal-londoners\s+created`, out)

	code, out, stderr = run("segment", "get", "vip")
	require.Zero(t, code, stderr)
	require.Regexp(t, `GROUP\s+lifecycle \(priority 10\)`, out)
	require.Regexp(t, `AUTHOR\s+ana@example.com`, out)
	code, out, stderr = run("segment", "update", "vip", "--priority", "5", "--author", "ana", "--reason", "first")
	require.Zero(t, code, stderr)
	require.Regexp(t, `GROUP\s+lifecycle \(priority 5\)`, out)
}
