// Package service assembles the metrics service: its store (Postgres or in
// memory), the tracker, the gRPC API, and the consumers of the segment
// service's membership changes and of the event service's log.
package service

import (
	"context"
	"errors"
	"log/slog"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	segmentv1 "github.com/barista-cdp/barista/pkg/gen/barista/segment/v1"
	"github.com/barista-cdp/barista/services/metrics/internal/api"
	"github.com/barista-cdp/barista/services/metrics/internal/memory"
	"github.com/barista-cdp/barista/services/metrics/internal/metrics"
	"github.com/barista-cdp/barista/services/metrics/internal/postgres"
	"github.com/barista-cdp/barista/services/metrics/migrations"
)

// Spec describes the metrics service to app.Main and the dev server.
var Spec = app.Spec{
	Name:       "metrics",
	GRPCAddr:   "127.0.0.1:7074",
	Peers:      []string{"segment", "event"},
	Migrations: migrations.FS,
	New:        New,
}

// Service is the assembled metrics service.
type Service struct {
	server    *api.Server
	consumers []func(context.Context) error
}

// New builds the service from env: the in-memory store when env.Pool is
// nil, else Postgres; one segment service client on the segment peer's
// connection, for the membership feed and existence checks, and one event
// service client on the event peer's, for the event log.
func New(_ context.Context, env app.Env) (app.Service, error) {
	conn := env.Peers["segment"]
	if conn == nil {
		return nil, errors.New("the metrics service needs the segment service: set --segment-addr")
	}
	eventConn := env.Peers["event"]
	if eventConn == nil {
		return nil, errors.New("the metrics service needs the event service: set --event-addr")
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var store metrics.Store
	if env.Pool == nil {
		store = memory.New()
	} else {
		store = postgres.New(env.Pool)
	}
	segments := segmentv1.NewSegmentServiceClient(conn)
	tracker := metrics.NewTracker(store, api.Segments(segments, logger))
	return &Service{
		server: api.New(tracker, nil),
		consumers: []func(context.Context) error{
			api.Consumer(tracker, segments, logger).Run,
			api.EventConsumer(tracker, eventv1.NewEventServiceClient(eventConn), logger).Run,
		},
	}, nil
}

// Register adds the MetricsService to r.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	s.server.Register(r)
}

// Run consumes the membership changes and the event log until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, consume := range s.consumers {
		g.Go(func() error { return consume(ctx) })
	}
	return g.Wait()
}
