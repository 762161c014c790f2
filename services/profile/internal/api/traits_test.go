package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

func TestTraitsSetOnceAndHistory(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	ana := []*typev1.Identifier{id("email", "ana@example.com")}
	first, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: ana, SourceEvent: "m1", ObserveTime: timestamppb.New(t0),
		Traits:        traits(t, map[string]any{"plan": "gold"}),
		TraitsSetOnce: traits(t, map[string]any{"first_channel": "web", "plan": "free"}),
	})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"plan": "gold", "first_channel": "web"}, first.GetProfile().GetTraits().AsMap())
	_, err = client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: ana, SourceEvent: "m2", ObserveTime: timestamppb.New(t0.Add(time.Hour)),
		Traits:        traits(t, map[string]any{"plan": nil}),
		TraitsSetOnce: traits(t, map[string]any{"first_channel": "app"}),
	})
	require.NoError(t, err)

	got, err := client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: ana[0]})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"first_channel": "web"}, got.GetProfile().GetTraits().AsMap(), "set-once kept the first value")
	require.Len(t, got.GetProfile().GetTraitSources(), 1)
	src := got.GetProfile().GetTraitSources()[0]
	require.Equal(t, []string{"first_channel", "set_once", "m1"}, []string{src.GetKey(), src.GetOperation(), src.GetSourceEvent()})
	require.Equal(t, t0, src.GetChangeTime().AsTime())

	name := got.GetProfile().GetName()
	list, err := client.ListTraitChanges(ctx, &profilev1.ListTraitChangesRequest{Profile: name, PageSize: 2})
	require.NoError(t, err)
	require.Len(t, list.GetTraitChanges(), 2)
	unset := list.GetTraitChanges()[0]
	require.Equal(t, []string{name, "plan", "unset", "m2"}, []string{unset.GetProfile(), unset.GetKey(), unset.GetOperation(), unset.GetSourceEvent()})
	require.Nil(t, unset.GetValue(), "a removal has no value")
	require.Equal(t, t0.Add(time.Hour), unset.GetChangeTime().AsTime())
	require.Equal(t, "plan", list.GetTraitChanges()[1].GetKey())
	require.Equal(t, "gold", list.GetTraitChanges()[1].GetValue().GetStringValue())
	require.NotEmpty(t, list.GetNextPageToken())
	rest, err := client.ListTraitChanges(ctx, &profilev1.ListTraitChangesRequest{Identifier: ana[0], PageSize: 2, PageToken: list.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, rest.GetTraitChanges(), 1)
	require.Equal(t, "first_channel", rest.GetTraitChanges()[0].GetKey())
	require.Equal(t, "web", rest.GetTraitChanges()[0].GetValue().GetStringValue())
	require.Empty(t, rest.GetNextPageToken())

	only, err := client.ListTraitChanges(ctx, &profilev1.ListTraitChangesRequest{Profile: name, Trait: "first_channel"})
	require.NoError(t, err)
	require.Len(t, only.GetTraitChanges(), 1)

	export, err := client.ExportProfile(ctx, &profilev1.ExportProfileRequest{Profile: name})
	require.NoError(t, err)
	require.Len(t, export.GetTraitChanges(), 3, "the export holds the trait history")
	require.Len(t, export.GetProfile().GetTraitSources(), 1)
}

func TestTraitsErrors(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	big := map[string]any{"x": strings.Repeat("a", 40<<10)}
	_, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("email", "ana@example.com")}, TraitsSetOnce: traits(t, big), SourceEvent: strings.Repeat("m", 801),
	})
	got := violations(t, err)
	require.Contains(t, got["traits_set_once"], "the limit is")
	require.Contains(t, got["source_event"], "the limit is 800")

	_, err = client.ListTraitChanges(ctx, &profilev1.ListTraitChangesRequest{})
	require.Contains(t, violations(t, err)["profile"], "name the profile")
	_, err = client.ListTraitChanges(ctx, &profilev1.ListTraitChangesRequest{Profile: "profiles/x", PageToken: "bad"})
	got = violations(t, err)
	require.Contains(t, got, "profile")
	require.Contains(t, got, "page_token")
	_, err = client.ListTraitChanges(ctx, &profilev1.ListTraitChangesRequest{Profile: "profiles/0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = client.ListTraitChanges(ctx, &profilev1.ListTraitChangesRequest{Identifier: id("email", "nobody@example.com")})
	require.Equal(t, codes.NotFound, status.Code(err))
}
