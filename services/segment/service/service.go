// Package service assembles the segment service: its store (Postgres or in
// memory), the evaluation engine, the gRPC API, and the consumer of the
// event service's stream.
package service

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	metricsv1 "github.com/barista-cdp/barista/pkg/gen/barista/metrics/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/segment/internal/api"
	"github.com/barista-cdp/barista/services/segment/internal/memory"
	"github.com/barista-cdp/barista/services/segment/internal/postgres"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
	"github.com/barista-cdp/barista/services/segment/migrations"
)

// Spec describes the segment service to app.Main and the dev server.
var Spec = app.Spec{
	Name:     "segment",
	GRPCAddr: "127.0.0.1:7073",
	Peers:    []string{"event", "profile", "metrics"},
	Flags: map[string]string{
		"scores-interval": "how often to refresh the RFM scores and store statistics (rfm.*, store.*) from the metrics service, a duration such as 15m (default 15m)",
	},
	Migrations: migrations.FS,
	New:        New,
}

// Service is the assembled segment service.
type Service struct {
	server     *api.Server
	consumer   func(context.Context) error
	scheduler  func(context.Context) error
	dispatcher func(context.Context) error
	scores     func(context.Context) error
}

// New builds the service from env: the in-memory store when env.Pool is
// nil, else Postgres; clients on the event and profile peers' connections,
// and on the metrics peer's for the refresh of the scores.
func New(_ context.Context, env app.Env) (app.Service, error) {
	eventConn, profileConn := env.Peers["event"], env.Peers["profile"]
	if eventConn == nil || profileConn == nil {
		return nil, errors.New("the segment service needs connections to the event and profile services")
	}
	var store segment.Store
	if env.Pool == nil {
		store = memory.New()
	} else {
		store = postgres.New(env.Pool)
	}
	interval, err := api.ParseScoresInterval(env.Flags["scores-interval"])
	if err != nil {
		return nil, err
	}
	engine := segment.NewEngine(store, segment.Options{Logger: env.Logger})
	consumer := api.Consumer(engine, eventv1.NewEventServiceClient(eventConn), env.Logger)
	// Without the metrics service (tests that serve only the API), rfm.*
	// and store.* stay 0.
	scores := func(context.Context) error { return nil }
	if conn := env.Peers["metrics"]; conn != nil {
		scores = api.NewRefresher(engine, metricsv1.NewMetricsServiceClient(conn), interval, env.Logger).Run
	}
	return &Service{
		server:     api.New(engine, profilev1.NewProfileServiceClient(profileConn)),
		consumer:   consumer.Run,
		scheduler:  engine.RunScheduler,
		dispatcher: segment.NewDispatcher(store, segment.DispatcherOptions{Logger: env.Logger}).Run,
		scores:     scores,
	}, nil
}

// Register adds the SegmentService to s.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	s.server.Register(r)
}

// Run consumes the event stream and runs the scheduler of time-driven
// evaluation, the webhook dispatcher and the refresh of the scores until
// ctx ends or one of them fails.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.consumer(ctx) })
	g.Go(func() error { return s.scheduler(ctx) })
	g.Go(func() error { return s.dispatcher(ctx) })
	g.Go(func() error { return s.scores(ctx) })
	return g.Wait()
}
