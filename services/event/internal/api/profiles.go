package api

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

// updateToProto is the proto form of a marker of a profile change.
func updateToProto(u *event.ProfileUpdate) *eventv1.ProfileUpdate {
	out := &eventv1.ProfileUpdate{Kind: eventv1.ProfileUpdateKind(u.Kind), UpdateTime: timestamppb.New(u.Time)}
	for _, p := range u.Profiles {
		out.Profiles = append(out.Profiles, profileName(p))
	}
	for _, c := range u.Consents {
		out.Consents = append(out.Consents, &eventv1.ProfileConsent{
			Purpose: c.Purpose, Granted: c.Granted, Source: c.Source, ConsentTime: timestamppb.New(c.Time),
		})
	}
	return out
}
