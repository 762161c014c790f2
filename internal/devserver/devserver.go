// Package devserver runs the whole Barista suite in one process: the four
// services on one gRPC address and their HTTP APIs and metrics on one HTTP
// address. The services still call each other through gRPC clients dialed to
// that address, exactly as they do when deployed apart, so a trace of one
// event spans every service and nothing is shortcut in process.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/pkg/telemetry"
	eventservice "github.com/barista-cdp/barista/services/event/service"
	metricsservice "github.com/barista-cdp/barista/services/metrics/service"
	profileservice "github.com/barista-cdp/barista/services/profile/service"
	segmentservice "github.com/barista-cdp/barista/services/segment/service"
)

// Config configures the development server.
type Config struct {
	// GRPCAddr and HTTPAddr are the listen addresses; port 0 picks a free
	// port.
	GRPCAddr, HTTPAddr string
	// DatabaseURL selects Postgres; empty runs in memory. Migrations are
	// applied at start.
	DatabaseURL string
	// Flags sets the services' own flags (app.Spec.Flags), by service and
	// flag name; a flag not set here reads its environment variable, as the
	// service's own binary does.
	Flags map[string]map[string]string
	// Logger receives the process logs; slog.Default when nil.
	Logger *slog.Logger
	// Telemetry adjusts the OpenTelemetry setup (tests add an in-memory span
	// exporter).
	Telemetry telemetry.Options
}

// Specs returns the four services in the order they are built.
func Specs() []app.Spec { return specs }

// specs lists the services in the order they are built. Order matters only
// for readability: every dependency is a lazily connecting gRPC client.
var specs = []app.Spec{profileservice.Spec, eventservice.Spec, segmentservice.Spec, metricsservice.Spec}

// Server is a running development suite.
type Server struct {
	// GRPCAddr and HTTPAddr are the addresses actually listened on.
	GRPCAddr, HTTPAddr string
	// Durable reports whether data is kept in Postgres.
	Durable bool

	logger   *slog.Logger
	grpc     *grpcserver.Server
	grpcLis  net.Listener
	httpLis  net.Listener
	mux      *http.ServeMux
	services []app.Service
	closers  []func()
}

// New listens on the configured addresses, connects to Postgres when asked
// (applying migrations), and assembles the four services. Call Run to serve.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	s := &Server{logger: cfg.Logger, mux: http.NewServeMux()}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()

	tel, err := telemetry.Setup(ctx, "barista-dev", cfg.Telemetry)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = tel.Shutdown(context.Background()) })

	var pool *pgxpool.Pool
	if cfg.DatabaseURL != "" {
		if pool, err = pg.Connect(ctx, cfg.DatabaseURL, 0); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, pool.Close)
		for _, spec := range specs {
			if err := pg.Migrate(ctx, pool, spec.Name, spec.Migrations); err != nil {
				return nil, err
			}
		}
		s.Durable = true
	}

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("--grpc-addr %s: %w", cfg.GRPCAddr, err)
	}
	s.closers = append(s.closers, func() { s.grpcLis.Close() })
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("--http-addr %s: %w", cfg.HTTPAddr, err)
	}
	s.closers = append(s.closers, func() { s.httpLis.Close() })
	s.GRPCAddr, s.HTTPAddr = s.grpcLis.Addr().String(), s.httpLis.Addr().String()

	// One client connection, to this process's own gRPC address, serves every
	// service-to-service call.
	self, err := grpcclient.Dial(s.GRPCAddr)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { self.Close() })
	env := app.Env{Pool: pool, Logger: s.logger, Peers: map[string]*grpc.ClientConn{}}
	for _, spec := range specs {
		env.Peers[spec.Name] = self
	}

	s.grpc = grpcserver.New(grpcserver.Options{Logger: s.logger})
	s.mux.Handle("/metrics", tel.MetricsHandler())
	for _, spec := range specs {
		svc, err := spec.New(ctx, app.Env{Pool: env.Pool, Logger: s.logger.With("service", spec.Name), Peers: env.Peers, Flags: serviceFlags(spec, cfg.Flags[spec.Name])})
		if err != nil {
			return nil, fmt.Errorf("%s service: %w", spec.Name, err)
		}
		svc.Register(s.grpc)
		if h, ok := svc.(app.HTTPService); ok {
			s.mux.Handle("/", h.HTTPHandler())
		}
		s.services = append(s.services, svc)
	}
	return s, nil
}

// serviceFlags returns the values of spec's own flags: from set, else from
// their environment variables.
func serviceFlags(spec app.Spec, set map[string]string) map[string]string {
	flags := make(map[string]string, len(spec.Flags))
	for name := range spec.Flags {
		if v, ok := set[name]; ok {
			flags[name] = v
		} else {
			flags[name] = os.Getenv(app.FlagEnv(spec.Name, name))
		}
	}
	return flags
}

// Run serves until ctx ends, then shuts down and releases everything.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	background := make([]func(context.Context) error, len(s.services))
	for i, svc := range s.services {
		background[i] = svc.Run
	}
	err := app.Serve(ctx, s.logger, s.grpc, s.grpcLis, s.httpLis, s.mux, background...)
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

func (s *Server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}
