package app

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var spec = Spec{Name: "segment", GRPCAddr: "127.0.0.1:7073", Peers: []string{"event", "profile"}}

func TestParseFlagsWithEnvironmentFallback(t *testing.T) {
	t.Setenv("BARISTA_SEGMENT_EVENT_ADDR", "event:7070")
	t.Setenv("BARISTA_SEGMENT_LOG_LEVEL", "debug")
	t.Setenv("DATABASE_URL", "postgres://fallback")
	cfg, err := parse(spec, []string{"--profile-addr", "profile:7070", "--grpc-addr", ":9000", "--insecure-no-auth"})
	require.NoError(t, err)
	require.Equal(t, ":9000", cfg.GRPCAddr)
	require.Equal(t, "debug", cfg.LogLevel)
	require.Equal(t, "postgres://fallback", cfg.DatabaseURL)
	require.Equal(t, map[string]string{"event": "event:7070", "profile": "profile:7070"}, cfg.PeerAddrs)
	require.NoError(t, cfg.Validate())

	// A flag wins over the environment.
	cfg, err = parse(spec, []string{"--event-addr", "other:1"})
	require.NoError(t, err)
	require.Equal(t, "other:1", cfg.PeerAddrs["event"])
}

func TestValidateNamesEveryMissingPeer(t *testing.T) {
	cfg, err := parse(spec, nil)
	require.NoError(t, err)
	err = cfg.Validate()
	require.ErrorContains(t, err, "--event-addr must name the event service's gRPC address")
	require.ErrorContains(t, err, "--profile-addr must name the profile service's gRPC address")
}

func TestValidateRequiresCredentials(t *testing.T) {
	peers := []string{"--event-addr", "e:1", "--profile-addr", "p:1"}
	cfg, err := parse(spec, peers)
	require.NoError(t, err)
	require.ErrorContains(t, cfg.Validate(), "--auth-file is required")

	cfg, err = parse(spec, append(peers, "--auth-file", "auth.yaml", "--insecure-no-auth"))
	require.NoError(t, err)
	require.ErrorContains(t, cfg.Validate(), "contradict")

	cfg, err = parse(spec, append(peers, "--auth-file", "auth.yaml"))
	require.NoError(t, err)
	require.ErrorContains(t, cfg.Validate(), "--peer-token-file is required")

	t.Setenv("BARISTA_SEGMENT_PEER_TOKEN_FILE", "token")
	cfg, err = parse(spec, append(peers, "--auth-file", "auth.yaml"))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
}

func TestMigrateNeedsOnlyTheDatabase(t *testing.T) {
	err := run(t.Context(), spec, []string{"migrate"})
	require.ErrorContains(t, err, "migrate needs --database-url")
}

func TestServiceFlags(t *testing.T) {
	spec := Spec{Name: "event", Flags: map[string]string{"normalization": "rules file"}}
	cfg, err := parse(spec, []string{"--normalization", "rules.yaml"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"normalization": "rules.yaml"}, cfg.Flags)

	t.Setenv("BARISTA_EVENT_NORMALIZATION", "from-env.yaml")
	cfg, err = parse(spec, nil)
	require.NoError(t, err)
	require.Equal(t, "from-env.yaml", cfg.Flags["normalization"])
	require.Equal(t, "BARISTA_EVENT_NORMALIZATION", FlagEnv("event", "normalization"))
}
