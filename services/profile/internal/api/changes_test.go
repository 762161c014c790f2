package api_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

// TestStreamProfileChanges merges, unmerges and records consent, then reads
// the change log in batches of two from the start and after a cursor, and
// follows it as a new change is made.
func TestStreamProfileChanges(t *testing.T) {
	c := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resolve := func(ids ...*typev1.Identifier) string {
		resp, err := c.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: ids})
		require.NoError(t, err)
		return resp.GetProfile().GetName()
	}
	ana := resolve(id("anonymous_id", "a1"))
	bob := resolve(id("email", "bob@example.com"))
	require.Equal(t, ana, resolve(id("anonymous_id", "a1"), id("email", "bob@example.com")))
	_, err := c.UnmergeProfile(ctx, &profilev1.UnmergeProfileRequest{Name: bob})
	require.NoError(t, err)

	stream, err := c.StreamProfileChanges(ctx, &profilev1.StreamProfileChangesRequest{MaxBatchSize: 2})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	require.Len(t, first.GetChanges(), 2)
	merged, unmerged := first.GetChanges()[0], first.GetChanges()[1]
	require.Equal(t, "1", merged.GetCursor())
	require.Empty(t, protoDiff(&profilev1.ProfileMerged{Survivor: ana, MergedProfile: bob,
		Identifiers: []*typev1.Identifier{id("email", "bob@example.com")}, Rule: "seen_together"}, merged.GetMerged()))
	require.Equal(t, "2", unmerged.GetCursor())
	require.Empty(t, protoDiff(&profilev1.ProfileUnmerged{Profile: bob, Survivor: ana,
		Identifiers: []*typev1.Identifier{id("email", "bob@example.com")}, SurvivorIdentifiers: []*typev1.Identifier{id("anonymous_id", "a1")}}, unmerged.GetUnmerged()))
	require.True(t, unmerged.GetChangeTime().AsTime().After(merged.GetChangeTime().AsTime()))

	// The stream follows the log: a consent change made now is sent next.
	at := timestamppb.New(t0)
	_, err = c.SetConsent(ctx, &profilev1.SetConsentRequest{Profile: bob, Consents: []*profilev1.Consent{
		{Purpose: "email", Status: profilev1.ConsentStatus_CONSENT_STATUS_GRANTED, Source: "form", ConsentTime: at}}})
	require.NoError(t, err)
	next, err := stream.Recv()
	require.NoError(t, err)
	require.Len(t, next.GetChanges(), 1)
	require.Equal(t, "3", next.GetChanges()[0].GetCursor())
	require.Empty(t, protoDiff(&profilev1.ConsentChanged{Profile: bob, Consents: []*profilev1.Consent{
		{Purpose: "email", Status: profilev1.ConsentStatus_CONSENT_STATUS_GRANTED, Source: "form", ConsentTime: at}}}, next.GetChanges()[0].GetConsentChanged()))

	after, err := c.StreamProfileChanges(ctx, &profilev1.StreamProfileChangesRequest{AfterCursor: "2"})
	require.NoError(t, err)
	resumed, err := after.Recv()
	require.NoError(t, err)
	require.Len(t, resumed.GetChanges(), 1, "resuming after a cursor sends what follows it")
	require.Equal(t, "3", resumed.GetChanges()[0].GetCursor())

	for field, req := range map[string]*profilev1.StreamProfileChangesRequest{
		"after_cursor":   {AfterCursor: "x"},
		"max_batch_size": {MaxBatchSize: -1},
	} {
		bad, err := c.StreamProfileChanges(ctx, req)
		require.NoError(t, err)
		_, err = bad.Recv()
		require.Equal(t, codes.InvalidArgument, status.Code(err), field)
		require.Contains(t, violations(t, err), field)
	}
}

func protoDiff(want, got any) string {
	return cmp.Diff(want, got, protocmp.Transform())
}
