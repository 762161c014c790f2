package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

const ana = "profiles/ana"

// state is what the store returns of ana.
type state struct {
	profile     *segment.Profile
	memberships []segment.Membership
}

func stateOf(t *testing.T, s *Store) state {
	t.Helper()
	ctx := context.Background()
	var st state
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
		got, err := tx.Profiles(ctx, []string{ana}, []string{"Order Completed"})
		st.profile = got[ana]
		return err
	}))
	ms, err := s.ProfileMemberships(ctx, ana)
	require.NoError(t, err)
	st.memberships = ms
	return st
}

// seeded returns a store where ana has traits, consents, a fact, a
// membership and a check.
func seeded(t *testing.T) *Store {
	t.Helper()
	s := New()
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
		order := segment.Fact{Profile: ana, Seq: 1, Event: condition.Event{Name: "Order Completed", Time: t0,
			Numbers: map[string]float64{"revenue": 12.5}, Strings: map[string]string{"category": "shoes"}}}
		_, err := tx.Record(ctx, []segment.Change{{Segment: "buyers", Profile: ana, Kind: segment.Entered, Time: t0, Revision: 1}})
		return errors.Join(err,
			tx.SaveProfiles(ctx, []*segment.Profile{{Name: ana, Traits: map[string]any{"city": "London"}}}),
			tx.SetConsents(ctx, ana, map[string]bool{"email": true}),
			tx.AddFacts(ctx, []segment.Fact{order}),
			tx.SetNextChecks(ctx, []segment.Check{{Profile: ana, At: t0.Add(time.Hour)}}))
	}))
	return s
}

// TestFailedUpdateRestoresProfile deletes or erases a profile, then
// writes it again in the same transaction, which fails: every write is
// undone, whatever became of the profile's entry in between.
func TestFailedUpdateRestoresProfile(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	for name, remove := range map[string]func(tx segment.Tx) error{
		"delete": func(tx segment.Tx) error { return tx.DeleteProfiles(ctx, []string{ana}) },
		"erase":  func(tx segment.Tx) error { return tx.EraseProfile(ctx, ana) },
	} {
		t.Run(name, func(t *testing.T) {
			s := seeded(t)
			want := stateOf(t, s)
			require.Len(t, want.profile.Events, 1)
			err := s.Update(ctx, func(tx segment.Tx) error {
				require.NoError(t, remove(tx))
				_, err := tx.Record(ctx, []segment.Change{
					{Segment: "buyers", Profile: ana, Kind: segment.Exited, Time: t0, Revision: 1},
					{Segment: "vip", Profile: ana, Kind: segment.Entered, Time: t0, Revision: 1},
				})
				require.NoError(t, err)
				require.NoError(t, tx.AddFacts(ctx, []segment.Fact{{Profile: ana, Seq: 2, Event: condition.Event{Name: "Order Completed", Time: t0}}}))
				require.NoError(t, tx.SaveProfiles(ctx, []*segment.Profile{{Name: ana}}))
				return boom
			})
			require.ErrorIs(t, err, boom)
			require.Equal(t, want, stateOf(t, s))
			require.Len(t, s.profiles, 1)
		})
	}
}

// TestErasedProfileLeavesNoEntry checks that the store keeps nothing named
// after an erased profile, nor after a profile whose last membership ended.
func TestErasedProfileLeavesNoEntry(t *testing.T) {
	ctx := context.Background()
	s := seeded(t)
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
		_, err := tx.Record(ctx, []segment.Change{{Segment: "gone", Profile: "profiles/bob", Kind: segment.Entered, Time: t0, Revision: 1}})
		return err
	}))
	require.Len(t, s.profiles, 2)
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
		_, err := tx.Record(ctx, []segment.Change{{Segment: "gone", Profile: "profiles/bob", Kind: segment.Exited, Time: t0, Revision: 1}})
		return errors.Join(err, tx.EraseProfile(ctx, ana))
	}))
	require.Empty(t, s.profiles)
	for _, members := range s.members {
		require.Empty(t, members)
	}
	require.Zero(t, s.checks.Len())
}

// TestFailedExitRestoresMembership ends the only membership of a profile
// the store knows nothing else of, which drops its entry, in a transaction
// that fails: the membership is back.
func TestFailedExitRestoresMembership(t *testing.T) {
	ctx := context.Background()
	s := New()
	enter := segment.Change{Segment: "buyers", Profile: "profiles/bob", Kind: segment.Entered, Time: t0, Revision: 1}
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error {
		_, err := tx.Record(ctx, []segment.Change{enter})
		return err
	}))
	boom := errors.New("boom")
	require.ErrorIs(t, s.Update(ctx, func(tx segment.Tx) error {
		exit := enter
		exit.Kind = segment.Exited
		_, err := tx.Record(ctx, []segment.Change{exit})
		require.NoError(t, err)
		return boom
	}), boom)
	members, err := s.ListMembers(ctx, "buyers", "", 10)
	require.NoError(t, err)
	require.Equal(t, []segment.Membership{{Segment: "buyers", Profile: "profiles/bob", EnterTime: t0, Revision: 1}}, members)
	ms, err := s.ProfileMemberships(ctx, "profiles/bob")
	require.NoError(t, err)
	require.Equal(t, members, ms)
}

// TestFailedDeleteRestoresProfile deletes a profile with traits only,
// which drops its entry, in a transaction that fails: the profile is back.
func TestFailedDeleteRestoresProfile(t *testing.T) {
	ctx := context.Background()
	s := New()
	saved := &segment.Profile{Name: "profiles/cy", Traits: map[string]any{"city": "Oslo"}}
	require.NoError(t, s.Update(ctx, func(tx segment.Tx) error { return tx.SaveProfiles(ctx, []*segment.Profile{saved}) }))
	boom := errors.New("boom")
	require.ErrorIs(t, s.Update(ctx, func(tx segment.Tx) error {
		require.NoError(t, tx.DeleteProfiles(ctx, []string{saved.Name}))
		return boom
	}), boom)
	page, err := s.ProfilePage(ctx, "", 10, nil)
	require.NoError(t, err)
	require.Equal(t, []*segment.Profile{saved}, page)
}
