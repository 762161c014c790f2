package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/grpctest"
	"github.com/barista-cdp/barista/services/profile/internal/api"
	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// start serves the API over an in-memory store on an in-process listener,
// with the interceptors of every Barista server, and returns a client.
func start(t *testing.T) profilev1.ProfileServiceClient {
	t.Helper()
	now := t0
	graph := profile.NewGraph(memory.New(), profile.Options{Now: func() time.Time {
		now = now.Add(time.Second)
		return now
	}})
	conn := grpctest.Serve(t, func(r grpc.ServiceRegistrar) { profilev1.RegisterProfileServiceServer(r, api.New(graph)) })
	return profilev1.NewProfileServiceClient(conn)
}

func id(typ, value string) *typev1.Identifier { return &typev1.Identifier{Type: typ, Value: value} }

func traits(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

// violations returns the field violations of an InvalidArgument error.
func violations(t *testing.T, err error) map[string]string {
	t.Helper()
	st := status.Convert(err)
	require.Equal(t, codes.InvalidArgument, st.Code(), err)
	out := map[string]string{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetDescription()
			}
		}
	}
	require.NotEmpty(t, out, "InvalidArgument without field violations: %v", err)
	return out
}

func TestResolveProfileValidation(t *testing.T) {
	client := start(t)
	many := make([]*typev1.Identifier, api.MaxIdentifiers+1)
	for i := range many {
		many[i] = id("anonymous_id", fmt.Sprint(i))
	}
	big := map[string]any{"blob": strings.Repeat("x", api.MaxTraitsBytes)}

	tests := []struct {
		name string
		req  *profilev1.ResolveProfileRequest
		// want maps each violated field to a part of its description.
		want map[string]string
	}{
		{"no identifiers", &profilev1.ResolveProfileRequest{}, map[string]string{"identifiers": "at least one"}},
		{"too many identifiers", &profilev1.ResolveProfileRequest{Identifiers: many}, map[string]string{"identifiers": "at most 20"}},
		{
			"bad identifiers, each reported",
			&profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{
				id("anonymous_id", "a1"), id("email", "not-an-email"), id("Bad Type", "x"), id("phone", "020 7946 0958"),
			}},
			map[string]string{"identifiers[1]": "not-an-email", "identifiers[2]": "Bad Type", "identifiers[3]": "country code"},
		},
		{
			"traits too large and a bad observe time",
			&profilev1.ResolveProfileRequest{
				Identifiers: []*typev1.Identifier{id("anonymous_id", "a1")},
				Traits:      traits(t, big),
				ObserveTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -1},
			},
			map[string]string{"traits": "limit", "observe_time": "not a valid timestamp"},
		},
		{
			// Postgres text and jsonb cannot hold it; one in a batch of
			// resolutions must not fail the transaction they share.
			"NUL characters",
			&profilev1.ResolveProfileRequest{
				Identifiers:   []*typev1.Identifier{id("user_id", "1\x00")},
				Traits:        traits(t, map[string]any{"tags": []any{"a", map[string]any{"b\x00": 1}}}),
				TraitsSetOnce: traits(t, map[string]any{"plan": "x\x00"}),
				SourceEvent:   "m\x00",
			},
			map[string]string{"identifiers[0]": "NUL character", "traits": "NUL character", "traits_set_once": "NUL character", "source_event": "NUL character"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ResolveProfile(context.Background(), tt.req)
			got := violations(t, err)
			require.Len(t, got, len(tt.want), "violations: %v", got)
			for field, part := range tt.want {
				require.Contains(t, got[field], part, "field %s", field)
			}
		})
	}
}

func TestResolveGetLookupList(t *testing.T) {
	ctx := context.Background()
	client := start(t)

	viewed, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("anonymous_id", " a1 ")},
		ObserveTime: timestamppb.New(t0.Add(-time.Hour)),
	})
	require.NoError(t, err)
	require.True(t, viewed.GetCreated())
	name := viewed.GetProfile().GetName()
	require.True(t, strings.HasPrefix(name, "profiles/"), name)

	other, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("email", "ANA@example.com")},
		Traits:      traits(t, map[string]any{"city": "Paris", "vip": true}),
	})
	require.NoError(t, err)

	identified, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{
		Identifiers: []*typev1.Identifier{id("anonymous_id", "a1"), id("user_id", "42"), id("email", "ana@example.com")},
		Traits:      traits(t, map[string]any{"name": "Ana", "vip": nil}),
	})
	require.NoError(t, err)
	require.False(t, identified.GetCreated())
	require.Equal(t, []string{other.GetProfile().GetName()}, identified.GetMergedProfiles())
	want := &profilev1.Profile{
		Name:        name,
		Identifiers: []*typev1.Identifier{id("user_id", "42"), id("email", "ana@example.com"), id("anonymous_id", "a1")},
		Traits:      traits(t, map[string]any{"name": "Ana", "city": "Paris"}),
		CreateTime:  viewed.GetProfile().GetCreateTime(),
		UpdateTime:  identified.GetProfile().GetUpdateTime(),
	}
	require.True(t, want.GetUpdateTime().AsTime().After(other.GetProfile().GetUpdateTime().AsTime()), "the merge updates the profile")
	require.Empty(t, cmpProto(want, identified.GetProfile()))

	got, err := client.GetProfile(ctx, &profilev1.GetProfileRequest{Name: name})
	require.NoError(t, err)
	// Get and Lookup tell where each trait comes from: city from the
	// profile merged in, name from the call, both at its observe time.
	sources := got.GetProfile().GetTraitSources()
	require.Len(t, sources, 2)
	require.Equal(t, []string{"city", "merge", "name", "set"},
		[]string{sources[0].GetKey(), sources[0].GetOperation(), sources[1].GetKey(), sources[1].GetOperation()})
	require.Equal(t, sources[0].GetChangeTime().AsTime(), sources[1].GetChangeTime().AsTime())
	require.False(t, sources[0].GetChangeTime().AsTime().Before(other.GetProfile().GetUpdateTime().AsTime()))
	listed := proto.CloneOf(want)
	want.TraitSources = sources
	require.Empty(t, cmpProto(want, got.GetProfile()))
	merged, err := client.GetProfile(ctx, &profilev1.GetProfileRequest{Name: other.GetProfile().GetName()})
	require.NoError(t, err)
	require.Empty(t, cmpProto(want, merged.GetProfile()), "a merged profile's name resolves to the survivor")
	upper, err := client.GetProfile(ctx, &profilev1.GetProfileRequest{Name: "profiles/" + strings.ToUpper(name[len("profiles/"):])})
	require.NoError(t, err)
	require.Equal(t, name, upper.GetProfile().GetName(), "ids are case-insensitive")

	found, err := client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", " Ana@Example.COM")})
	require.NoError(t, err)
	require.Empty(t, cmpProto(want, found.GetProfile()))

	list, err := client.ListProfiles(ctx, &profilev1.ListProfilesRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetProfiles(), 1)
	require.Empty(t, cmpProto(listed, list.GetProfiles()[0]))
	require.Empty(t, list.GetNextPageToken())
}

func cmpProto(want, got *profilev1.Profile) string {
	return cmp.Diff(want, got, protocmp.Transform())
}

func TestGetAndLookupErrors(t *testing.T) {
	ctx := context.Background()
	client := start(t)

	for _, name := range []string{"", "0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f", "profiles/", "profiles/ana", "segments/0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f", "profiles/{0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f}"} {
		_, err := client.GetProfile(ctx, &profilev1.GetProfileRequest{Name: name})
		require.Contains(t, violations(t, err)["name"], "want profiles/{profile}", "name %q", name)
	}
	_, err := client.GetProfile(ctx, &profilev1.GetProfileRequest{Name: "profiles/0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Equal(t, "no profile named profiles/0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f", status.Convert(err).Message())

	_, err = client.LookupProfile(ctx, &profilev1.LookupProfileRequest{})
	require.Contains(t, violations(t, err), "identifier")
	_, err = client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", "nope")})
	require.Contains(t, violations(t, err)["identifier"], `"nope"`)
	_, err = client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", "Nobody@Example.com")})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Equal(t, "no profile holds email:nobody@example.com", status.Convert(err).Message())
}

func TestListProfilesPaging(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	var want []string
	for i := range 5 {
		resp, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("anonymous_id", fmt.Sprint("a", i))}})
		require.NoError(t, err)
		want = append(want, resp.GetProfile().GetName())
	}

	var got []string
	token := ""
	for pages := 1; ; pages++ {
		resp, err := client.ListProfiles(ctx, &profilev1.ListProfilesRequest{PageSize: 2, PageToken: token})
		require.NoError(t, err)
		for _, p := range resp.GetProfiles() {
			got = append(got, p.GetName())
		}
		token = resp.GetNextPageToken()
		if token == "" {
			require.Equal(t, 3, pages)
			break
		}
	}
	require.Equal(t, want, got)

	_, err := client.ListProfiles(ctx, &profilev1.ListProfilesRequest{PageSize: -1})
	require.Contains(t, violations(t, err), "page_size")
	for _, token := range []string{"%%%", "ImFuYSI"} { // the second is a well-formed token of a non-id
		_, err = client.ListProfiles(ctx, &profilev1.ListProfilesRequest{PageToken: token})
		require.Contains(t, violations(t, err), "page_token", "token %q", token)
	}
}
