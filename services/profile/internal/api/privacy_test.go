package api_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	profilev1 "github.com/barista-cdp/barista/pkg/gen/barista/profile/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

func TestDeleteAndExportProfile(t *testing.T) {
	ctx := context.Background()
	client := start(t)
	ana, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("email", "ana@example.com"), id("anonymous_id", "a1")}})
	require.NoError(t, err)
	name := ana.GetProfile().GetName()
	_, err = client.SetConsent(ctx, &profilev1.SetConsentRequest{Profile: name, Consents: []*profilev1.Consent{
		{Purpose: "sms", Status: profilev1.ConsentStatus_CONSENT_STATUS_DENIED, Source: "support"},
	}})
	require.NoError(t, err)

	x, err := client.ExportProfile(ctx, &profilev1.ExportProfileRequest{Identifier: id("email", "ANA@example.com")})
	require.NoError(t, err)
	require.Equal(t, name, x.GetProfile().GetName())
	require.Len(t, x.GetIdentifierLinks(), 2)
	require.NotNil(t, x.GetIdentifierLinks()[0].GetObserveTime())
	require.Len(t, x.GetConsents(), 1)
	require.Equal(t, name, x.GetConsents()[0].GetProfile())
	require.Equal(t, "support", x.GetConsents()[0].GetConsent().GetSource())
	require.NotNil(t, x.GetExportTime())

	for _, req := range []*profilev1.DeleteProfileRequest{
		{},
		{Profile: name, Identifier: id("email", "ana@example.com")},
		{Profile: "profiles/not-a-uuid"},
		{Identifier: id("email", "not an email")},
	} {
		_, err := client.DeleteProfile(ctx, req)
		require.Equal(t, codes.InvalidArgument, status.Code(err), req.String())
	}

	del, err := client.DeleteProfile(ctx, &profilev1.DeleteProfileRequest{Profile: name})
	require.NoError(t, err)
	require.Equal(t, name, del.GetProfile())
	require.Equal(t, []string{name}, del.GetErasedProfiles())
	require.Len(t, del.GetIdentifiers(), 2)
	require.EqualValues(t, 1, del.GetConsentsErased())
	require.NotNil(t, del.GetEraseTime())

	_, err = client.DeleteProfile(ctx, &profilev1.DeleteProfileRequest{Profile: name})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = client.ExportProfile(ctx, &profilev1.ExportProfileRequest{Profile: name})
	require.Equal(t, codes.NotFound, status.Code(err))

	_, err = client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("email", "ana@example.com")}})
	require.Contains(t, violations(t, err)["identifiers"], "email is suppressed")
	res, err := client.ResolveProfile(ctx, &profilev1.ResolveProfileRequest{Identifiers: []*typev1.Identifier{id("email", "ana@example.com"), id("anonymous_id", "a2")}})
	require.NoError(t, err)
	require.True(t, res.GetCreated())
	require.Len(t, res.GetIgnoredIdentifiers(), 1)
	require.Equal(t, "suppressed", res.GetIgnoredIdentifiers()[0].GetRule())
}
