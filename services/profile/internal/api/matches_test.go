package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/profile/internal/api"
	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

func startMatching(t *testing.T, th match.Thresholds) (profilev1.ProfileServiceClient, *match.Matcher) {
	t.Helper()
	graph := profile.NewGraph(memory.New(), profile.Options{})
	server := api.New(graph)
	m := match.New(graph, graph.MatchStore(), match.Options{Thresholds: th, Now: func() time.Time { return t0 }})
	server.SetMatcher(m)
	conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { profilev1.RegisterProfileServiceServer(r, server) })
	return profilev1.NewProfileServiceClient(conn), m
}

// TestMatchReviewQueue resolves profiles with signals, runs a matching
// pass, and works the review queue over gRPC.
func TestMatchReviewQueue(t *testing.T) {
	ctx := context.Background()
	client, m := startMatching(t, match.DefaultThresholds()) // automatic merges off
	phone := &profilev1.MatchSignals{Ip: "10.0.0.7", UserAgent: "Mobile Safari", DeviceFingerprint: "fp-1"}
	resolveWith := func(identifier *typev1.Identifier, sig *profilev1.MatchSignals, tr map[string]any) string {
		t.Helper()
		req := &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{identifier}, Signals: sig}
		if tr != nil {
			req.Traits = traits(t, tr)
		}
		resp, err := client.ResolveProfile(ctx, req)
		require.NoError(t, err)
		return resp.GetProfile().GetName()
	}
	a := resolveWith(id("anonymous_id", "a1"), phone, nil)
	b := resolveWith(id("anonymous_id", "a2"), phone, nil)
	c := resolveWith(id("email", "kim@example.com"), nil, map[string]any{"name": "Kim Ode", "postcode": "K1"})
	d := resolveWith(id("email", "kim@work.example"), nil, map[string]any{"name": "Kim Ode", "postcode": "K1"})

	stats, err := m.RunOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, stats.Merged, "automatic merges are off by default")

	resp, err := client.ListMatchCandidates(ctx, &profilev1.ListMatchCandidatesRequest{State: profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_PENDING, PageSize: 1})
	require.NoError(t, err)
	require.Len(t, resp.GetMatchCandidates(), 1)
	require.NotEmpty(t, resp.GetNextPageToken())
	first := resp.GetMatchCandidates()[0]
	require.ElementsMatch(t, []string{a, b}, first.GetProfiles())
	require.Equal(t, []string{"device_fingerprint", "ip_user_agent"}, first.GetAgreements())
	require.GreaterOrEqual(t, first.GetScore(), match.DefaultMergeThreshold)
	resp, err = client.ListMatchCandidates(ctx, &profilev1.ListMatchCandidatesRequest{State: profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_PENDING, PageToken: resp.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, resp.GetMatchCandidates(), 1)
	second := resp.GetMatchCandidates()[0]
	require.ElementsMatch(t, []string{c, d}, second.GetProfiles())
	require.Equal(t, []string{"email"}, second.GetConflicts())
	require.Empty(t, resp.GetNextPageToken())

	accepted, err := client.ReviewMatchCandidate(ctx, &profilev1.ReviewMatchCandidateRequest{Name: first.GetName(), Accept: true, Reason: "same phone"})
	require.NoError(t, err)
	require.Equal(t, profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_ACCEPTED, accepted.GetMatchCandidate().GetState())
	require.Equal(t, "probabilistic", accepted.GetMerge().GetRule())
	require.Equal(t, a, accepted.GetProfile().GetName())
	require.Len(t, accepted.GetProfile().GetIdentifiers(), 2)
	require.NotNil(t, accepted.GetMatchCandidate().GetReviewTime())

	rejected, err := client.ReviewMatchCandidate(ctx, &profilev1.ReviewMatchCandidateRequest{Name: second.GetName(), Reason: "two people"})
	require.NoError(t, err)
	require.Equal(t, profilev1.MatchCandidateState_MATCH_CANDIDATE_STATE_REJECTED, rejected.GetMatchCandidate().GetState())
	require.Nil(t, rejected.GetMerge())
	require.Nil(t, rejected.GetProfile())

	_, err = client.ReviewMatchCandidate(ctx, &profilev1.ReviewMatchCandidateRequest{Name: second.GetName(), Accept: true, Reason: "again"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), err)
	_, err = client.ReviewMatchCandidate(ctx, &profilev1.ReviewMatchCandidateRequest{Name: "matchCandidates/999", Reason: "x"})
	require.Equal(t, codes.NotFound, status.Code(err), err)

	all, err := client.ListMatchCandidates(ctx, &profilev1.ListMatchCandidatesRequest{})
	require.NoError(t, err)
	require.Len(t, all.GetMatchCandidates(), 2)
}

func TestMatchValidation(t *testing.T) {
	ctx := context.Background()
	client, _ := startMatching(t, match.DefaultThresholds())
	_, err := client.ReviewMatchCandidate(ctx, &profilev1.ReviewMatchCandidateRequest{Name: "matchCandidates/01"})
	require.Equal(t, map[string]string{
		"name":   `want matchCandidates/{candidate}, where {candidate} is a positive number; got "matchCandidates/01"`,
		"reason": "is required: the review is recorded with why",
	}, violations(t, err))
	_, err = client.ListMatchCandidates(ctx, &profilev1.ListMatchCandidatesRequest{State: 42, PageSize: -1})
	v := violations(t, err)
	require.Equal(t, "unknown state 42", v["state"])
	require.Contains(t, v, "page_size")
	_, err = client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("anonymous_id", "a")},
		Signals:     &profilev1.MatchSignals{UserAgent: strings.Repeat("x", api.MaxSignalLen+1)},
	})
	require.Equal(t, map[string]string{"signals.user_agent": "is 513 bytes long; the limit is 512"}, violations(t, err))

	off := start(t)
	_, err = off.ListMatchCandidates(ctx, &profilev1.ListMatchCandidatesRequest{})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), err)
}
