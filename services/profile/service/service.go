// Package service assembles the profile service: the identity graph on the
// Postgres or in-memory store, served as barista.profile.v1.ProfileService.
package service

import (
	"context"

	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/internal/api"
	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/postgres"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/migrations"
)

// Spec describes the profile service to app.Main and the dev server. It
// calls no other service.
var Spec = app.Spec{
	Name:       "profile",
	GRPCAddr:   "127.0.0.1:7072",
	Migrations: migrations.FS,
	New:        New,
}

// New builds the profile service on env.Pool, or in memory when it is nil.
func New(_ context.Context, env app.Env) (app.Service, error) {
	var store profile.Store
	if env.Pool != nil {
		store = postgres.New(env.Pool)
	} else {
		store = memory.New()
	}
	graph := profile.NewGraph(store, profile.Options{Logger: env.Logger})
	return &service{api: api.New(graph)}, nil
}

type service struct {
	api *api.Server
}

// Register adds ProfileService to s.
func (s *service) Register(r grpc.ServiceRegistrar) {
	profilev1.RegisterProfileServiceServer(r, s.api)
}

// Run returns when ctx ends: the profile service has no background work.
func (s *service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
