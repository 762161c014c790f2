package ident_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/ident"
)

func TestParseNormalizes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"email: Ana@Example.COM ", "email:ana@example.com"},
		{"phone:+44 20 7946-0958", "phone:+442079460958"},
		{"phone:0044 (20) 7946 0958", "phone:+442079460958"},
		{"user_id:42", "user_id:42"},
		{"anonymous_id: a1 ", "anonymous_id:a1"},
		{"loyalty_card:LC-9", "loyalty_card:LC-9"},
		{"user_id:a:b", "user_id:a:b"},
	} {
		id, err := ident.Parse(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, ident.String(id))
	}
}

func TestParseRejects(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ana@example.com", "want type:value"},
		{"Email:ana@example.com", "identifier type"},
		{"1d:x", "identifier type"},
		{"_d:x", "identifier type"},
		{"de-vice:x", "identifier type"},
		{":x", "identifier type"},
		{strings.Repeat("d", 64) + ":x", "identifier type"},
		{"user_id:a\x00", "NUL character"},
		{"email:not-an-email", `email "not-an-email" is not an email address`},
		{"email:ana @example.com", "is not an email address"},
		{"phone:020 7946 0958", "country code"},
		{"phone:+44 20 x", "unexpected character"},
		{"phone:+4412", "8 to 15 digits"},
		{"user_id:  ", "empty value"},
		{"user_id:" + strings.Repeat("x", ident.MaxValueLen+1), "the limit is"},
	} {
		_, err := ident.Parse(tt.in)
		require.ErrorContains(t, err, tt.want, tt.in)
	}
	for _, typ := range []string{"d", "device_id", "x9_", strings.Repeat("d", 63)} {
		_, err := ident.Parse(typ + ":v")
		require.NoError(t, err, typ)
	}
}
