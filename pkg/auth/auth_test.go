package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/barista-cdp/barista/pkg/auth"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpcserver"
)

func TestRequiredScope(t *testing.T) {
	for method, want := range map[string]string{
		"/barista.event.v1.EventService/IngestEvents":               "events:write",
		"/barista.event.v1.EventService/StreamEvents":               "events:read",
		"/barista.profile.v1.ProfileService/LookupProfile":          "profiles:read",
		"/barista.profile.v1.ProfileService/MergeProfiles":          "profiles:write",
		"/barista.profile.v1.ProfileService/ListTraitChanges":       "profiles:read",
		"/barista.segment.v1.SegmentService/WatchMembershipChanges": "segments:read",
		"/barista.segment.v1.SegmentService/PreviewSegment":         "segments:read",
		"/barista.segment.v1.SegmentService/CreateSegment":          "segments:write",
		"/barista.metrics.v1.MetricsService/CheckHoldout":           "metrics:read",
		"/barista.metrics.v1.MetricsService/UpdateExperiment":       "metrics:write",
		"/other.v1.Thing/Get":                                       "admin",
	} {
		got, open := auth.RequiredScope(method)
		require.False(t, open, method)
		require.Equal(t, want, got, method)
	}
	_, open := auth.RequiredScope("/grpc.health.v1.Health/Check")
	require.True(t, open, "health checks are open for probes")
	scope, open := auth.RequiredScope("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
	require.False(t, open)
	require.Empty(t, scope, "reflection needs a credential but no scope")
}

func TestNewRejectsBadConfigs(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  auth.Config
		want string
	}{
		"empty":      {auth.Config{}, "nobody could call"},
		"no name":    {auth.Config{Keys: []auth.KeyConfig{{SHA256: auth.HashKey("k"), Scopes: []string{"admin"}}}}, "keys[0]: name is required"},
		"bad hash":   {auth.Config{Keys: []auth.KeyConfig{{Name: "a", SHA256: "abc", Scopes: []string{"admin"}}}}, "64 hex digits"},
		"bad scope":  {auth.Config{Keys: []auth.KeyConfig{{Name: "a", SHA256: auth.HashKey("k"), Scopes: []string{"events:delete"}}}}, `unknown scope "events:delete"`},
		"no scopes":  {auth.Config{Keys: []auth.KeyConfig{{Name: "a", SHA256: auth.HashKey("k")}}}, "at least one"},
		"twice":      {auth.Config{Keys: []auth.KeyConfig{{Name: "a", SHA256: auth.HashKey("k"), Scopes: []string{"pii"}}, {Name: "a", SHA256: auth.HashKey("j"), Scopes: []string{"pii"}}}}, "used twice"},
		"jwt no key": {auth.Config{JWT: &auth.JWTConfig{Issuer: "i", Audience: "a"}}, "set jwks_file or hs256_secret_env"},
		"jwt short":  {auth.Config{JWT: &auth.JWTConfig{Issuer: "i", Audience: "a", HS256SecretEnv: "BARISTA_TEST_NO_SUCH_SECRET"}}, "at least 32 bytes"},
	} {
		_, err := auth.New(tc.cfg)
		require.ErrorContains(t, err, tc.want, name)
	}
}

func TestLoadReadsYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.yaml")
	require.NoError(t, os.WriteFile(path, []byte("keys:\n  - name: shop\n    sha256: "+auth.HashKey("secret")+"\n    scopes: [events:write]\n"), 0o600))
	a, err := auth.Load(path)
	require.NoError(t, err)
	p, _, err := a.Authenticate("secret")
	require.NoError(t, err)
	require.Equal(t, "shop", p.Name)
	require.True(t, p.Has("events:write"))
	require.False(t, p.Has("events:read"))

	require.NoError(t, os.WriteFile(path, []byte("keys: []\nunknown: 1\n"), 0o600))
	_, err = auth.Load(path)
	require.ErrorContains(t, err, "unknown", "a misspelt field is an error, not ignored")
}

// fakeProfiles answers with personal data, to see what callers get.
type fakeProfiles struct {
	profilev1.UnimplementedProfileServiceServer
}

func (fakeProfiles) GetProfile(context.Context, *profilev1.GetProfileRequest) (*profilev1.GetProfileResponse, error) {
	traits, _ := structpb.NewStruct(map[string]any{"name": "Ana", "city": "Lisbon"})
	return &profilev1.GetProfileResponse{Profile: &profilev1.Profile{
		Name:        "profiles/p1",
		Identifiers: []*typev1.Identifier{{Type: "email", Value: "ana@example.com"}},
		Traits:      traits,
	}}, nil
}

func (fakeProfiles) ListTraitChanges(context.Context, *profilev1.ListTraitChangesRequest) (*profilev1.ListTraitChangesResponse, error) {
	return &profilev1.ListTraitChangesResponse{TraitChanges: []*profilev1.TraitChange{
		{Profile: "profiles/p1", Key: "email", Value: structpb.NewStringValue("ana@example.com"), Operation: "set", SourceEvent: "m1"},
	}}, nil
}

func (fakeProfiles) MergeProfiles(context.Context, *profilev1.MergeProfilesRequest) (*profilev1.MergeProfilesResponse, error) {
	return &profilev1.MergeProfilesResponse{}, nil
}

func serve(t *testing.T, a *auth.Authenticator) *grpc.ClientConn {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{
		Unary:  []grpc.UnaryServerInterceptor{a.UnaryInterceptor()},
		Stream: []grpc.StreamServerInterceptor{a.StreamInterceptor()},
	})
	profilev1.RegisterProfileServiceServer(srv, fakeProfiles{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.SetServing()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func call(conn *grpc.ClientConn, token string) (*profilev1.Profile, error) {
	var opts []grpc.CallOption
	if token != "" {
		opts = append(opts, grpc.PerRPCCredentials(auth.Token(token)))
	}
	resp, err := profilev1.NewProfileServiceClient(conn).GetProfile(context.Background(), &profilev1.GetProfileRequest{Name: "profiles/p1"}, opts...)
	return resp.GetProfile(), err
}

func TestInterceptorEnforcesKeysScopesAndPII(t *testing.T) {
	a, err := auth.New(auth.Config{Keys: []auth.KeyConfig{
		{Name: "analyst", SHA256: auth.HashKey("analyst-key"), Scopes: []string{"profiles:read"}},
		{Name: "privacy", SHA256: auth.HashKey("privacy-key"), Scopes: []string{"profiles:read", "pii"}},
		{Name: "ingest", SHA256: auth.HashKey("ingest-key"), Scopes: []string{"events:write"}},
	}})
	require.NoError(t, err)
	conn := serve(t, a)

	health, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "probes need no credential")
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, health.GetStatus())

	_, err = call(conn, "")
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "missing credentials")

	_, err = call(conn, "wrong-key")
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	_, err = call(conn, "ingest-key")
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), `needs scope "profiles:read", which ingest does not have`)

	p, err := call(conn, "analyst-key")
	require.NoError(t, err)
	require.Equal(t, "profiles/p1", p.GetName())
	require.Equal(t, "email", p.GetIdentifiers()[0].GetType())
	require.Equal(t, auth.Redacted, p.GetIdentifiers()[0].GetValue(), "no pii scope: identifier values are hidden")
	require.Empty(t, p.GetTraits().GetFields(), "no pii scope: traits are hidden")

	p, err = call(conn, "privacy-key")
	require.NoError(t, err)
	require.Equal(t, "ana@example.com", p.GetIdentifiers()[0].GetValue())
	require.Equal(t, "Ana", p.GetTraits().GetFields()["name"].GetStringValue())

	_, err = profilev1.NewProfileServiceClient(conn).MergeProfiles(context.Background(), &profilev1.MergeProfilesRequest{}, grpc.PerRPCCredentials(auth.Token("analyst-key")))
	require.Equal(t, codes.PermissionDenied, status.Code(err), "read scope does not allow writes")
}

func TestRateLimitPerKey(t *testing.T) {
	a, err := auth.New(auth.Config{Keys: []auth.KeyConfig{
		{Name: "slow", SHA256: auth.HashKey("slow-key"), Scopes: []string{"admin"}, Rate: 0.001, Burst: 3},
		{Name: "other", SHA256: auth.HashKey("other-key"), Scopes: []string{"admin"}, Rate: 0.001, Burst: 3},
	}})
	require.NoError(t, err)
	conn := serve(t, a)
	for range 3 {
		_, err := call(conn, "slow-key")
		require.NoError(t, err)
	}
	_, err = call(conn, "slow-key")
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "rate limit of slow exceeded")
	_, err = call(conn, "other-key")
	require.NoError(t, err, "each key has its own budget")
}

func TestJWTWithKeySet(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	signing, err := jwk.Import(priv)
	require.NoError(t, err)
	require.NoError(t, signing.Set(jwk.KeyIDKey, "k1"))
	public, err := signing.PublicKey()
	require.NoError(t, err)
	set := jwk.NewSet()
	require.NoError(t, set.AddKey(public))
	data, err := json.Marshal(set)
	require.NoError(t, err)
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(jwks, data, 0o600))

	a, err := auth.New(auth.Config{JWT: &auth.JWTConfig{Issuer: "https://id.example.com", Audience: "barista", JWKSFile: jwks}})
	require.NoError(t, err)
	conn := serve(t, a)

	sign := func(mod func(b *jwt.Builder) *jwt.Builder) string {
		b := jwt.NewBuilder().Issuer("https://id.example.com").Audience([]string{"barista"}).Subject("crm").
			Expiration(time.Now().Add(time.Hour)).Claim("scope", "profiles:read pii")
		tok, err := mod(b).Build()
		require.NoError(t, err)
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), signing))
		require.NoError(t, err)
		return string(signed)
	}
	same := func(b *jwt.Builder) *jwt.Builder { return b }

	p, err := call(conn, sign(same))
	require.NoError(t, err)
	require.Equal(t, "ana@example.com", p.GetIdentifiers()[0].GetValue())

	_, err = call(conn, sign(func(b *jwt.Builder) *jwt.Builder { return b.Audience([]string{"someone-else"}) }))
	require.Equal(t, codes.Unauthenticated, status.Code(err), "wrong audience")
	_, err = call(conn, sign(func(b *jwt.Builder) *jwt.Builder { return b.Expiration(time.Now().Add(-time.Hour)) }))
	require.Equal(t, codes.Unauthenticated, status.Code(err), "expired")
	_, err = call(conn, sign(func(b *jwt.Builder) *jwt.Builder { return b.Claim("scope", "events:write") }))
	require.Equal(t, codes.PermissionDenied, status.Code(err), "scopes come from the token")

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	forged, err := jwt.Sign(jwt.New(), jwt.WithKey(jwa.RS256(), other))
	require.NoError(t, err)
	_, err = call(conn, string(forged))
	require.Equal(t, codes.Unauthenticated, status.Code(err), "a token signed by another key")
}

func TestJWTWithSharedSecret(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	t.Setenv("BARISTA_TEST_JWT_SECRET", secret)
	a, err := auth.New(auth.Config{JWT: &auth.JWTConfig{Issuer: "shop", Audience: "barista", HS256SecretEnv: "BARISTA_TEST_JWT_SECRET"}})
	require.NoError(t, err)
	tok, err := jwt.NewBuilder().Issuer("shop").Audience([]string{"barista"}).Subject("s").Expiration(time.Now().Add(time.Minute)).
		Claim("scp", []string{"profiles:read"}).Build()
	require.NoError(t, err)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), []byte(secret)))
	require.NoError(t, err)
	p, _, err := a.Authenticate(string(signed))
	require.NoError(t, err)
	require.Equal(t, "jwt:s", p.Name)
	require.True(t, p.Has("profiles:read"))
	require.False(t, p.Has("pii"))
}

func TestCheckWriteKey(t *testing.T) {
	a, err := auth.New(auth.Config{Keys: []auth.KeyConfig{
		{Name: "web", SHA256: auth.HashKey("wk"), Scopes: []string{"events:write"}},
		{Name: "ro", SHA256: auth.HashKey("ro"), Scopes: []string{"events:read"}},
	}})
	require.NoError(t, err)
	require.NoError(t, a.CheckWriteKey("wk"))
	require.ErrorContains(t, a.CheckWriteKey("ro"), `lacks scope "events:write"`)
	require.ErrorContains(t, a.CheckWriteKey("nope"), "not valid")
}

func TestRedactLeavesBehaviour(t *testing.T) {
	traits, _ := structpb.NewStruct(map[string]any{"email": "ana@example.com"})
	resp := &profilev1.ListProfilesResponse{Profiles: []*profilev1.Profile{{
		Name:              "profiles/p1",
		Identifiers:       []*typev1.Identifier{{Type: "user_id", Value: "42"}},
		SharedIdentifiers: []*typev1.Identifier{{Type: "device_id", Value: "d1"}},
		Traits:            traits,
	}}}
	auth.Redact(resp)
	p := resp.GetProfiles()[0]
	require.Equal(t, "profiles/p1", p.GetName())
	require.Equal(t, auth.Redacted, p.GetIdentifiers()[0].GetValue())
	require.Equal(t, auth.Redacted, p.GetSharedIdentifiers()[0].GetValue())
	require.Empty(t, p.GetTraits().GetFields())
}

func TestTraitHistoryNeedsReadScopeAndPII(t *testing.T) {
	a, err := auth.New(auth.Config{Keys: []auth.KeyConfig{
		{Name: "analyst", SHA256: auth.HashKey("analyst-key"), Scopes: []string{"profiles:read"}},
		{Name: "privacy", SHA256: auth.HashKey("privacy-key"), Scopes: []string{"profiles:read", "pii"}},
		{Name: "ingest", SHA256: auth.HashKey("ingest-key"), Scopes: []string{"events:write"}},
	}})
	require.NoError(t, err)
	conn := serve(t, a)
	list := func(key string) (*profilev1.TraitChange, error) {
		resp, err := profilev1.NewProfileServiceClient(conn).ListTraitChanges(context.Background(),
			&profilev1.ListTraitChangesRequest{Profile: "profiles/p1"}, grpc.PerRPCCredentials(auth.Token(key)))
		if err != nil {
			return nil, err
		}
		require.Len(t, resp.GetTraitChanges(), 1)
		return resp.GetTraitChanges()[0], nil
	}
	_, err = list("ingest-key")
	require.Equal(t, codes.PermissionDenied, status.Code(err))

	c, err := list("analyst-key")
	require.NoError(t, err)
	require.Nil(t, c.GetValue(), "no pii scope: trait values are hidden")
	require.Equal(t, []string{"profiles/p1", "email", "set", "m1"}, []string{c.GetProfile(), c.GetKey(), c.GetOperation(), c.GetSourceEvent()})

	c, err = list("privacy-key")
	require.NoError(t, err)
	require.Equal(t, "ana@example.com", c.GetValue().GetStringValue())
}
