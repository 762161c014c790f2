// Package service assembles the event service from its dependencies, for its
// own binary and for the single-process dev server.
package service

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"

	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
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
	Name:       "event",
	GRPCAddr:   "127.0.0.1:7071",
	HTTPAddr:   "127.0.0.1:7081",
	Peers:      []string{"profile"},
	Migrations: migrations.FS,
	New:        New,
}

// NormalizationEnv names the environment variable holding the path of the
// normalization rules file (JSON or YAML); the event binary's
// --normalization flag sets it. Unset, the built-in rules apply.
const NormalizationEnv = "BARISTA_EVENT_NORMALIZATION"

// New builds the event service: the Postgres store when env has a pool, the
// in-memory store otherwise, and the profile service as resolver. It serves
// the gRPC API and, over HTTP, the Segment Tracking API.
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
	rules := normalize.Defaults()
	if path := os.Getenv(NormalizationEnv); path != "" {
		var err error
		if rules, err = normalize.Load(path); err != nil {
			return nil, err
		}
	}
	normalizer, err := normalize.New(rules)
	if err != nil {
		return nil, err
	}
	log := event.NewLog(store, identity.New(profilev1.NewProfileServiceClient(conn)), env.Logger, event.WithNormalizer(normalizer))
	server := api.NewServer(log, api.Options{Normalizer: normalizer})
	return &service{api: server, http: tracking.New(server, tracking.Options{Logger: env.Logger})}, nil
}

var _ app.HTTPService = (*service)(nil)

type service struct {
	api  *api.Server
	http http.Handler
}

// HTTPHandler serves the Segment Tracking API (/v1/track, /v1/batch, ...).
func (s *service) HTTPHandler() http.Handler { return s.http }

func (s *service) Register(r grpc.ServiceRegistrar) {
	eventv1.RegisterEventServiceServer(r, s.api)
}

// Run has no background work: the log is served on request.
func (s *service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// NormalizationFlag takes --normalization FILE (or --normalization=FILE,
// with one or two dashes) out of args, sets NormalizationEnv to FILE, and
// returns the other arguments for the flags every service shares.
func NormalizationFlag(args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "normalization" {
			out = append(out, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, errors.New("--normalization needs a file: --normalization rules.yaml")
			}
			i++
			value = args[i]
		}
		if err := os.Setenv(NormalizationEnv, value); err != nil {
			return nil, err
		}
	}
	return out, nil
}
