// Package service assembles the event service from its dependencies, for its
// own binary and for the single-process dev server.
package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/pkg/feed"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/event/internal/api"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/identity"
	"github.com/barista-cdp/barista/services/event/internal/memory"
	"github.com/barista-cdp/barista/services/event/internal/normalize"
	"github.com/barista-cdp/barista/services/event/internal/postgres"
	"github.com/barista-cdp/barista/services/event/internal/tracking"
	"github.com/barista-cdp/barista/services/event/migrations"
)

// Spec describes the event service to app.Main and the dev server.
var Spec = app.Spec{
	Name:     "event",
	GRPCAddr: "127.0.0.1:7071",
	HTTPAddr: "127.0.0.1:7081",
	Peers:    []string{"profile"},
	Flags: map[string]string{
		NormalizationFlag: "normalization rules file, JSON or YAML; empty applies the built-in rules",
		RetentionFlag:     "how long events are kept after they are received, such as 400d or 72h; 0 keeps them forever",
		RetentionModeFlag: "what happens to events older than --retention: delete, or anonymize (keep them for aggregates without what ties them to a person)",
		ResolveCacheFlag:  "how long the profile of a known visitor's identifiers is reused without asking the profile service, such as 1m (the default); 0 asks for every batch",
	},
	Migrations: migrations.FS,
	New:        New,
}

// NormalizationFlag names the flag (--normalization, or the environment
// variable BARISTA_EVENT_NORMALIZATION) holding the path of the normalization
// rules file.
const NormalizationFlag = "normalization"

// ResolveCacheFlag names the flag (--resolve-cache) holding how long a
// resolution is reused; see event.WithResolveCache.
const ResolveCacheFlag = "resolve-cache"

// resolveCache returns the Log option of the --resolve-cache flag.
func resolveCache(env app.Env) (event.Option, error) {
	ttl := event.DefaultResolveCacheTTL
	if v := env.Flags[ResolveCacheFlag]; v != "" {
		var err error
		if ttl, err = time.ParseDuration(v); err != nil || ttl < 0 {
			return nil, fmt.Errorf("--%s: want a duration such as 1m or 0, got %q", ResolveCacheFlag, v)
		}
	}
	return event.WithResolveCache(ttl, event.DefaultResolveCacheSize, nil), nil
}

// New builds the event service: the Postgres store when env has a pool, the
// in-memory store otherwise, and the profile service as resolver. It serves
// the gRPC API and, over HTTP, the Segment Tracking API.
func New(ctx context.Context, env app.Env) (app.Service, error) {
	conn := env.Peers["profile"]
	if conn == nil {
		return nil, errors.New("the event service needs the profile service: set --profile-addr")
	}
	var store event.Store
	if env.Pool != nil {
		pgStore := postgres.New(env.Pool)
		if err := pgStore.Prepare(ctx); err != nil {
			return nil, err
		}
		store = pgStore
	} else {
		store = memory.New()
	}
	rules := normalize.Defaults()
	if path := env.Flags[NormalizationFlag]; path != "" {
		var err error
		if rules, err = normalize.Load(path); err != nil {
			return nil, err
		}
	}
	normalizer, err := normalize.New(rules)
	if err != nil {
		return nil, err
	}
	retention, err := retentionJob(env, store)
	if err != nil {
		return nil, err
	}
	cache, err := resolveCache(env)
	if err != nil {
		return nil, err
	}
	profiles := profilev1.NewProfileServiceClient(conn)
	log := event.NewLog(store, identity.New(profiles), env.Logger, event.WithNormalizer(normalizer), cache)
	server := api.NewServer(log, api.Options{Normalizer: normalizer})
	return &service{api: server, http: tracking.New(server, trackingOptions(env)), profiles: profileConsumer(log, profiles, env.Logger), retention: retention}, nil
}

var _ app.HTTPService = (*service)(nil)

type service struct {
	api       *api.Server
	http      http.Handler
	profiles  feed.Consumer[*profilev1.StreamProfileChangesResponse]
	retention func(context.Context) error
}

// HTTPHandler serves the Segment Tracking API (/v1/track, /v1/batch, ...).
func (s *service) HTTPHandler() http.Handler { return s.http }

func (s *service) Register(r grpc.ServiceRegistrar) {
	eventv1.RegisterEventServiceServer(r, s.api)
}

// Run applies the profile change log to the event log, and the retention
// policy every hour, until ctx ends.
func (s *service) Run(ctx context.Context) error {
	return runAll(ctx, s.profiles.Run, s.retention)
}

// trackingOptions configures the Segment HTTP API: in production mode its
// write keys are API keys with the events:write scope.
func trackingOptions(env app.Env) tracking.Options {
	opts := tracking.Options{Logger: env.Logger}
	if env.Auth != nil {
		opts.CheckWriteKey = env.Auth.CheckWriteKey
	}
	return opts
}
