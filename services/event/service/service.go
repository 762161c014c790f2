// Package service assembles the event service from its dependencies, for its
// own binary and for the single-process dev server.
package service

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/event/internal/api"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/identity"
	"github.com/barista-cdp/barista/services/event/internal/memory"
	"github.com/barista-cdp/barista/services/event/internal/postgres"
	"github.com/barista-cdp/barista/services/event/migrations"
)

// Spec describes the event service to app.Main and the dev server.
var Spec = app.Spec{
	Name:       "event",
	GRPCAddr:   "127.0.0.1:7071",
	Peers:      []string{"profile"},
	Migrations: migrations.FS,
	New:        New,
}

// New builds the event service: the Postgres store when env has a pool, the
// in-memory store otherwise, and the profile service as resolver.
func New(_ context.Context, env app.Env) (app.Service, error) {
	conn := env.Peers["profile"]
	if conn == nil {
		return nil, errors.New("the event service needs the profile service: set --profile-addr")
	}
	var store event.Store
	if env.Pool != nil {
		store = postgres.New(env.Pool)
	} else {
		store = memory.New()
	}
	log := event.NewLog(store, identity.New(profilev1.NewProfileServiceClient(conn)), env.Logger)
	return &service{api: api.NewServer(log, api.Options{})}, nil
}

type service struct {
	api *api.Server
}

func (s *service) Register(r grpc.ServiceRegistrar) {
	eventv1.RegisterEventServiceServer(r, s.api)
}

// Run has no background work: the log is served on request.
func (s *service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
