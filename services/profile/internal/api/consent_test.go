package api_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

func TestConsent(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	ana, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("email", "ana@example.com")}})
	require.NoError(t, err)
	name := ana.GetProfile().GetName()

	set, err := client.SetConsent(ctx, &profilev1.SetConsentRequest{
		Identifier: id("email", "ANA@example.com"),
		Consents: []*profilev1.Consent{
			{Purpose: "email", Status: profilev1.ConsentStatus_CONSENT_STATUS_GRANTED, Source: "signup-form", ConsentTime: timestamppb.New(t0)},
			{Purpose: "sms", Status: profilev1.ConsentStatus_CONSENT_STATUS_DENIED, Source: "signup-form"},
		},
	})
	require.NoError(t, err)
	require.Equal(t, name, set.GetProfile())
	require.Len(t, set.GetConsents(), 2)
	require.Equal(t, "email", set.GetConsents()[0].GetPurpose())
	require.True(t, set.GetConsents()[0].GetConsentTime().AsTime().Equal(t0))
	require.NotNil(t, set.GetConsents()[1].GetConsentTime(), "the time defaults to now")

	got, err := client.GetConsent(ctx, &profilev1.GetConsentRequest{Profile: name})
	require.NoError(t, err)
	require.Empty(t, cmpDiff(t, set.GetConsents(), got.GetConsents()))
	p, err := client.GetProfile(ctx, &profilev1.GetProfileRequest{Name: name})
	require.NoError(t, err)
	require.Empty(t, cmpDiff(t, set.GetConsents(), p.GetProfile().GetConsents()), "consent is carried on the profile")
	found, err := client.LookupProfile(ctx, &profilev1.LookupProfileRequest{Identifier: id("email", "ana@example.com")})
	require.NoError(t, err)
	require.Len(t, found.GetProfile().GetConsents(), 2)

	_, err = client.SetConsent(ctx, &profilev1.SetConsentRequest{
		Profile: name, Identifier: id("email", "ana@example.com"),
		Consents: []*profilev1.Consent{{Purpose: "fax", Source: "x"}},
	})
	got2 := violations(t, err)
	require.Contains(t, got2["profile"], "not both")
	require.Contains(t, got2["consents[0].status"], "GRANTED")
	require.Contains(t, got2["consents[0].purpose"], "analytics, email, sms, personalization")

	_, err = client.GetConsent(ctx, &profilev1.GetConsentRequest{})
	require.Contains(t, violations(t, err)["profile"], "by profile or by identifier")
	_, err = client.GetConsent(ctx, &profilev1.GetConsentRequest{Identifier: id("email", "nobody@example.com")})
	require.Equal(t, codes.NotFound, status.Code(err))
}
