package match_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// TestObserve checks how signals are kept: new values replace old ones
// field by field, name and postcode come from traits, and an unchanged
// observation writes nothing (its change position stays).
func TestObserve(t *testing.T) {
	ctx := context.Background()
	graph := profile.NewGraph(memory.New(), profile.Options{})
	st := graph.MatchStore()
	res, err := graph.Resolve(ctx, profile.Request{
		Identifiers: []profile.Identifier{{Type: "anonymous_id", Value: "a"}},
		Traits:      map[string]any{"firstName": "Zoë", "lastName": "O'Neil", "address": map[string]any{"postalCode": "sw1a 1aa"}},
	})
	require.NoError(t, err)
	m := match.New(graph, st, match.Options{})
	read := func() profile.Signals {
		t.Helper()
		got, err := st.MatchSignals(ctx, []string{res.Profile.ID})
		require.NoError(t, err)
		require.Len(t, got, 1)
		return got[0]
	}

	require.NoError(t, m.Observe(ctx, res.Profile, match.Observation{IP: "10.0.0.1", UserAgent: "UA", Created: true}))
	s := read()
	require.Equal(t, "zoë o neil", s.Name)
	require.Equal(t, "SW1A1AA", s.Postcode)
	require.Equal(t, []string{"ipua:10.0.0.1|UA", "np:SW1A1AA|N400"}, s.Keys)

	require.NoError(t, m.Observe(ctx, res.Profile, match.Observation{Fingerprint: "fp"}))
	s2 := read()
	require.Equal(t, "10.0.0.1", s2.IP, "fields not observed keep their value")
	require.Equal(t, "fp", s2.Fingerprint)
	require.Greater(t, s2.Seq, s.Seq)

	require.NoError(t, m.Observe(ctx, res.Profile, match.Observation{IP: "10.0.0.1"}))
	require.Equal(t, s2.Seq, read().Seq, "an unchanged observation writes nothing")

	// A second matcher (another process) reads what is stored first.
	other := match.New(graph, st, match.Options{})
	require.NoError(t, other.Observe(ctx, res.Profile, match.Observation{UserAgent: "UA"}))
	require.Equal(t, s2.Seq, read().Seq)
	require.NoError(t, other.Observe(ctx, res.Profile, match.Observation{UserAgent: "UA2"}))
	require.Equal(t, "fp", read().Fingerprint)
	require.Equal(t, "UA2", read().UserAgent)
}

func TestTraitName(t *testing.T) {
	require.Equal(t, "ana lima", match.TraitName(map[string]any{"name": "  Ana  LIMA "}))
	require.Equal(t, "ana lima", match.TraitName(map[string]any{"first_name": "Ana", "last_name": "Lima"}))
	require.Equal(t, "", match.TraitName(map[string]any{"name": 42}))
	require.Equal(t, "12345", match.TraitPostcode(map[string]any{"zip": "12345"}))
	require.Equal(t, "", match.TraitPostcode(map[string]any{"address": "nowhere"}))
}
