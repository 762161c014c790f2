// Package app runs one Barista service as its own process: configuration from
// flags with environment fallback, telemetry, the Postgres pool and
// migrations, clients for peer services, the gRPC server and its lifecycle.
//
// Every service binary is a few lines: it calls Main with a Spec. The
// `barista dev` command assembles the same services in one process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/auth"
	"github.com/barista-cdp/barista/pkg/grpcclient"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/pkg/telemetry"
)

// Service is one Barista service assembled with its dependencies.
type Service interface {
	// Register adds the service's gRPC APIs to s.
	Register(s grpc.ServiceRegistrar)
	// Run does the service's background work (consuming feeds, timers)
	// until ctx ends, and returns nil then.
	Run(ctx context.Context) error
}

// HTTPService is a Service that also serves HTTP, such as the event
// service's Segment-compatible API.
type HTTPService interface {
	Service
	HTTPHandler() http.Handler
}

// Env is what a service is built from.
type Env struct {
	// Pool is the Postgres pool; nil selects the in-memory store.
	Pool *pgxpool.Pool
	// Logger is the process logger.
	Logger *slog.Logger
	// Peers holds one client connection per peer service, by name.
	Peers map[string]*grpc.ClientConn
	// Flags holds the values of the service's own flags (Spec.Flags), by
	// name; empty when not set.
	Flags map[string]string
	// Auth checks credentials; nil when the service runs open (dev mode or
	// --insecure-no-auth). Services with HTTP APIs use it for their keys.
	Auth *auth.Authenticator
}

// Spec describes a service to Main.
type Spec struct {
	// Name of the service: "event", "profile", "segment" or "metrics". It is
	// also the Postgres schema and the environment prefix
	// BARISTA_<NAME>_...
	Name string
	// GRPCAddr and HTTPAddr are the default listen addresses.
	GRPCAddr, HTTPAddr string
	// Peers names the services this one calls; each gets an --<peer>-addr
	// flag.
	Peers []string
	// Flags names the service's own string flags, with their usage. Each
	// also reads its environment variable (FlagEnv), and their values reach
	// New in Env.Flags.
	Flags map[string]string
	// Migrations are the service's goose migrations.
	Migrations fs.FS
	// New builds the service.
	New func(ctx context.Context, env Env) (Service, error)
}

// Config is a service process's configuration.
type Config struct {
	GRPCAddr    string
	HTTPAddr    string
	DatabaseURL string
	Migrate     bool
	LogFormat   string
	LogLevel    string
	PeerAddrs   map[string]string
	// Flags holds the values of Spec.Flags.
	Flags map[string]string
	// AuthFile is the credentials file (see package auth); required unless
	// NoAuth.
	AuthFile string
	// NoAuth runs the APIs open, for local testing only.
	NoAuth bool
	// PeerTokenFile holds the bearer token the service sends to its peers.
	PeerTokenFile string
}

// Validate checks the configuration of a serving process before anything
// starts. (The migrate subcommand needs only the database URL.)
func (c *Config) Validate() error {
	var errs []error
	if c.GRPCAddr == "" {
		errs = append(errs, errors.New("--grpc-addr must not be empty"))
	}
	for peer, addr := range c.PeerAddrs {
		if addr == "" {
			errs = append(errs, fmt.Errorf("--%s-addr must name the %s service's gRPC address", peer, peer))
		}
	}
	switch {
	case c.AuthFile == "" && !c.NoAuth:
		errs = append(errs, errors.New("--auth-file is required: every API needs credentials in production (--insecure-no-auth runs it open, for local testing only)"))
	case c.AuthFile != "" && c.NoAuth:
		errs = append(errs, errors.New("--auth-file and --insecure-no-auth contradict each other: set one"))
	}
	if len(c.PeerAddrs) > 0 && c.AuthFile != "" && c.PeerTokenFile == "" {
		errs = append(errs, errors.New("--peer-token-file is required with --auth-file: the service must authenticate to its peers"))
	}
	return errors.Join(errs...)
}

// FlagEnv returns the environment variable that backs a service's flag:
// BARISTA_<SERVICE>_<FLAG>, upper case, dashes as underscores.
func FlagEnv(service, flagName string) string {
	return "BARISTA_" + strings.ToUpper(service+"_"+strings.ReplaceAll(flagName, "-", "_"))
}

// Main runs the service described by spec with the process's arguments:
// `<name> [flags]` serves, `<name> migrate [flags]` applies migrations and
// exits. It exits the process on error.
func Main(spec Spec) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, spec, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, spec Spec, args []string) error {
	migrateOnly := len(args) > 0 && args[0] == "migrate"
	if migrateOnly {
		args = args[1:]
	}
	cfg, err := parse(spec, args)
	if err != nil {
		return err
	}
	logger := telemetry.NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel).With("service", spec.Name)
	slog.SetDefault(logger)

	if migrateOnly {
		if cfg.DatabaseURL == "" {
			return errors.New("migrate needs --database-url")
		}
		pool, err := pg.Connect(ctx, cfg.DatabaseURL, 2)
		if err != nil {
			return err
		}
		defer pool.Close()
		if err := pg.Migrate(ctx, pool, spec.Name, spec.Migrations); err != nil {
			return err
		}
		logger.Info("migrations applied", "schema", spec.Name)
		return nil
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	return serve(ctx, spec, cfg, logger)
}

func parse(spec Spec, args []string) (*Config, error) {
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	env := func(flagName string) string { return FlagEnv(spec.Name, flagName) }
	str := func(p *string, name, def, usage string) {
		if v, ok := os.LookupEnv(env(name)); ok {
			def = v
		}
		fs.StringVar(p, name, def, usage+" (env "+env(name)+")")
	}
	cfg := &Config{PeerAddrs: map[string]string{}, Flags: map[string]string{}}
	str(&cfg.GRPCAddr, "grpc-addr", spec.GRPCAddr, "gRPC listen address")
	str(&cfg.HTTPAddr, "http-addr", spec.HTTPAddr, "HTTP listen address for /metrics and HTTP APIs; empty disables")
	str(&cfg.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "Postgres URL; empty runs in memory (not durable)")
	str(&cfg.LogFormat, "log-format", "json", "log format: json or text")
	str(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&cfg.Migrate, "migrate", os.Getenv(env("migrate")) == "true", "apply migrations at start (env "+env("migrate")+")")
	str(&cfg.AuthFile, "auth-file", "", "credentials file: API keys and JWT settings (see the README's Security section)")
	str(&cfg.PeerTokenFile, "peer-token-file", "", "file holding the bearer token sent to peer services")
	fs.BoolVar(&cfg.NoAuth, "insecure-no-auth", os.Getenv(env("insecure-no-auth")) == "true", "serve every API without credentials, for local testing only (env "+env("insecure-no-auth")+")")
	peers := make([]string, len(spec.Peers))
	for i, p := range spec.Peers {
		str(&peers[i], p+"-addr", "", "gRPC address of the "+p+" service")
	}
	own := map[string]*string{}
	for name, usage := range spec.Flags {
		own[name] = new(string)
		str(own[name], name, "", usage)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for i, p := range spec.Peers {
		cfg.PeerAddrs[p] = peers[i]
	}
	for name, v := range own {
		cfg.Flags[name] = *v
	}
	return cfg, nil
}

func serve(ctx context.Context, spec Spec, cfg *Config, logger *slog.Logger) error {
	tel, err := telemetry.Setup(ctx, "barista-"+spec.Name, telemetry.Options{})
	if err != nil {
		return err
	}
	defer shutdownWith(tel.Shutdown, logger)

	env := Env{Logger: logger, Peers: map[string]*grpc.ClientConn{}, Flags: cfg.Flags}
	var srvOpts grpcserver.Options
	var peerOpts []grpc.DialOption
	if cfg.NoAuth {
		logger.Warn("--insecure-no-auth: every API is OPEN to anyone who can reach it; never run like this in production")
	} else {
		a, err := auth.Load(cfg.AuthFile)
		if err != nil {
			return err
		}
		env.Auth = a
		srvOpts.Unary = append(srvOpts.Unary, a.UnaryInterceptor())
		srvOpts.Stream = append(srvOpts.Stream, a.StreamInterceptor())
		if cfg.PeerTokenFile != "" {
			tok, err := os.ReadFile(cfg.PeerTokenFile)
			if err != nil {
				return fmt.Errorf("read peer token: %w", err)
			}
			if strings.TrimSpace(string(tok)) == "" {
				return fmt.Errorf("peer token file %s is empty", cfg.PeerTokenFile)
			}
			peerOpts = append(peerOpts, grpc.WithPerRPCCredentials(auth.Token(strings.TrimSpace(string(tok)))))
		}
	}
	if cfg.DatabaseURL == "" {
		logger.Warn("no --database-url: running IN MEMORY; data is lost when the process stops")
	} else {
		pool, err := pg.Connect(ctx, cfg.DatabaseURL, 0)
		if err != nil {
			return err
		}
		defer pool.Close()
		if cfg.Migrate {
			if err := pg.Migrate(ctx, pool, spec.Name, spec.Migrations); err != nil {
				return err
			}
		}
		env.Pool = pool
	}
	for peer, addr := range cfg.PeerAddrs {
		conn, err := grpcclient.Dial(addr, peerOpts...)
		if err != nil {
			return err
		}
		defer conn.Close()
		env.Peers[peer] = conn
	}
	svc, err := spec.New(ctx, env)
	if err != nil {
		return err
	}

	srvOpts.Logger = logger
	srv := grpcserver.New(srvOpts)
	svc.Register(srv)
	lis, err := grpcserver.Listen(cfg.GRPCAddr)
	if err != nil {
		return err
	}
	var httpLis net.Listener
	mux := http.NewServeMux()
	if cfg.HTTPAddr != "" {
		if httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
		mux.Handle("/metrics", tel.MetricsHandler())
		if h, ok := svc.(HTTPService); ok {
			mux.Handle("/", h.HTTPHandler())
		}
	}
	return Serve(ctx, logger, srv, lis, httpLis, mux, svc.Run)
}

// Serve runs the gRPC server on lis, an HTTP server on httpLis (when not
// nil) and the background work; marks the server SERVING; and when ctx ends
// or any of them fails, shuts down in reverse order: background work, HTTP,
// then gRPC (NOT_SERVING, graceful stop with a deadline, hard stop).
func Serve(ctx context.Context, logger *slog.Logger, srv *grpcserver.Server, lis net.Listener, httpLis net.Listener, handler http.Handler, background ...func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(lis) })
	var httpSrv *http.Server
	if httpLis != nil {
		httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := httpSrv.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	bgCtx, cancelBackground := context.WithCancel(gctx)
	defer cancelBackground()
	for _, f := range background {
		g.Go(func() error { return f(bgCtx) })
	}
	srv.SetServing()
	attrs := []any{"grpc_addr", lis.Addr().String()}
	if httpLis != nil {
		attrs = append(attrs, "http_addr", httpLis.Addr().String())
	}
	logger.Info("serving", attrs...)

	<-gctx.Done()
	cancelBackground()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grpcserver.ShutdownTimeout)
	defer cancel()
	if httpSrv != nil {
		if err := httpSrv.Shutdown(sctx); err != nil {
			logger.Warn("http shutdown", "error", err)
		}
	}
	srv.Shutdown(sctx)
	return g.Wait()
}

func shutdownWith(f func(context.Context) error, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		logger.Warn("shutdown", "error", err)
	}
}
