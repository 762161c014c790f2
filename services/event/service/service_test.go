package service_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/barista-cdp/barista/pkg/app"
	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/event/migrations"
	"github.com/barista-cdp/barista/services/event/service"
)

// oneProfilePerValue is a profile service giving each identifier value its
// own profile.
type oneProfilePerValue struct {
	profilev1.UnimplementedProfileServiceServer
}

func (oneProfilePerValue) ResolveProfile(_ context.Context, req *profilev1.ResolveProfileRequest) (*profilev1.ResolveProfileResponse, error) {
	return &profilev1.ResolveProfileResponse{Profile: &profilev1.Profile{Name: "profiles/" + req.GetIdentifiers()[0].GetValue()}}, nil
}

// serve runs the event service as app.Main would, on the given pool (nil:
// in memory), with a fake profile service on the same server.
func serve(t testing.TB, env app.Env) eventv1.EventServiceClient {
	t.Helper()
	client, _ := serveHTTP(t, env)
	return client
}

// serveHTTP is serve that also returns the service's HTTP handler.
func serveHTTP(t testing.TB, env app.Env) (eventv1.EventServiceClient, http.Handler) {
	t.Helper()
	srv := grpctest.New(t)
	env.Peers = map[string]*grpc.ClientConn{"profile": srv.Conn}

	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.Spec.New(ctx, env)
	require.NoError(t, err)
	svc.Register(srv)
	profilev1.RegisterProfileServiceServer(srv, oneProfilePerValue{})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	srv.Start()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return eventv1.NewEventServiceClient(srv.Conn), svc.(app.HTTPService).HTTPHandler()
}

func TestSpec(t *testing.T) {
	require.Equal(t, "event", service.Spec.Name)
	require.Equal(t, "127.0.0.1:7071", service.Spec.GRPCAddr)
	require.Equal(t, []string{"profile"}, service.Spec.Peers)
	_, err := service.Spec.New(context.Background(), app.Env{})
	require.ErrorContains(t, err, "--profile-addr")
}

// TestStreamDeliversConcurrentIngestsInOrder ingests from several clients at
// once while a consumer streams the log, on each store: the consumer gets
// every acknowledged event exactly once, in sequence order.
func TestStreamDeliversConcurrentIngestsInOrder(t *testing.T) {
	for name, env := range map[string]func(t *testing.T) app.Env{
		"memory":   func(t *testing.T) app.Env { return app.Env{} },
		"postgres": func(t *testing.T) app.Env { return app.Env{Pool: pgtest.NewPool(t, "event", migrations.FS)} },
	} {
		t.Run(name, func(t *testing.T) {
			client := serve(t, env(t))
			// The deadline turns a lost event into a failure instead of a hang.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stream, err := client.StreamEvents(ctx, &eventv1.StreamEventsRequest{MaxBatchSize: 7})
			require.NoError(t, err)

			const clients, batches, size = 3, 10, 5
			var wg sync.WaitGroup
			acked := make(chan string, clients*batches*size)
			errs := make(chan error, clients)
			for c := range clients {
				wg.Go(func() {
					for b := range batches {
						var events []*eventv1.Event
						for i := range size {
							events = append(events, &eventv1.Event{
								MessageId: fmt.Sprintf("c%d-b%d-%d", c, b, i), Event: "Product Viewed",
								Identifiers: []*typev1.Identifier{{Type: "user_id", Value: fmt.Sprint(c)}},
							})
						}
						resp, err := client.IngestEvents(ctx, &eventv1.IngestEventsRequest{Events: events})
						if err != nil {
							errs <- err
							return
						}
						for _, r := range resp.GetResults() {
							if r.GetStatus() != eventv1.IngestResult_STATUS_ACCEPTED {
								errs <- fmt.Errorf("%s: %s", r.GetMessageId(), r.GetStatus())
								return
							}
							acked <- r.GetMessageId()
						}
					}
				})
			}

			var last int64
			seen := map[string]bool{}
			for len(seen) < clients*batches*size {
				msg, err := stream.Recv()
				require.NoError(t, err)
				require.LessOrEqual(t, len(msg.GetEvents()), 7)
				for _, d := range msg.GetEvents() {
					require.Greater(t, d.GetEvent().GetSequence(), last, "log order")
					last = d.GetEvent().GetSequence()
					require.False(t, seen[d.GetEvent().GetMessageId()], "delivered once")
					seen[d.GetEvent().GetMessageId()] = true
				}
			}
			wg.Wait()
			close(errs)
			close(acked)
			for err := range errs {
				require.NoError(t, err)
			}
			for id := range acked {
				require.True(t, seen[id], "acknowledged event %s delivered", id)
			}
		})
	}
}

// TestServiceNormalizesWithTheRulesFileOnEveryAPI starts the service as the
// binary does with a rules file, sends a purchase in dollars over the
// Segment HTTP API, and finds it stored as an Order Completed in euros; the
// active rules are readable over gRPC.
func TestServiceNormalizesWithTheRulesFileOnEveryAPI(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte("store_currency: EUR\ncurrency_rates: {USD: 0.5}\ncategory_labels: {footwear: Shoes}\n"), 0o600))
	client, handler := serveHTTP(t, app.Env{Flags: map[string]string{service.NormalizationFlag: rules}})

	req := httptest.NewRequest(http.MethodPost, "/v1/track", strings.NewReader(
		`{"userId":"ana","event":"purchase","properties":{"revenue":40,"currency":"USD","category":"footwear"}}`))
	req.SetBasicAuth("key", "")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	list, err := client.ListProfileEvents(context.Background(), &eventv1.ListProfileEventsRequest{Profile: "profiles/ana"})
	require.NoError(t, err)
	require.Len(t, list.GetEvents(), 1)
	ev := list.GetEvents()[0]
	require.Equal(t, "Order Completed", ev.GetEvent())
	require.Equal(t, map[string]any{"revenue": 20.0, "currency": "EUR", "original_currency": "USD", "exchange_rate": 0.5, "category": "Shoes"}, ev.GetProperties().AsMap())

	got, err := client.GetNormalizationRules(context.Background(), &eventv1.GetNormalizationRulesRequest{})
	require.NoError(t, err)
	require.Equal(t, "EUR", got.GetRules().GetStoreCurrency())
	require.Equal(t, map[string]float64{"USD": 0.5}, got.GetRules().GetCurrencyRates())
	require.Equal(t, map[string]string{"footwear": "Shoes"}, got.GetRules().GetCategoryLabels())
	require.Equal(t, "Order Completed", got.GetRules().GetEventAliases()["purchase"])

	_, err = service.Spec.New(context.Background(), app.Env{
		Peers: map[string]*grpc.ClientConn{"profile": grpctest.New(t).Conn},
		Flags: map[string]string{service.NormalizationFlag: filepath.Join(t.TempDir(), "missing.yaml")},
	})
	require.ErrorIs(t, err, os.ErrNotExist, "a rules file that cannot be read stops the service")
}
