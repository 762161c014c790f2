package api

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/barista-cdp/barista/pkg/apierror"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// SetConsent records consents of a profile.
func (s *Server) SetConsent(ctx context.Context, req *profilev1.SetConsentRequest) (*profilev1.SetConsentResponse, error) {
	invalid := &apierror.InvalidError{}
	target := s.target(ctx, req.GetProfile(), req.GetIdentifier(), invalid)
	consents := make([]profile.Consent, len(req.GetConsents()))
	for i, c := range req.GetConsents() {
		consents[i] = profile.Consent{Purpose: c.GetPurpose(), Source: c.GetSource()}
		switch c.GetStatus() {
		case profilev1.ConsentStatus_CONSENT_STATUS_GRANTED:
			consents[i].Granted = true
		case profilev1.ConsentStatus_CONSENT_STATUS_DENIED:
		default:
			invalid.Add(fmt.Sprintf("consents[%d].status", i), "want CONSENT_STATUS_GRANTED or CONSENT_STATUS_DENIED")
		}
		if ts := c.GetConsentTime(); ts != nil {
			if err := ts.CheckValid(); err != nil {
				invalid.Add(fmt.Sprintf("consents[%d].consent_time", i), "is not a valid timestamp: %s", err)
			} else {
				consents[i].Time = ts.AsTime()
			}
		}
	}
	profile.CheckConsents(consents, invalid)
	if err := invalid.OrNil(); err != nil {
		return nil, err
	}
	id, err := target()
	if err != nil {
		return nil, err
	}
	p, all, err := s.graph.SetConsents(ctx, id, consents)
	if err != nil {
		return nil, err
	}
	return &profilev1.SetConsentResponse{Profile: namePrefix + p.ID, Consents: toConsents(all)}, nil
}

// GetConsent returns the consents of a profile.
func (s *Server) GetConsent(ctx context.Context, req *profilev1.GetConsentRequest) (*profilev1.GetConsentResponse, error) {
	id, err := s.person(ctx, req.GetProfile(), req.GetIdentifier())
	if err != nil {
		return nil, err
	}
	p, err := s.graph.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	consents, err := s.graph.Consents(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return &profilev1.GetConsentResponse{Profile: namePrefix + p.ID, Consents: toConsents(consents)}, nil
}

// person finds the profile a request names by exactly one of name and
// identifier, for requests with no other field.
func (s *Server) person(ctx context.Context, name string, id *typev1.Identifier) (string, error) {
	invalid := &apierror.InvalidError{}
	target := s.target(ctx, name, id, invalid)
	if err := invalid.OrNil(); err != nil {
		return "", err
	}
	return target()
}

// target validates a profile named by exactly one of name and identifier,
// adding violations to invalid, and returns a function that finds its id
// once the whole request is valid.
func (s *Server) target(ctx context.Context, name string, id *typev1.Identifier, invalid *apierror.InvalidError) func() (string, error) {
	switch {
	case name != "" && id != nil:
		invalid.Add("profile", "set profile or identifier, not both")
	case name != "":
		pid, err := parseName(name)
		if err != nil {
			invalid.Add("profile", "want profiles/{profile}; got %q", name)
		}
		return func() (string, error) { return pid, nil }
	case id != nil:
		norm, err := ident.Normalize(id)
		if err != nil {
			invalid.Add("identifier", "%s", err)
			break
		}
		return func() (string, error) {
			p, err := s.graph.Lookup(ctx, fromIdentifier(norm))
			return p.ID, err
		}
	default:
		invalid.Add("profile", "name the profile by profile or by identifier")
	}
	return func() (string, error) { return "", invalid }
}

func toConsents(consents []profile.Consent) []*profilev1.Consent {
	out := make([]*profilev1.Consent, len(consents))
	for i, c := range consents {
		status := profilev1.ConsentStatus_CONSENT_STATUS_DENIED
		if c.Granted {
			status = profilev1.ConsentStatus_CONSENT_STATUS_GRANTED
		}
		out[i] = &profilev1.Consent{Purpose: c.Purpose, Status: status, Source: c.Source, ConsentTime: timestamppb.New(c.Time)}
	}
	return out
}

// detailed returns p as a proto with its consents and trait sources.
func (s *Server) detailed(ctx context.Context, p profile.Profile) (*profilev1.Profile, error) {
	pb, err := toProto(p)
	if err != nil {
		return nil, err
	}
	consents, err := s.graph.Consents(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	pb.Consents = toConsents(consents)
	pb.TraitSources = toTraitSources(p.Sources)
	return pb, nil
}
