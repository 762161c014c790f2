package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/services/profile/internal/api"
)

// TestResolveProfiles checks that a batch answers each request as
// ResolveProfile does, in order, with bad requests failing alone and with
// the status ResolveProfile returns for them.
func TestResolveProfiles(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	reqs := []*profilev1.ResolveProfileRequest{
		{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")}},
		{Identifiers: []*typev1.Identifier{id("user_id", "u1"), id("anonymous_id", "a1")}, Traits: traits(t, map[string]any{"plan": "gold"})},
		{Identifiers: []*typev1.Identifier{id("", "x")}},
		{},
		{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")}},
	}
	resp, err := client.ResolveProfiles(ctx, &profilev1.ResolveProfilesRequest{Requests: reqs})
	require.NoError(t, err)
	require.Len(t, resp.GetResults(), len(reqs))

	first := resp.GetResults()[0].GetResponse()
	require.True(t, first.GetCreated())
	linked := resp.GetResults()[1].GetResponse()
	require.Equal(t, first.GetProfile().GetName(), linked.GetProfile().GetName())
	require.Equal(t, "gold", linked.GetProfile().GetTraits().GetFields()["plan"].GetStringValue())
	for _, i := range []int{2, 3} {
		e := resp.GetResults()[i].GetError()
		require.NotNil(t, e, "request %d", i)
		_, want := client.ResolveProfile(ctx, reqs[i])
		got := status.FromProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()})
		require.Equal(t, codes.InvalidArgument, got.Code())
		require.Empty(t, cmp.Diff(status.Convert(want).Proto(), got.Proto(), protocmp.Transform()), "request %d: the status ResolveProfile returns", i)
	}
	last := resp.GetResults()[4].GetResponse()
	again, err := client.ResolveProfile(ctx, reqs[4])
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(again, last, protocmp.Transform()), "the last request sees the link made before it")

	// Bad match signals fail their request alone, as in ResolveProfile.
	resp, err = client.ResolveProfiles(ctx, &profilev1.ResolveProfilesRequest{Requests: []*profilev1.ResolveProfileRequest{
		{Identifiers: []*typev1.Identifier{id("anonymous_id", "a9")}, Signals: &profilev1.MatchSignals{Ip: strings.Repeat("1", api.MaxSignalLen+1)}},
		{Identifiers: []*typev1.Identifier{id("anonymous_id", "a9")}, Signals: &profilev1.MatchSignals{Ip: "203.0.113.9"}},
	}})
	require.NoError(t, err)
	require.Equal(t, int32(codes.InvalidArgument), resp.GetResults()[0].GetError().GetCode())
	require.True(t, resp.GetResults()[1].GetResponse().GetCreated())

	_, err = client.ResolveProfiles(ctx, &profilev1.ResolveProfilesRequest{})
	require.Contains(t, violations(t, err), "requests")
	_, err = client.ResolveProfiles(ctx, &profilev1.ResolveProfilesRequest{Requests: make([]*profilev1.ResolveProfileRequest, 1001)})
	require.Contains(t, violations(t, err), "requests")
}
