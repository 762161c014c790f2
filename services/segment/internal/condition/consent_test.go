package condition_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

func TestConsent(t *testing.T) {
	c, err := condition.Compile(`consent("email") && count("Order Completed") > 0`)
	require.NoError(t, err)
	require.Equal(t, []string{"Order Completed"}, c.EventNames(), "consent reads no events")
	require.Empty(t, c.Segments())

	for _, tt := range []struct {
		consents map[string]bool
		want     bool
	}{
		{nil, false},
		{map[string]bool{"email": true}, true},
		{map[string]bool{"email": false}, false},
		{map[string]bool{"sms": true}, false},
	} {
		f := facts()
		f.Consents = tt.consents
		got, err := c.Eval(f, now)
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "consents %v", tt.consents)
	}
	require.Zero(t, c.NextChange(facts(), now), "time alone never changes a consent")

	_, err = condition.Compile(`consent("")`)
	require.ErrorContains(t, err, "1:9: consent:")
	_, err = condition.Compile(`consent(purpose)`)
	require.ErrorContains(t, err, "1:9: undeclared reference to 'purpose'")
}
