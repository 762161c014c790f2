package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/pgtest"
	"github.com/barista-cdp/barista/services/profile/internal/postgres"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
	"github.com/barista-cdp/barista/services/profile/migrations"
)

// TestEraseRemovesTraitChanges checks what the conformance suite cannot
// see through the Store interface: that no row of an erased person's trait
// history stays in profile.trait_changes.
func TestEraseRemovesTraitChanges(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t, "profile", migrations.FS)
	g := profile.NewGraph(postgres.New(pool), profile.Options{})
	resolve := func(traits map[string]any, id string) profile.Profile {
		res, err := g.Resolve(ctx, profile.Request{Identifiers: []profile.Identifier{{Type: "email", Value: id}}, Traits: traits, Source: "m-" + id})
		require.NoError(t, err)
		return res.Profile
	}
	erin := resolve(map[string]any{"name": "Erin"}, "erin@example.com")
	resolve(map[string]any{"plan": "gold"}, "erin@example.com")
	bea := resolve(map[string]any{"name": "Bea"}, "bea@example.com")
	count := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM profile.trait_changes`).Scan(&n))
		return n
	}
	require.Equal(t, 3, count())

	_, err := g.Erase(ctx, erin.ID)
	require.NoError(t, err)
	require.Equal(t, 1, count())
	var left string
	require.NoError(t, pool.QueryRow(ctx, `SELECT profile_id::text FROM profile.trait_changes`).Scan(&left))
	require.Equal(t, bea.ID, left)
}
