package profile_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/memory"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func id(typ, value string) profile.Identifier { return profile.Identifier{Type: typ, Value: value} }

func fixedID(id string) func() string { return func() string { return id } }

// seen returns the links of identifiers all first seen at t.
func seen(t time.Time, ids ...profile.Identifier) map[profile.Identifier]profile.Link {
	out := map[profile.Identifier]profile.Link{}
	for _, id := range ids {
		out[id] = profile.Link{ObserveTime: t}
	}
	return out
}

func TestCompareOrdersByPriority(t *testing.T) {
	got := []profile.Identifier{
		id("loyalty_card", "c1"), id("anonymous_id", "a1"), id("device_id", "d1"), id("phone", "+442079460958"),
		id("email", "b@example.com"), id("user_id", "42"), id("email", "a@example.com"), id("crm_id", "x"),
	}
	slices.SortFunc(got, profile.Compare)
	require.Equal(t, []profile.Identifier{
		id("user_id", "42"), id("email", "a@example.com"), id("email", "b@example.com"), id("phone", "+442079460958"),
		id("device_id", "d1"), id("anonymous_id", "a1"), id("crm_id", "x"), id("loyalty_card", "c1"),
	}, got)
}

func TestDecide(t *testing.T) {
	now := t0.Add(time.Hour)
	observed := t0.Add(30 * time.Minute)
	old := profile.Profile{
		ID: "p-old", Identifiers: []profile.Identifier{id("anonymous_id", "a1")},
		Traits: map[string]any{"city": "London", "name": "Ana"}, CreateTime: t0, UpdateTime: t0.Add(5 * time.Minute),
		Links: seen(t0, id("anonymous_id", "a1")),
	}
	young := profile.Profile{
		ID: "p-young", Identifiers: []profile.Identifier{id("email", "ana@example.com"), id("user_id", "42")},
		Traits: map[string]any{"city": "Paris"}, CreateTime: t0.Add(time.Minute), UpdateTime: t0.Add(10 * time.Minute),
		Links: seen(t0.Add(time.Minute), id("email", "ana@example.com"), id("user_id", "42")),
	}
	other := profile.Profile{
		ID: "p-other", Identifiers: []profile.Identifier{id("user_id", "7"), id("device_id", "d1")},
		Traits: map[string]any{}, CreateTime: t0.Add(2 * time.Minute), UpdateTime: t0.Add(2 * time.Minute),
		Links: seen(t0.Add(2*time.Minute), id("user_id", "7"), id("device_id", "d1")),
	}

	tests := []struct {
		name    string
		req     profile.Request
		holders []profile.Profile
		want    profile.Resolution
		change  profile.Change
	}{
		{
			name: "nobody holds the identifiers: create, dropping null traits, set beating set-once",
			req: profile.Request{
				Identifiers:   []profile.Identifier{id("anonymous_id", "a9"), id("user_id", "9")},
				Traits:        map[string]any{"plan": "gold", "gone": nil},
				TraitsSetOnce: map[string]any{"plan": "silver", "channel": "web", "none": nil},
				Source:        "m-9", ObserveTime: observed,
			},
			want: profile.Resolution{Created: true, Profile: profile.Profile{
				ID: "new", Identifiers: []profile.Identifier{id("user_id", "9"), id("anonymous_id", "a9")},
				Traits: map[string]any{"plan": "gold", "channel": "web"}, CreateTime: now, UpdateTime: now,
				Sources: map[string]profile.TraitSource{
					"plan":    {Operation: profile.OpSet, Source: "m-9", Time: observed, SetTime: observed},
					"channel": {Operation: profile.OpSetOnce, Source: "m-9", Time: observed, Once: true, SetTime: observed},
				},
				Links: seen(observed, id("user_id", "9"), id("anonymous_id", "a9")),
			}},
			change: profile.Change{ObserveTime: observed, Create: &profile.Profile{
				ID: "new", Identifiers: []profile.Identifier{id("user_id", "9"), id("anonymous_id", "a9")},
				Traits: map[string]any{"plan": "gold", "channel": "web"}, CreateTime: now, UpdateTime: now,
				Sources: map[string]profile.TraitSource{
					"plan":    {Operation: profile.OpSet, Source: "m-9", Time: observed, SetTime: observed},
					"channel": {Operation: profile.OpSetOnce, Source: "m-9", Time: observed, Once: true, SetTime: observed},
				},
				Links: seen(observed, id("user_id", "9"), id("anonymous_id", "a9")),
			}, TraitChanges: []profile.TraitChange{
				{Profile: "new", Key: "channel", Value: "web", Operation: profile.OpSetOnce, Source: "m-9", Time: observed},
				{Profile: "new", Key: "plan", Value: "gold", Operation: profile.OpSet, Source: "m-9", Time: observed},
			}},
		},
		{
			name: "two new user ids: only the first is linked",
			req: profile.Request{
				Identifiers: []profile.Identifier{id("anonymous_id", "a9"), id("user_id", "9"), id("user_id", "10")},
				ObserveTime: observed,
			},
			want: profile.Resolution{Created: true, Profile: profile.Profile{
				ID: "new", Identifiers: []profile.Identifier{id("user_id", "9"), id("anonymous_id", "a9")},
				Traits: map[string]any{}, CreateTime: now, UpdateTime: now,
				Links: seen(observed, id("user_id", "9"), id("anonymous_id", "a9")),
			}, Ignored: []profile.Ignored{{Identifier: id("user_id", "10"), Rule: profile.RuleLimit, Reason: "a profile holds at most 1 user_id ever"}}},
			change: profile.Change{ObserveTime: observed, Create: &profile.Profile{
				ID: "new", Identifiers: []profile.Identifier{id("user_id", "9"), id("anonymous_id", "a9")},
				Traits: map[string]any{}, CreateTime: now, UpdateTime: now,
				Links: seen(observed, id("user_id", "9"), id("anonymous_id", "a9")),
			}},
		},
		{
			name:    "everything known and no new traits: no change",
			req:     profile.Request{Identifiers: []profile.Identifier{id("anonymous_id", "a1")}, Traits: map[string]any{"city": "London"}, ObserveTime: observed},
			holders: []profile.Profile{old},
			want:    profile.Resolution{Profile: old},
		},
		{
			name: "link a new identifier and set a trait",
			req: profile.Request{
				Identifiers: []profile.Identifier{id("anonymous_id", "a1"), id("phone", "+442079460958")},
				Traits:      map[string]any{"name": nil, "vip": true}, ObserveTime: observed,
			},
			holders: []profile.Profile{old},
			want: profile.Resolution{Profile: profile.Profile{
				ID: "p-old", Identifiers: []profile.Identifier{id("phone", "+442079460958"), id("anonymous_id", "a1")},
				Traits: map[string]any{"city": "London", "vip": true}, CreateTime: t0, UpdateTime: now,
				Sources: map[string]profile.TraitSource{"vip": {Operation: profile.OpSet, Time: observed, SetTime: observed}},
				Links:   merge(old.Links, seen(observed, id("phone", "+442079460958"))),
			}},
			change: profile.Change{ObserveTime: observed, Update: &profile.Update{
				ProfileID: "p-old", Link: []profile.Identifier{id("phone", "+442079460958")},
				Traits:  map[string]any{"city": "London", "vip": true},
				Sources: map[string]profile.TraitSource{"vip": {Operation: profile.OpSet, Time: observed, SetTime: observed}},
				Time:    now,
			}, TraitChanges: []profile.TraitChange{
				{Profile: "p-old", Key: "name", Operation: profile.OpUnset, Time: observed},
				{Profile: "p-old", Key: "vip", Value: true, Operation: profile.OpSet, Time: observed},
			}},
		},
		{
			name: "merge: the oldest survives, the latest update wins a trait",
			req: profile.Request{
				Identifiers: []profile.Identifier{id("anonymous_id", "a1"), id("email", "ana@example.com")},
				ObserveTime: observed,
			},
			holders: []profile.Profile{young, old},
			want: profile.Resolution{Merged: []string{"p-young"}, Profile: profile.Profile{
				ID: "p-old", Identifiers: []profile.Identifier{id("user_id", "42"), id("email", "ana@example.com"), id("anonymous_id", "a1")},
				Traits: map[string]any{"city": "Paris", "name": "Ana"}, CreateTime: t0, UpdateTime: now,
				Sources: map[string]profile.TraitSource{"city": {Operation: profile.OpMerge, Time: observed, SetTime: young.UpdateTime}},
				Links:   merge(old.Links, young.Links),
			}},
			change: profile.Change{ObserveTime: observed, Update: &profile.Update{
				ProfileID: "p-old",
				Merges: []profile.Merge{{
					Survivor: "p-old", Merged: "p-young", Rule: profile.RuleSeenTogether,
					Reason:      profile.ReasonSeenTogether + ": email:ana@example.com, anonymous_id:a1",
					Trigger:     []profile.Identifier{id("email", "ana@example.com"), id("anonymous_id", "a1")},
					Identifiers: young.Identifiers, Time: now, ObserveTime: observed, SurvivorTraits: old.Traits,
					SurvivorSources: map[string]profile.TraitSource{},
				}},
				Traits:  map[string]any{"city": "Paris", "name": "Ana"},
				Sources: map[string]profile.TraitSource{"city": {Operation: profile.OpMerge, Time: observed, SetTime: young.UpdateTime}},
				Time:    now,
			}, TraitChanges: []profile.TraitChange{
				{Profile: "p-old", Key: "city", Value: "Paris", Operation: profile.OpMerge, Time: observed},
			}},
		},
		{
			name: "user id conflict: the highest-priority identifier's profile wins, nothing merges",
			req: profile.Request{
				Identifiers: []profile.Identifier{id("device_id", "d1"), id("email", "ana@example.com"), id("anonymous_id", "fresh")},
				ObserveTime: observed,
			},
			holders: []profile.Profile{other, young},
			want: profile.Resolution{Profile: profile.Profile{
				ID: "p-young", Identifiers: []profile.Identifier{id("user_id", "42"), id("email", "ana@example.com"), id("anonymous_id", "fresh")},
				Traits: map[string]any{"city": "Paris"}, CreateTime: young.CreateTime, UpdateTime: now,
				Links: merge(young.Links, seen(observed, id("anonymous_id", "fresh"))),
			}, Ignored: []profile.Ignored{{Identifier: id("device_id", "d1"), Rule: profile.RuleShared, Reason: "held by another user's profile; now shared and no longer resolves"}}},
			change: profile.Change{ObserveTime: observed, Share: []profile.Identifier{id("device_id", "d1")}, Update: &profile.Update{
				ProfileID: "p-young", Link: []profile.Identifier{id("anonymous_id", "fresh")},
				Traits: map[string]any{"city": "Paris"}, Time: now,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			holders := make([]profile.Profile, len(tt.holders))
			for i, h := range tt.holders {
				holders[i] = h.Clone()
			}
			res, change := profile.DefaultPolicy().Decide(tt.req, holders, now, fixedID("new"))
			require.Equal(t, tt.want, res)
			require.Equal(t, tt.change, change)
			for i, h := range tt.holders {
				require.Equal(t, h, holders[i], "Decide must not modify the holders")
			}
		})
	}
}

func merge(a, b map[profile.Identifier]profile.Link) map[profile.Identifier]profile.Link {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// countingStore counts the atomic resolutions that reach the store.
type countingStore struct {
	*memory.Store
	resolves int
}

func (s *countingStore) Resolve(ctx context.Context, ids []profile.Identifier, decide func([]profile.Profile) (profile.Change, error)) error {
	s.resolves++
	return s.Store.Resolve(ctx, ids, decide)
}

func TestResolveTakesTheLockFreePathWhenNothingChanges(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: memory.New()}
	g := profile.NewGraph(store, profile.Options{Now: func() time.Time { return t0 }})
	req := profile.Request{Identifiers: []profile.Identifier{id("anonymous_id", "a1")}, Traits: map[string]any{"city": "London"}}

	first, err := g.Resolve(ctx, req)
	require.NoError(t, err)
	require.True(t, first.Created)
	require.Equal(t, 1, store.resolves)

	again, err := g.Resolve(ctx, req)
	require.NoError(t, err)
	require.Equal(t, first.Profile, again.Profile)
	require.Equal(t, 1, store.resolves, "an unchanged profile needs no transaction")

	req.Traits = map[string]any{"city": "Paris"}
	_, err = g.Resolve(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 2, store.resolves)
}
