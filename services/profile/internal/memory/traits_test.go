package memory

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// TestEraseRemovesTraitChanges checks what the conformance suite cannot
// see through the Store interface: that no trait change of an erased
// person stays in memory.
func TestEraseRemovesTraitChanges(t *testing.T) {
	ctx := context.Background()
	s := New()
	g := profile.NewGraph(s, profile.Options{})
	resolve := func(traits map[string]any, id string) profile.Profile {
		res, err := g.Resolve(ctx, profile.Request{Identifiers: []profile.Identifier{{Type: "email", Value: id}}, Traits: traits, Source: "m-" + id})
		require.NoError(t, err)
		return res.Profile
	}
	erin := resolve(map[string]any{"name": "Erin"}, "erin@example.com")
	resolve(map[string]any{"plan": "gold"}, "erin@example.com")
	bea := resolve(map[string]any{"name": "Bea"}, "bea@example.com")
	require.Len(t, s.traits.changes, 3)

	_, err := g.Erase(ctx, erin.ID)
	require.NoError(t, err)
	require.Len(t, s.traits.changes, 1)
	require.Equal(t, bea.ID, s.traits.changes[0].Profile)
}
