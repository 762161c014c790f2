// Package grpctest serves gRPC services in process for tests, behind the same
// interceptor chain as every Barista server, so that tests see the statuses
// and error details that real callers get.
package grpctest

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/grpcserver"
)

// Server is a Barista gRPC server on an in-memory listener.
type Server struct {
	*grpcserver.Server
	// Conn is a client connection to the server, usable before Start (it
	// connects on first use), so services under test can call peers that
	// are served by the same server.
	Conn *grpc.ClientConn

	t   testing.TB
	lis *bufconn.Listener
}

// New returns a server to register services on; call Start to serve. The
// server and Conn are closed at the end of the test.
func New(t testing.TB) *Server {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	conn, err := grpcclient.Dial("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatalf("grpctest: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Server{
		Server: grpcserver.New(grpcserver.Options{Logger: slog.New(slog.DiscardHandler)}),
		Conn:   conn,
		t:      t,
		lis:    lis,
	}
}

// Start marks the server SERVING and serves until the end of the test.
func (s *Server) Start() {
	s.SetServing()
	go func() { _ = s.Serve(s.lis) }()
	s.t.Cleanup(s.Stop)
}

// Serve runs the services that register adds and returns a connection to
// them.
func Serve(t testing.TB, register func(grpc.ServiceRegistrar)) *grpc.ClientConn {
	t.Helper()
	s := New(t)
	register(s)
	s.Start()
	return s.Conn
}
