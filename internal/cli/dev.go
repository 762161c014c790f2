package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/barista-cdp/barista/internal/devserver"
	baristaapp "github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/pkg/telemetry"
)

func (a *app) devCommand() *cobra.Command {
	cfg := devserver.Config{}
	var logFormat, logLevel string
	// The services' own flags, such as --normalization (event) and --rules
	// (profile), by service and flag name.
	own := map[string]map[string]*string{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole suite in one process for development",
		Long: `Run the event, profile, segment and metrics services in one process.

Every gRPC service is served on --grpc-addr and the HTTP APIs and Prometheus
metrics on --http-addr. Without --database-url everything is kept in memory and
lost when the process stops; with it, Postgres is used and migrated at start.
The dev server has no authentication: do not expose it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = telemetry.NewLogger(a.errOut, logFormat, logLevel)
			cfg.Flags = map[string]map[string]string{}
			for service, flags := range own {
				cfg.Flags[service] = map[string]string{}
				for name, v := range flags {
					if cmd.Flags().Changed(name) {
						cfg.Flags[service][name] = *v
					}
				}
			}
			srv, err := devserver.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			banner(a.out, srv)
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:7070", "gRPC address serving every service")
	f.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:7080", "HTTP address (HTTP APIs and /metrics)")
	f.StringVar(&cfg.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "Postgres URL (env DATABASE_URL); empty keeps everything in memory")
	for _, spec := range devserver.Specs() {
		for name, usage := range spec.Flags {
			if own[spec.Name] == nil {
				own[spec.Name] = map[string]*string{}
			}
			own[spec.Name][name] = f.String(name, "", spec.Name+" service: "+usage+" (env "+baristaapp.FlagEnv(spec.Name, name)+")")
		}
	}
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func banner(w io.Writer, srv *devserver.Server) {
	storage := "IN MEMORY - not durable: all data is lost when this process stops"
	if srv.Durable {
		storage = "Postgres (durable)"
	}
	fmt.Fprintf(w, `Barista dev server
  gRPC:     %s  (event, profile, segment, metrics, health, reflection)
  HTTP:     http://%s  (Segment Tracking API /v1/*, Prometheus /metrics)
  storage:  %s
  WARNING:  UNAUTHENTICATED - every API is open to anyone who can reach these addresses

Try:  barista --addr %s segment list
`, srv.GRPCAddr, srv.HTTPAddr, storage, srv.GRPCAddr)
}
