package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

func TestProfileChangeFromProto(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ids := func(values ...string) []*typev1.Identifier {
		var out []*typev1.Identifier
		for _, v := range values {
			out = append(out, &typev1.Identifier{Type: "anonymous_id", Value: v})
		}
		return out
	}
	tests := []struct {
		name string
		in   *profilev1.ProfileChange
		want event.ProfileChange
		err  string
	}{
		{"merged", &profilev1.ProfileChange{Cursor: "3", ChangeTime: timestamppb.New(at), Change: &profilev1.ProfileChange_Merged{Merged: &profilev1.ProfileMerged{
			Survivor: "profiles/a", MergedProfile: "profiles/b", Identifiers: ids("b1"), Rule: "manual"}}},
			event.ProfileChange{Seq: 3, Kind: event.UpdateMerged, Time: at, Profile: "a", Other: "b"}, ""},
		{"unmerged", &profilev1.ProfileChange{Cursor: "4", ChangeTime: timestamppb.New(at), Change: &profilev1.ProfileChange_Unmerged{Unmerged: &profilev1.ProfileUnmerged{
			Profile: "profiles/b", Survivor: "profiles/a", Identifiers: ids("b1"), SurvivorIdentifiers: ids("a1")}}},
			event.ProfileChange{Seq: 4, Kind: event.UpdateUnmerged, Time: at, Profile: "a", Other: "b",
				Identifiers: []event.Identifier{{Type: "anonymous_id", Value: "b1"}}, Kept: []event.Identifier{{Type: "anonymous_id", Value: "a1"}}}, ""},
		{"consent", &profilev1.ProfileChange{Cursor: "5", ChangeTime: timestamppb.New(at), Change: &profilev1.ProfileChange_ConsentChanged{ConsentChanged: &profilev1.ConsentChanged{
			Profile: "profiles/a", Consents: []*profilev1.Consent{
				{Purpose: "email", Status: profilev1.ConsentStatus_CONSENT_STATUS_GRANTED, Source: "form", ConsentTime: timestamppb.New(at)},
				{Purpose: "sms", Status: profilev1.ConsentStatus_CONSENT_STATUS_DENIED, Source: "form", ConsentTime: timestamppb.New(at)},
			}}}},
			event.ProfileChange{Seq: 5, Kind: event.UpdateConsent, Time: at, Profile: "a", Consents: []event.Consent{
				{Purpose: "email", Granted: true, Source: "form", Time: at}, {Purpose: "sms", Source: "form", Time: at}}}, ""},
		{"erased", &profilev1.ProfileChange{Cursor: "6", ChangeTime: timestamppb.New(at), Change: &profilev1.ProfileChange_Erased{Erased: &profilev1.ProfileErased{Profile: "profiles/a"}}},
			event.ProfileChange{Seq: 6, Kind: event.UpdateErased, Time: at, Profile: "a"}, ""},
		{"merge without the merged profile", &profilev1.ProfileChange{Cursor: "7", Change: &profilev1.ProfileChange_Merged{Merged: &profilev1.ProfileMerged{Survivor: "profiles/a"}}},
			event.ProfileChange{}, "profile missing"},
		{"unknown kind", &profilev1.ProfileChange{Cursor: "8"}, event.ProfileChange{}, "unknown kind"},
		{"bad cursor", &profilev1.ProfileChange{Cursor: "x"}, event.ProfileChange{}, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := profileChangeFromProto(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
