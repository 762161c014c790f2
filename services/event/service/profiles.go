package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/barista-cdp/barista/pkg/feed"
	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/identity"
)

// profileConsumer returns the consumer of the profile change log: it
// applies each change to the event log (re-keys, moves back or deletes
// events and appends a marker) in one transaction with its cursor.
func profileConsumer(log *event.Log, profiles profilev1.ProfileServiceClient, logger *slog.Logger) feed.Consumer[*profilev1.StreamProfileChangesResponse] {
	return feed.Consumer[*profilev1.StreamProfileChangesResponse]{
		Name:   "event<-profile",
		Logger: logger,
		Cursor: log.ProfileCursor,
		Open: func(ctx context.Context, after string) (feed.Stream[*profilev1.StreamProfileChangesResponse], error) {
			// Another replica may have applied changes while this one was
			// not following: resolutions cached before them are dropped.
			log.ClearResolutions()
			return profiles.StreamProfileChanges(ctx, &profilev1.StreamProfileChangesRequest{AfterCursor: after})
		},
		Apply: func(ctx context.Context, msg *profilev1.StreamProfileChangesResponse) error {
			for _, pc := range msg.GetChanges() {
				c, err := profileChangeFromProto(pc)
				if err != nil {
					return err
				}
				if err := log.ApplyProfileChange(ctx, c); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// profileChangeFromProto reads a change of the profile change log.
func profileChangeFromProto(pc *profilev1.ProfileChange) (event.ProfileChange, error) {
	seq, err := feed.DecodeCursor("cursor", pc.GetCursor())
	if err != nil {
		return event.ProfileChange{}, err
	}
	c := event.ProfileChange{Seq: seq, Time: pc.GetChangeTime().AsTime()}
	switch ch := pc.GetChange().(type) {
	case *profilev1.ProfileChange_Merged:
		c.Kind = event.UpdateMerged
		c.Profile, c.Other = profileID(ch.Merged.GetSurvivor()), profileID(ch.Merged.GetMergedProfile())
	case *profilev1.ProfileChange_Unmerged:
		c.Kind = event.UpdateUnmerged
		c.Profile, c.Other = profileID(ch.Unmerged.GetSurvivor()), profileID(ch.Unmerged.GetProfile())
		c.Identifiers, c.Kept = identifiers(ch.Unmerged.GetIdentifiers()), identifiers(ch.Unmerged.GetSurvivorIdentifiers())
	case *profilev1.ProfileChange_ConsentChanged:
		c.Kind = event.UpdateConsent
		c.Profile = profileID(ch.ConsentChanged.GetProfile())
		for _, pc := range ch.ConsentChanged.GetConsents() {
			c.Consents = append(c.Consents, event.Consent{
				Purpose: pc.GetPurpose(), Granted: pc.GetStatus() == profilev1.ConsentStatus_CONSENT_STATUS_GRANTED,
				Source: pc.GetSource(), Time: pc.GetConsentTime().AsTime(),
			})
		}
	case *profilev1.ProfileChange_Erased:
		c.Kind = event.UpdateErased
		c.Profile = profileID(ch.Erased.GetProfile())
	default:
		return c, fmt.Errorf("profile change %s: unknown kind %T", pc.GetCursor(), pc.GetChange())
	}
	if c.Profile == "" || (c.Kind <= event.UpdateUnmerged && c.Other == "") {
		return c, fmt.Errorf("profile change %s: profile missing", pc.GetCursor())
	}
	return c, nil
}

func profileID(name string) string {
	return strings.TrimPrefix(name, identity.ProfilePrefix)
}

func identifiers(ids []*typev1.Identifier) []event.Identifier {
	out := make([]event.Identifier, len(ids))
	for i, id := range ids {
		out[i] = event.Identifier{Type: id.GetType(), Value: id.GetValue()}
	}
	return out
}
