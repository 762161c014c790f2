package api

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// DeleteProfile erases a person and suppresses their identifiers.
func (s *Server) DeleteProfile(ctx context.Context, req *profilev1.DeleteProfileRequest) (*profilev1.DeleteProfileResponse, error) {
	id, err := s.person(ctx, req.GetProfile(), req.GetIdentifier())
	if err != nil {
		return nil, err
	}
	e, err := s.graph.Erase(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.DeleteProfileResponse{
		Profile:        namePrefix + e.Profile,
		Identifiers:    toIdentifiers(e.Identifiers),
		ConsentsErased: int32(e.Consents),
		MergesErased:   int32(e.Merges),
		MergesScrubbed: int32(e.MergesScrubbed),
		EraseTime:      timestamppb.New(e.Time),
	}
	for _, pid := range e.Profiles {
		resp.ErasedProfiles = append(resp.ErasedProfiles, namePrefix+pid)
	}
	return resp, nil
}

// ExportProfile returns everything the service holds on a person.
func (s *Server) ExportProfile(ctx context.Context, req *profilev1.ExportProfileRequest) (*profilev1.ExportProfileResponse, error) {
	id, err := s.person(ctx, req.GetProfile(), req.GetIdentifier())
	if err != nil {
		return nil, err
	}
	x, err := s.graph.Export(ctx, id)
	if err != nil {
		return nil, err
	}
	pb, err := s.detailed(ctx, x.Profile)
	if err != nil {
		return nil, err
	}
	resp := &profilev1.ExportProfileResponse{Profile: pb, ExportTime: timestamppb.New(x.Time)}
	for _, ident := range x.Profile.Identifiers {
		link := x.Profile.Links[ident]
		resp.IdentifierLinks = append(resp.IdentifierLinks, &profilev1.IdentifierLink{
			Identifier: toIdentifier(ident), ObserveTime: timestamppb.New(link.ObserveTime), Shared: link.Shared,
		})
	}
	for _, m := range x.Merged {
		traits, err := structpb.NewStruct(m.Traits)
		if err != nil {
			return nil, fmt.Errorf("profile %s: encode traits: %w", m.ID, err)
		}
		resp.MergedProfiles = append(resp.MergedProfiles, &profilev1.MergedProfile{
			Name: namePrefix + m.ID, Traits: traits, CreateTime: timestamppb.New(m.CreateTime), UpdateTime: timestamppb.New(m.UpdateTime),
		})
	}
	for _, c := range x.Consents {
		resp.Consents = append(resp.Consents, &profilev1.RecordedConsent{Profile: namePrefix + c.Profile, Consent: toConsents([]profile.Consent{c.Consent})[0]})
	}
	for _, m := range x.Merges {
		resp.Merges = append(resp.Merges, toMerge(m))
	}
	if resp.TraitChanges, err = toTraitChanges(x.TraitChanges); err != nil {
		return nil, err
	}
	return resp, nil
}
