package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// RunPrivacy runs the conformance suite of profile.PrivacyStore: erasure,
// suppression and export; newStore returns a fresh, empty store.
func RunPrivacy(t *testing.T, newStore func(t *testing.T) profile.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, g *profile.Graph, s profile.Store)
	}{
		{"Erase", testErase},
		{"EraseUnmerged", testEraseUnmerged},
		{"Suppression", testSuppression},
		{"SuppressionKey", testSuppressionKey},
		{"ConcurrentErase", testConcurrentErase},
		{"Export", testExport},
		{"EraseTraitChanges", testEraseTraitChanges},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy, err := profile.DefaultRules().Compile()
			require.NoError(t, err)
			clock := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
			s := newStore(t)
			tt.run(t, profile.NewGraph(s, profile.Options{Now: clock.now, Policy: policy}), s)
		})
	}
}

// person makes a person of two profiles, the second merged into the first,
// with consents on both, and a bystander; it returns the survivor, the
// merged profile and the bystander.
func person(t *testing.T, g *profile.Graph) (survivor, merged, bystander profile.Profile) {
	t.Helper()
	ctx := context.Background()
	a := resolve(t, g, map[string]any{"name": "Ana"}, "anonymous_id:a1", "email:ana@example.com", "phone:+14155550100").Profile
	b := resolve(t, g, map[string]any{"city": "Lisbon"}, "anonymous_id:b1", "user_id:u-ana").Profile
	_, _, err := g.SetConsents(ctx, b.ID, []profile.Consent{{Purpose: "email", Granted: true, Source: "signup-form"}})
	require.NoError(t, err)
	_, _, err = g.SetConsents(ctx, a.ID, []profile.Consent{{Purpose: "sms", Source: "support"}})
	require.NoError(t, err)
	res := resolve(t, g, nil, "anonymous_id:b1", "email:ana@example.com")
	require.Equal(t, []string{b.ID}, res.Merged)
	c := resolve(t, g, map[string]any{"name": "Bea"}, "anonymous_id:c1", "email:bea@example.com").Profile
	return res.Profile, b, c
}

var personIDs = []string{"user_id:u-ana", "email:ana@example.com", "phone:+14155550100", "anonymous_id:a1", "anonymous_id:b1"}

func testErase(t *testing.T, g *profile.Graph, s profile.Store) {
	ctx := context.Background()
	a, b, c := person(t, g)
	// Matching signals and a candidate pair with the bystander.
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, p := range []profile.Profile{a, c} {
		require.NoError(t, s.SetMatchSignals(ctx, profile.Signals{ProfileID: p.ID, Name: "ana lima", Postcode: "1000-001", Keys: []string{"np:ana lima|1000-001"}, UpdateTime: at}))
	}
	pair := []string{a.ID, c.ID}
	slices.Sort(pair)
	_, err := s.ProposeMatch(ctx, profile.Candidate{A: pair[0], B: pair[1], Score: 12, State: profile.CandidatePending, CreateTime: at})
	require.NoError(t, err)
	// Refused joins with the bystander, either way round.
	require.NoError(t, s.AddRefusals(ctx, []profile.Refusal{
		{Profile: a.ID, Other: c.ID, Rule: profile.RuleLimit, Type: "email", Time: at},
		{Profile: c.ID, Other: a.ID, Rule: profile.RuleShared, Type: "device_id", Time: at},
	}))
	before, err := g.Notices(ctx, 0, 1000)
	require.NoError(t, err)

	// Naming the merged profile erases the person it belongs to.
	e, err := g.Erase(ctx, b.ID)
	require.NoError(t, err)
	signals, err := s.MatchSignals(ctx, []string{a.ID, c.ID})
	require.NoError(t, err)
	require.Len(t, signals, 1, "the erased profile's matching signals go")
	require.Equal(t, c.ID, signals[0].ProfileID)
	candidates, err := s.MatchCandidates(ctx, profile.CandidateAny, 0, 100)
	require.NoError(t, err)
	require.Empty(t, candidates, "a candidate pair naming the erased profile goes")
	refusals, _, err := s.Refusals(ctx, 0, 100)
	require.NoError(t, err)
	require.Empty(t, refusals, "refused joins naming the erased profile go")
	require.NoError(t, err)
	require.Equal(t, a.ID, e.Profile)
	require.Equal(t, []string{a.ID, b.ID}, e.Profiles)
	require.Equal(t, personIDs, texts(e.Identifiers))
	require.Equal(t, 2, e.Consents)
	require.Equal(t, 1, e.Merges)
	require.False(t, e.Time.IsZero())

	for _, id := range []string{a.ID, b.ID} {
		_, err := g.Get(ctx, id)
		require.ErrorIs(t, err, profile.ErrNotFound)
		consents, err := g.Consents(ctx, id)
		require.NoError(t, err)
		require.Empty(t, consents)
		merges, err := g.Merges(ctx, id)
		require.NoError(t, err)
		require.Empty(t, merges)
	}
	for _, x := range personIDs {
		_, err := g.Lookup(ctx, ids(x)[0])
		require.ErrorIs(t, err, profile.ErrNotFound, x)
		suppressed, err := g.Suppressed(ctx, ids(x)[0])
		require.NoError(t, err)
		require.True(t, suppressed, x)
	}
	suppressed, err := g.Suppressed(ctx, ids("email:bea@example.com")[0])
	require.NoError(t, err)
	require.False(t, suppressed, "a bystander's identifier is not suppressed")
	require.Equal(t, []string{c.ID}, profileIDs(listAll(t, g)), "the bystander stays")
	require.Equal(t, c, get(t, g, c.ID))

	_, err = g.Erase(ctx, a.ID)
	require.ErrorIs(t, err, profile.ErrNotFound, "an erased person cannot be erased again")

	// The change log announces the erasure and keeps no identifier of the
	// erased profiles.
	after, err := g.Notices(ctx, 0, 1000)
	require.NoError(t, err)
	require.Len(t, after, len(before)+1)
	last := after[len(after)-1]
	require.Equal(t, profile.NoticeErased, last.Kind)
	require.Equal(t, a.ID, last.Profile)
	for _, n := range after {
		if n.Profile == a.ID || n.Profile == b.ID || n.Other == a.ID || n.Other == b.ID {
			require.Empty(t, n.Identifiers, "notice %d", n.Seq)
			require.Empty(t, n.Kept, "notice %d", n.Seq)
			require.Empty(t, n.Consents, "notice %d", n.Seq)
		}
	}
}

// testEraseUnmerged erases a survivor after an unmerge: the profile split
// back out is another person and stays, with its identifiers, and the merge
// log entry naming the erased profile goes.
func testEraseUnmerged(t *testing.T, g *profile.Graph, _ profile.Store) {
	ctx := context.Background()
	a, b, _ := person(t, g)
	_, restored, err := g.Unmerge(ctx, b.ID)
	require.NoError(t, err)
	e, err := g.Erase(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID}, e.Profiles)
	require.Equal(t, []string{"email:ana@example.com", "phone:+14155550100", "anonymous_id:a1"}, texts(e.Identifiers))
	require.Equal(t, 1, e.Consents)
	require.Equal(t, 1, e.Merges)
	require.Equal(t, restored, get(t, g, b.ID))
	merges, err := g.Merges(ctx, b.ID)
	require.NoError(t, err)
	require.Empty(t, merges, "the merge with the erased profile is erased")
	consents, err := g.Consents(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, consents, 1)
	require.Equal(t, "email", consents[0].Purpose)
	require.Equal(t, "signup-form", consents[0].Source)
}

func testSuppression(t *testing.T, g *profile.Graph, _ profile.Store) {
	ctx := context.Background()
	a, _, c := person(t, g)
	_, err := g.Erase(ctx, a.ID)
	require.NoError(t, err)

	// Only suppressed identifiers: the call is refused and nothing is made.
	_, err = g.Resolve(ctx, profile.Request{Identifiers: ids("email:ana@example.com", "anonymous_id:a1")})
	var invalid *apierror.InvalidError
	require.ErrorAs(t, err, &invalid)
	require.Contains(t, err.Error(), "email is suppressed")
	require.NotContains(t, err.Error(), "ana@example.com", "the refusal does not echo the erased value")
	require.Len(t, listAll(t, g), 1)

	// A new identifier with a suppressed one makes a profile of the new one
	// only, and reports the other as ignored.
	res := resolve(t, g, nil, "anonymous_id:fresh", "email:ana@example.com")
	require.True(t, res.Created)
	require.Equal(t, []string{"anonymous_id:fresh"}, texts(res.Profile.Identifiers))
	require.Equal(t, []string{"suppressed email:ana@example.com"}, ignored(res))

	// A suppressed identifier does not join a live profile either.
	res = resolve(t, g, nil, "email:bea@example.com", "phone:+14155550100")
	require.Equal(t, c.ID, res.Profile.ID)
	require.Equal(t, []string{"email:bea@example.com", "anonymous_id:c1"}, texts(res.Profile.Identifiers))
	require.Equal(t, []string{"suppressed phone:+14155550100"}, ignored(res))

	// Nor through a manual merge, which needs a holder.
	_, _, err = g.MergeProfiles(ctx, ids("email:bea@example.com")[0], ids("email:ana@example.com")[0], "test")
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// testSuppressionKey checks that a configured key replaces the store's: an
// identifier suppressed under one key is not suppressed under another.
func testSuppressionKey(t *testing.T, g *profile.Graph, s profile.Store) {
	ctx := context.Background()
	a, _, _ := person(t, g)
	_, err := g.Erase(ctx, a.ID)
	require.NoError(t, err)
	key, err := s.SuppressionKey(ctx)
	require.NoError(t, err)
	require.Len(t, key, 32)
	again, err := s.SuppressionKey(ctx)
	require.NoError(t, err)
	require.Equal(t, key, again, "the store keeps one key")
	other := profile.NewGraph(s, profile.Options{SuppressionKey: []byte("another-key-of-at-least-32-bytes!!")})
	suppressed, err := other.Suppressed(ctx, ids("email:ana@example.com")[0])
	require.NoError(t, err)
	require.False(t, suppressed)
	same := profile.NewGraph(s, profile.Options{SuppressionKey: key})
	suppressed, err = same.Suppressed(ctx, ids("email:ana@example.com")[0])
	require.NoError(t, err)
	require.True(t, suppressed)
}

// testConcurrentErase erases a person while their identifiers are resolved
// with new ones: once the erasure and the resolutions are done, no profile
// holds an erased identifier, and each resolution either ran before the
// erasure or ignored the erased identifiers (or asked to be retried).
func testConcurrentErase(t *testing.T, g *profile.Graph, _ profile.Store) {
	ctx := context.Background()
	a, _, _ := person(t, g)
	const workers, rounds = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range rounds {
				_, err := g.Resolve(ctx, profile.Request{Identifiers: ids("email:ana@example.com", fmt.Sprintf("anonymous_id:w%d-%d", w, r))})
				if err != nil && !errors.Is(err, profile.ErrErasedMeanwhile) {
					errs <- err
				}
			}
		}()
	}
	close(start)
	_, err := g.Erase(ctx, a.ID)
	require.NoError(t, err)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err = g.Lookup(ctx, ids("email:ana@example.com")[0])
	require.ErrorIs(t, err, profile.ErrNotFound, "no profile holds the erased email")
	for _, p := range listAll(t, g) {
		for _, x := range p.Identifiers {
			require.NotContains(t, personIDs, x.String())
		}
	}
}

func testExport(t *testing.T, g *profile.Graph, _ profile.Store) {
	ctx := context.Background()
	a, b, _ := person(t, g)
	x, err := g.Export(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, a, x.Profile)
	require.Len(t, x.Merged, 1)
	require.Equal(t, b.ID, x.Merged[0].ID)
	require.Empty(t, x.Merged[0].Identifiers)
	require.Equal(t, map[string]any{"city": "Lisbon"}, x.Merged[0].Traits, "a merged profile keeps the traits it had")
	require.Len(t, x.Consents, 2)
	got := map[string]profile.Consent{}
	for _, c := range x.Consents {
		got[c.Profile+"/"+c.Purpose] = c.Consent
	}
	require.Equal(t, "signup-form", got[b.ID+"/email"].Source)
	require.True(t, got[b.ID+"/email"].Granted)
	require.Equal(t, "support", got[a.ID+"/sms"].Source)
	require.False(t, got[a.ID+"/sms"].Time.IsZero())
	require.Len(t, x.Merges, 1)
	require.Equal(t, a.ID, x.Merges[0].Survivor)
	require.Equal(t, b.ID, x.Merges[0].Merged)
	require.False(t, x.Time.IsZero())

	_, err = g.Export(ctx, "0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f")
	require.ErrorIs(t, err, profile.ErrNotFound)
}
