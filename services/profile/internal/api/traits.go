package api

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// MaxTraitKeyLen bounds the trait key ListTraitChanges filters by, in
// bytes.
const MaxTraitKeyLen = 1000

// ListTraitChanges pages through the trait history of a person, newest
// first.
func (s *Server) ListTraitChanges(ctx context.Context, req *profilev1.ListTraitChangesRequest) (*profilev1.ListTraitChangesResponse, error) {
	invalid := &apierror.InvalidError{}
	target := s.target(ctx, req.GetProfile(), req.GetIdentifier(), invalid)
	if n := len(req.GetTrait()); n > MaxTraitKeyLen {
		invalid.Add("trait", "is %d bytes long; the limit is %d", n, MaxTraitKeyLen)
	}
	size, before := parsePosition(req.GetPageSize(), req.GetPageToken(), invalid)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	id, err := target()
	if err != nil {
		return nil, err
	}
	changes, next, err := s.graph.ListTraitChanges(ctx, id, req.GetTrait(), before, size)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.ListTraitChangesResponse{}
	if resp.TraitChanges, err = toTraitChanges(changes); err != nil {
		return nil, err
	}
	resp.NextPageToken = positionToken(next)
	return resp, nil
}

// toTraitSources returns the sources of a profile's traits, in key order.
func toTraitSources(sources map[string]profile.TraitSource) []*profilev1.TraitSource {
	out := make([]*profilev1.TraitSource, 0, len(sources))
	for _, k := range slices.Sorted(maps.Keys(sources)) {
		src := sources[k]
		out = append(out, &profilev1.TraitSource{Key: k, Operation: src.Operation, SourceEvent: src.Source, ChangeTime: timestamppb.New(src.Time)})
	}
	return out
}

func toTraitChanges(changes []profile.TraitChange) ([]*profilev1.TraitChange, error) {
	out := make([]*profilev1.TraitChange, len(changes))
	for i, c := range changes {
		out[i] = &profilev1.TraitChange{
			Profile:     namePrefix + c.Profile,
			Key:         c.Key,
			Operation:   c.Operation,
			SourceEvent: c.Source,
			ChangeTime:  timestamppb.New(c.Time),
		}
		if c.Value != nil {
			v, err := structpb.NewValue(c.Value)
			if err != nil {
				return nil, fmt.Errorf("profile %s: encode trait %q: %w", c.Profile, c.Key, err)
			}
			out[i].Value = v
		}
	}
	return out, nil
}
