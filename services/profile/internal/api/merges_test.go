package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

func TestGetMergeRules(t *testing.T) {
	client := start(t)
	resp, err := client.GetMergeRules(context.Background(), &profilev1.GetMergeRulesRequest{})
	require.NoError(t, err)
	rules := resp.GetRules()
	require.Equal(t, []string{"user_id", "email", "phone", "device_id", "anonymous_id"}, rules.GetPriority())
	require.Empty(t, cmpDiff(t, []*profilev1.IdentifierLimit{
		{Type: "user_id", Max: 1},
		{Type: "anonymous_id", Max: 5, Window: durationpb.New(7 * 24 * time.Hour)},
	}, rules.GetLimits()))
	require.True(t, rules.GetBuiltinJunk())
	require.Contains(t, values(rules.GetBuiltinBlocked()), "undefined")
	require.Equal(t, []string{"device_id", "anonymous_id"}, rules.GetSharedTypes())
}

func values(blocked []*profilev1.BlockedValue) []string {
	var out []string
	for _, b := range blocked {
		out = append(out, b.GetValue())
	}
	return out
}

func TestResolveReportsIgnoredIdentifiers(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	resp, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("anonymous_id", "a1"), id("user_id", "undefined"), id("device_id", "ipad"), id("user_id", "ana")},
	})
	require.NoError(t, err)
	require.Len(t, resp.GetIgnoredIdentifiers(), 1)
	require.Equal(t, "blocked", resp.GetIgnoredIdentifiers()[0].GetRule())
	require.Equal(t, "undefined", resp.GetIgnoredIdentifiers()[0].GetIdentifier().GetValue())

	resp, err = client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("device_id", "ipad"), id("user_id", "bob")},
	})
	require.NoError(t, err)
	require.Equal(t, "shared", resp.GetIgnoredIdentifiers()[0].GetRule())
	ana, err := client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("user_id", "ana")})
	require.NoError(t, err)
	require.Empty(t, cmpDiff(t, []*typev1.Identifier{id("device_id", "ipad")}, ana.GetProfile().GetSharedIdentifiers()))

	_, err = client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("email", "test@test.com")}})
	require.Contains(t, violations(t, err)["identifiers[0]"], "email test@test.com is blocked")
}

func TestListMergesAndMergeProfiles(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	first, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")}})
	require.NoError(t, err)
	for _, a := range []string{"a2", "a3"} {
		_, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", a)}})
		require.NoError(t, err)
	}
	merged, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1"), id("anonymous_id", "a2")}})
	require.NoError(t, err)
	manual, err := client.MergeProfiles(ctx, &profilev1.MergeProfilesRequest{
		Identifiers: []*typev1.Identifier{id("anonymous_id", "a3"), id("anonymous_id", "a1")}, Reason: " same laptop ",
	})
	require.NoError(t, err)
	require.Equal(t, first.GetProfile().GetName(), manual.GetProfile().GetName())
	require.Equal(t, "manual", manual.GetMerge().GetRule())
	require.Equal(t, "manual merge: same laptop", manual.GetMerge().GetReason())

	parent := first.GetProfile().GetName()
	page1, err := client.ListMerges(ctx, &profilev1.ListMergesRequest{Parent: parent, PageSize: 1})
	require.NoError(t, err)
	require.Len(t, page1.GetMerges(), 1)
	require.Equal(t, "seen_together", page1.GetMerges()[0].GetRule())
	require.Equal(t, merged.GetMergedProfiles()[0], page1.GetMerges()[0].GetMerged())
	require.Len(t, page1.GetMerges()[0].GetTriggerIdentifiers(), 2)
	require.NotEmpty(t, page1.GetNextPageToken())
	page2, err := client.ListMerges(ctx, &profilev1.ListMergesRequest{Parent: parent, PageSize: 1, PageToken: page1.GetNextPageToken()})
	require.NoError(t, err)
	require.Empty(t, cmpDiff(t, []*profilev1.Merge{manual.GetMerge()}, page2.GetMerges()))
	require.Empty(t, page2.GetNextPageToken())

	_, err = client.ListMerges(ctx, &profilev1.ListMergesRequest{Parent: "users/1", PageToken: "junk"})
	got := violations(t, err)
	require.Contains(t, got, "parent")
	require.Contains(t, got, "page_token")

	_, err = client.MergeProfiles(ctx, &profilev1.MergeProfilesRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")}})
	got = violations(t, err)
	require.Contains(t, got["identifiers"], "exactly 2")
	require.Contains(t, got["reason"], "required")

	_, err = client.MergeProfiles(ctx, &profilev1.MergeProfilesRequest{
		Identifiers: []*typev1.Identifier{id("anonymous_id", "a1"), id("email", "nobody@example.com")}, Reason: "x",
	})
	require.Equal(t, codes.NotFound, status.Code(err))

	for _, u := range []string{"1", "2"} {
		_, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("user_id", u)}})
		require.NoError(t, err)
	}
	_, err = client.MergeProfiles(ctx, &profilev1.MergeProfilesRequest{
		Identifiers: []*typev1.Identifier{id("user_id", "1"), id("user_id", "2")}, Reason: "x",
	})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), err)
}

func cmpDiff[T any](t *testing.T, want, got T) string {
	t.Helper()
	return cmp.Diff(want, got, protocmp.Transform())
}

func TestUnmergeProfile(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	ana, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")}})
	require.NoError(t, err)
	bob, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("email", "bob@example.com")}})
	require.NoError(t, err)
	_, err = client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", "a1"), id("email", "bob@example.com")}})
	require.NoError(t, err)

	resp, err := client.UnmergeProfile(ctx, &profilev1.UnmergeProfileRequest{Name: bob.GetProfile().GetName()})
	require.NoError(t, err)
	require.Equal(t, bob.GetProfile().GetName(), resp.GetProfile().GetName())
	require.Empty(t, cmpDiff(t, []*typev1.Identifier{id("email", "bob@example.com")}, resp.GetProfile().GetIdentifiers()))
	require.Equal(t, ana.GetProfile().GetName(), resp.GetSurvivor().GetName())
	require.Len(t, resp.GetSurvivor().GetIdentifiers(), 1)

	merges, err := client.ListMerges(ctx, &profilev1.ListMergesRequest{Parent: ana.GetProfile().GetName()})
	require.NoError(t, err)
	require.NotNil(t, merges.GetMerges()[0].GetUnmergeTime())

	_, err = client.UnmergeProfile(ctx, &profilev1.UnmergeProfileRequest{Name: bob.GetProfile().GetName()})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), err)
	_, err = client.UnmergeProfile(ctx, &profilev1.UnmergeProfileRequest{Name: "bob"})
	require.Contains(t, violations(t, err), "name")
}
