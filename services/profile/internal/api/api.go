// Package api serves barista.profile.v1.ProfileService: it validates
// requests, translates between protos and the profile domain, and leaves the
// rules to the domain.
package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/pkg/page"
	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// Limits of ResolveProfile requests.
const (
	// MaxIdentifiers is the most identifiers one call may resolve together.
	MaxIdentifiers = 20
	// MaxTraitsBytes is the largest traits object accepted, in encoded
	// protobuf bytes; traits_set_once has the same limit.
	MaxTraitsBytes = 32 << 10
	// MaxSourceEventLen bounds source_event, in bytes: the event service's
	// message id limit, in the widest encoding.
	MaxSourceEventLen = 800
)

const namePrefix = "profiles/"

// Server implements profilev1.ProfileServiceServer over a profile.Graph.
type Server struct {
	profilev1.UnimplementedProfileServiceServer
	graph   *profile.Graph
	matcher *match.Matcher // nil when probabilistic matching is off (matches.go)
}

// New returns a Server over graph.
func New(graph *profile.Graph) *Server {
	return &Server{graph: graph}
}

// ResolveProfile resolves identifiers seen together to one profile.
func (s *Server) ResolveProfile(ctx context.Context, req *profilev1.ResolveProfileRequest) (*profilev1.ResolveProfileResponse, error) {
	r, err := resolveRequest(req)
	if err != nil {
		return nil, err
	}
	if err := checkSignals("signals", req.GetSignals()); err != nil {
		return nil, err
	}
	res, err := s.graph.Resolve(ctx, r)
	if err != nil {
		return nil, err
	}
	s.observe(ctx, res, req.GetSignals())
	return resolutionProto(res)
}

func resolveRequest(req *profilev1.ResolveProfileRequest) (profile.Request, error) {
	invalid := &apierror.InvalidError{}
	var r profile.Request
	switch n := len(req.GetIdentifiers()); {
	case n == 0:
		invalid.Add("identifiers", "at least one identifier is required, such as anonymous_id or user_id")
	case n > MaxIdentifiers:
		invalid.Add("identifiers", "at most %d identifiers can be resolved together, got %d", MaxIdentifiers, n)
	default:
		for i, id := range req.GetIdentifiers() {
			norm, err := ident.Normalize(id)
			if err != nil {
				invalid.Add(fmt.Sprintf("identifiers[%d]", i), "%s", err)
				continue
			}
			r.Identifiers = append(r.Identifiers, fromIdentifier(norm))
		}
	}
	r.Traits = traitsOf("traits", req.GetTraits(), invalid)
	r.TraitsSetOnce = traitsOf("traits_set_once", req.GetTraitsSetOnce(), invalid)
	if n := len(req.GetSourceEvent()); n > MaxSourceEventLen {
		invalid.Add("source_event", "is %d bytes long; the limit is %d", n, MaxSourceEventLen)
	}
	if strings.IndexByte(req.GetSourceEvent(), 0) >= 0 {
		invalid.Add("source_event", "holds the NUL character (U+0000), which cannot be stored")
	}
	r.Source = req.GetSourceEvent()
	if ts := req.GetObserveTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			invalid.Add("observe_time", "is not a valid timestamp: %s", err)
		} else {
			r.ObserveTime = ts.AsTime()
		}
	}
	return r, invalid.OrNil()
}

// traitsOf returns the traits of field t as decoded JSON, or nil when t is
// unset or too large (a violation in invalid).
func traitsOf(field string, t *structpb.Struct, invalid *apierror.InvalidError) map[string]any {
	if t == nil {
		return nil
	}
	if size := proto.Size(t); size > MaxTraitsBytes {
		invalid.Add(field, "are %d bytes encoded; the limit is %d", size, MaxTraitsBytes)
		return nil
	}
	m := t.AsMap()
	if holdsNUL(m) {
		invalid.Add(field, "hold the NUL character (U+0000), which cannot be stored")
		return nil
	}
	return m
}

// holdsNUL reports whether a key or string of v, decoded JSON, holds the
// NUL character, which Postgres text and jsonb cannot hold.
func holdsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || holdsNUL(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(v, holdsNUL)
	}
	return false
}

// GetProfile returns a profile by name; the name of a merged profile yields
// the profile it was merged into.
func (s *Server) GetProfile(ctx context.Context, req *profilev1.GetProfileRequest) (*profilev1.GetProfileResponse, error) {
	id, err := parseName(req.GetName())
	if err != nil {
		return nil, err
	}
	p, err := s.graph.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	pb, err := s.detailed(ctx, p)
	if err != nil {
		return nil, err
	}
	return &profilev1.GetProfileResponse{Profile: pb}, nil
}

// LookupProfile returns the profile that holds an identifier.
func (s *Server) LookupProfile(ctx context.Context, req *profilev1.LookupProfileRequest) (*profilev1.LookupProfileResponse, error) {
	if req.GetIdentifier() == nil {
		return nil, apierror.Invalid("identifier", "is required, such as {type: \"email\", value: \"ana@example.com\"}")
	}
	norm, err := ident.Normalize(req.GetIdentifier())
	if err != nil {
		return nil, apierror.Invalid("identifier", "%s", err)
	}
	p, err := s.graph.Lookup(ctx, fromIdentifier(norm))
	if err != nil {
		return nil, err
	}
	pb, err := s.detailed(ctx, p)
	if err != nil {
		return nil, err
	}
	return &profilev1.LookupProfileResponse{Profile: pb}, nil
}

// ListProfiles pages through live profiles, oldest first.
func (s *Server) ListProfiles(ctx context.Context, req *profilev1.ListProfilesRequest) (*profilev1.ListProfilesResponse, error) {
	var after string
	size, err := page.Parse(req.GetPageSize(), req.GetPageToken(), &after)
	if err != nil {
		return nil, err
	}
	if after != "" && uuid.Validate(after) != nil {
		return nil, apierror.Invalid("page_token", "is not a token returned by this method")
	}
	profiles, next, err := s.graph.List(ctx, after, size)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.ListProfilesResponse{Profiles: make([]*profilev1.Profile, len(profiles))}
	for i, p := range profiles {
		if resp.Profiles[i], err = toProto(p); err != nil {
			return nil, err
		}
	}
	if next != "" {
		resp.NextPageToken = page.Encode(next)
	}
	return resp, nil
}

// parseName returns the profile id of a name "profiles/{id}", in canonical
// lower-case form.
func parseName(name string) (string, error) {
	raw, ok := strings.CutPrefix(name, namePrefix)
	id, err := uuid.Parse(raw)
	if !ok || err != nil || id.String() != strings.ToLower(raw) {
		return "", apierror.Invalid("name", "want profiles/{profile}, where {profile} is a profile id such as 0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f; got %q", name)
	}
	return id.String(), nil
}

func fromIdentifier(id *typev1.Identifier) profile.Identifier {
	return profile.Identifier{Type: id.GetType(), Value: id.GetValue()}
}

func toProto(p profile.Profile) (*profilev1.Profile, error) {
	traits, err := structpb.NewStruct(p.Traits)
	if err != nil {
		return nil, fmt.Errorf("profile %s: encode traits: %w", p.ID, err)
	}
	return &profilev1.Profile{
		Name:              namePrefix + p.ID,
		Identifiers:       toIdentifiers(p.Identifiers),
		Traits:            traits,
		CreateTime:        timestamppb.New(p.CreateTime),
		UpdateTime:        timestamppb.New(p.UpdateTime),
		SharedIdentifiers: toIdentifiers(p.Shared()),
	}, nil
}

func toIdentifier(id profile.Identifier) *typev1.Identifier {
	return &typev1.Identifier{Type: id.Type, Value: id.Value}
}

func toIdentifiers(ids []profile.Identifier) []*typev1.Identifier {
	out := make([]*typev1.Identifier, len(ids))
	for i, id := range ids {
		out[i] = toIdentifier(id)
	}
	return out
}
