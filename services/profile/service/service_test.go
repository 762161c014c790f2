package service_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/barista-cdp/barista/pkg/app"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcserver"
	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/profile/service"
)

// serve runs the service as app.Main would, on a loopback port, and returns
// a connection to it.
func serve(t *testing.T, env app.Env, spec app.Spec) *grpc.ClientConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env.Logger = slog.New(slog.DiscardHandler)
	svc, err := spec.New(ctx, env)
	require.NoError(t, err)
	srv := grpcserver.New(grpcserver.Options{Logger: env.Logger})
	svc.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, env.Logger, srv, lis, nil, nil, svc.Run) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func id(typ, value string) *typev1.Identifier { return &typev1.Identifier{Type: typ, Value: value} }

// identityJourney is the profile side of the README's story: a visitor
// browses anonymously, logs in with an identify call, then orders.
func identityJourney(t *testing.T, conn *grpc.ClientConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.Eventually(t, func() bool {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: profilev1.ProfileService_ServiceDesc.ServiceName})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}, 5*time.Second, 10*time.Millisecond)
	client := profilev1.NewProfileServiceClient(conn)

	viewed, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")}})
	require.NoError(t, err)
	require.True(t, viewed.GetCreated())
	name := viewed.GetProfile().GetName()

	traits, err := structpb.NewStruct(map[string]any{"name": "Ana", "city": "London"})
	require.NoError(t, err)
	identified, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("anonymous_id", "a1"), id("user_id", "42"), id("email", "Ana@Example.com")},
		Traits:      traits,
	})
	require.NoError(t, err)
	require.False(t, identified.GetCreated())
	require.Equal(t, name, identified.GetProfile().GetName())

	found, err := client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", "ana@example.com")})
	require.NoError(t, err)
	require.Equal(t, name, found.GetProfile().GetName())
	require.Len(t, found.GetProfile().GetIdentifiers(), 3)
	require.Equal(t, "London", found.GetProfile().GetTraits().GetFields()["city"].GetStringValue())

	ordered, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("user_id", "42")}})
	require.NoError(t, err)
	require.Equal(t, name, ordered.GetProfile().GetName())

	list, err := client.ListProfiles(ctx, &profilev1.ListProfilesRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetProfiles(), 1)
}

func TestInMemory(t *testing.T) {
	identityJourney(t, serve(t, app.Env{}, service.Spec))
}

func TestPostgres(t *testing.T) {
	ctx := context.Background()
	pool, err := pg.Connect(ctx, pgtest.NewDatabase(t), 4)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, pg.Migrate(ctx, pool, service.Spec.Name, service.Spec.Migrations))
	identityJourney(t, serve(t, app.Env{Pool: pool}, service.Spec))
}
