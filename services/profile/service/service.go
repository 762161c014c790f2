// Package service assembles the profile service: the identity graph on the
// Postgres or in-memory store, served as barista.profile.v1.ProfileService.
package service

import (
	"context"

	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/internal/api"
	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/postgres"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/migrations"
)

// RulesFlag names the flag (--rules, or the environment variable
// BARISTA_PROFILE_RULES) holding the path of the merge rules file, YAML or
// JSON; empty applies the built-in defaults.
const RulesFlag = "rules"

// Spec describes the profile service to app.Main and the dev server. It
// calls no other service.
var Spec = app.Spec{
	Name:     "profile",
	GRPCAddr: "127.0.0.1:7072",
	Flags: map[string]string{
		RulesFlag:          "merge rules file, YAML or JSON; empty applies the built-in defaults",
		SuppressionKeyFlag: "secret keying the hashes of erased identifiers, at least 32 bytes; empty uses a random secret kept in the database",
	},
	Migrations: migrations.FS,
	New: func(ctx context.Context, env app.Env) (app.Service, error) {
		policy, err := profile.LoadRules(env.Flags[RulesFlag])
		if err != nil {
			return nil, err
		}
		if _, err := matchOptions(env.Flags); err != nil {
			return nil, err
		}
		if err := checkSuppressionKey(env.Flags[SuppressionKeyFlag]); err != nil {
			return nil, err
		}
		return New(ctx, env, policy), nil
	},
}

// New builds the profile service on env.Pool, or in memory when it is nil,
// with the merge rules of policy.
func New(_ context.Context, env app.Env, policy *profile.Policy) app.Service {
	var store profile.Store
	if env.Pool != nil {
		store = postgres.New(env.Pool)
	} else {
		store = memory.New()
	}
	graph := profile.NewGraph(store, profile.Options{Logger: env.Logger, Policy: policy, SuppressionKey: suppressionKey(env)})
	server := api.New(graph)
	return &service{api: server, matcher: newMatcher(env, graph, server)}
}

type service struct {
	api     *api.Server
	matcher *match.Matcher // nil when matching is off
}

// Register adds ProfileService to s.
func (s *service) Register(r grpc.ServiceRegistrar) {
	profilev1.RegisterProfileServiceServer(r, s.api)
}

// Run runs probabilistic matching, when on, until ctx ends.
func (s *service) Run(ctx context.Context) error {
	if s.matcher != nil {
		return s.matcher.Run(ctx)
	}
	<-ctx.Done()
	return nil
}
