package grpcserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/grpcserver"
)

// failingHealth is a health service whose Check fails as configured, used as
// a stand-in handler to exercise the interceptor chain.
type failingHealth struct {
	healthpb.UnimplementedHealthServer
	fail func() error
}

func (h failingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, h.fail()
}

func start(t *testing.T, srv *grpcserver.Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	conn, err := grpcclient.Dial(lis.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestHealthStartsNotServing(t *testing.T) {
	srv := grpcserver.New(grpcserver.Options{})
	conn := start(t, srv)
	health := healthpb.NewHealthClient(conn)
	ctx := context.Background()

	resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, resp.GetStatus())

	srv.SetServing()
	resp, err = health.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())

	// Every registered service is reported too.
	resp, err = health.Check(ctx, &healthpb.HealthCheckRequest{Service: "grpc.reflection.v1.ServerReflection"})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
}

func TestReflectionListsServices(t *testing.T) {
	srv := grpcserver.New(grpcserver.Options{})
	conn := start(t, srv)
	stream, err := grpc_reflection_v1.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&grpc_reflection_v1.ServerReflectionRequest{
		MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{},
	}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	require.Contains(t, names, "grpc.health.v1.Health")
}

func TestInterceptorsMapErrorsAndRecoverPanics(t *testing.T) {
	tests := []struct {
		name string
		fail func() error
		code codes.Code
		msg  string
	}{
		{"domain error", func() error { return fmt.Errorf("profile p: %w", apierror.ErrNotFound) }, codes.NotFound, "profile p: not found"},
		{"invalid", func() error { return apierror.Invalid("identifier", "is required") }, codes.InvalidArgument, "identifier: is required"},
		{"internal cause hidden", func() error { return fmt.Errorf("dial tcp 10.0.0.3:5432: refused") }, codes.Internal, "internal error"},
		{"panic recovered", func() error { panic("boom") }, codes.Internal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Health stands in for any handler, served behind the same
			// interceptor chain that New installs.
			inner := grpc.NewServer(grpc.ChainUnaryInterceptor(unaryChain()...))
			healthpb.RegisterHealthServer(inner, failingHealth{fail: tt.fail})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			go func() { _ = inner.Serve(lis) }()
			t.Cleanup(inner.Stop)
			conn, err := grpcclient.Dial(lis.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close() })

			_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			st := status.Convert(err)
			require.Equal(t, tt.code, st.Code())
			require.Equal(t, tt.msg, st.Message())
		})
	}
}

func unaryChain() []grpc.UnaryServerInterceptor {
	unary, _ := grpcserver.Interceptors(slog.New(slog.DiscardHandler))
	return unary
}
