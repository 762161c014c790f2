// Package grpcserver builds the gRPC server every Barista service runs on:
// health checking that starts NOT_SERVING, server reflection, OpenTelemetry
// stats handlers, and one documented interceptor chain.
//
// Interceptor order, outermost first:
//
//  1. recovery: a panicking handler becomes Internal instead of killing the
//     process; the panic and stack go to the log.
//  2. logging: one record per call with method, code and duration (debug
//     level for successes, warn/error for failures).
//  3. status: domain errors returned by handlers become gRPC statuses through
//     apierror.ToStatus; unknown errors are logged with their cause and
//     recorded on the span, and reach callers only as "internal error".
//  4. extra interceptors from Options, innermost (authentication, limits).
//
// Tracing and RPC metrics come from the otelgrpc stats handler, not from
// interceptors, with health checks filtered out.
package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Options adjusts New.
type Options struct {
	// Logger receives call logs and internal errors; slog.Default when nil.
	Logger *slog.Logger
	// Unary and Stream are extra interceptors placed innermost.
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// ServerOptions are passed to grpc.NewServer after the ones set here.
	ServerOptions []grpc.ServerOption
}

// Server is a gRPC server with health checking and reflection registered.
type Server struct {
	*grpc.Server
	health *health.Server
	logger *slog.Logger
}

// New returns a server whose health service reports NOT_SERVING until
// SetServing is called.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	unary, stream := Interceptors(logger)
	unary = append(unary, opts.Unary...)
	stream = append(stream, opts.Stream...)

	serverOpts := append([]grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithFilter(filters.Not(filters.ServiceName(healthpb.Health_ServiceDesc.ServiceName))),
		)),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		// Calls run on a pool of goroutines, one per core, whose stacks
		// have grown to what the handlers need, instead of a new goroutine
		// each that grows its stack again, copying it, on every call (a
		// tenth of the CPU of a small call). A call that finds them all
		// busy gets a goroutine of its own as before.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}, opts.ServerOptions...)

	s := &Server{Server: grpc.NewServer(serverOpts...), health: health.NewServer(), logger: logger}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.Server, s.health)
	reflection.Register(s.Server)
	return s
}

// Interceptors returns the interceptor chain described in the package
// documentation, outermost first, without the extra interceptors of Options.
func Interceptors(logger *slog.Logger) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	recoveryOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in gRPC handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(grpccodes.Internal, "internal error")
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(levelFor),
	}
	unary := []grpc.UnaryServerInterceptor{
		recovery.UnaryServerInterceptor(recoveryOpt),
		logging.UnaryServerInterceptor(slogAdapter(logger), logOpts...),
		statusUnary(logger),
	}
	stream := []grpc.StreamServerInterceptor{
		recovery.StreamServerInterceptor(recoveryOpt),
		logging.StreamServerInterceptor(slogAdapter(logger), logOpts...),
		statusStream(logger),
	}
	return unary, stream
}

// SetServing marks the server and every registered service SERVING. Call it
// once the dependencies (database, migrations) are ready.
func (s *Server) SetServing() {
	s.setAll(healthpb.HealthCheckResponse_SERVING)
}

func (s *Server) setAll(st healthpb.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", st)
	for name := range s.GetServiceInfo() {
		s.health.SetServingStatus(name, st)
	}
}

// Serve accepts connections on lis until Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	return s.Server.Serve(lis)
}

// Shutdown reports NOT_SERVING, lets calls in flight finish until ctx ends,
// then stops the server hard.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.Stop()
		<-done
	}
}

func statusUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return resp, toStatus(ctx, logger, info.FullMethod, err)
		}
		return resp, nil
	}
}

func statusStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return toStatus(ss.Context(), logger, info.FullMethod, err)
		}
		return nil
	}
}

func toStatus(ctx context.Context, logger *slog.Logger, method string, err error) error {
	st, internal := apierror.ToStatus(err)
	if internal {
		logger.ErrorContext(ctx, "internal error", "method", method, "error", err)
		span := trace.SpanFromContext(ctx)
		span.RecordError(err)
		span.SetStatus(codes.Error, "internal error")
	}
	return st
}

func levelFor(code grpccodes.Code) logging.Level {
	switch code {
	case grpccodes.OK, grpccodes.Canceled, grpccodes.NotFound, grpccodes.AlreadyExists, grpccodes.InvalidArgument,
		grpccodes.FailedPrecondition, grpccodes.Unauthenticated, grpccodes.PermissionDenied:
		return logging.LevelDebug
	case grpccodes.ResourceExhausted, grpccodes.Unavailable, grpccodes.DeadlineExceeded:
		return logging.LevelWarn
	}
	return logging.LevelError
}

func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// Listen opens a TCP listener on addr and describes errors in terms of the
// flag that set it.
func Listen(addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return lis, nil
}

// ShutdownTimeout is how long Shutdown waits for calls in flight by default.
const ShutdownTimeout = 10 * time.Second
