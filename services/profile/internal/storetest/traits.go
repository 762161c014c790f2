package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// observed is the observe time of the trait tests' calls, hours after a
// fixed start.
func observed(hours int) time.Time {
	return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(hours) * time.Hour)
}

// setTraits resolves identifiers with traits and set-once traits from the
// event source observed at at, and checks that the store holds what the
// graph returns.
func setTraits(t *testing.T, g *profile.Graph, source string, at time.Time, set, once map[string]any, identifiers ...string) profile.Resolution {
	t.Helper()
	ctx := context.Background()
	res, err := g.Resolve(ctx, profile.Request{Identifiers: ids(identifiers...), Traits: set, TraitsSetOnce: once, Source: source, ObserveTime: at})
	require.NoError(t, err)
	require.Equal(t, res.Profile, get(t, g, res.Profile.ID), "the resolution must report the profile as stored")
	return res
}

// change is a TraitChange without its Seq, for comparisons.
type change struct {
	Profile, Key string
	Value        any
	Op, Source   string
	Time         time.Time
}

// history returns the trait changes of the person of id (of key unless
// ""), newest first, read two to a page.
func history(t *testing.T, g *profile.Graph, id, key string) []change {
	t.Helper()
	var (
		out    []change
		before int64
		last   int64
	)
	for {
		page, next, err := g.ListTraitChanges(context.Background(), id, key, before, 2)
		require.NoError(t, err)
		for _, c := range page {
			require.True(t, last == 0 || c.Seq < last, "newest first")
			last = c.Seq
			out = append(out, change{Profile: c.Profile, Key: c.Key, Value: c.Value, Op: c.Operation, Source: c.Source, Time: c.Time})
		}
		if next == 0 {
			return out
		}
		before = next
	}
}

func testTraitSet(t *testing.T, g *profile.Graph) {
	p := setTraits(t, g, "m1", observed(1), map[string]any{"plan": "gold", "city": "Lisbon"}, nil, "anonymous_id:a1").Profile
	require.Equal(t, map[string]profile.TraitSource{
		"plan": {Operation: profile.OpSet, Source: "m1", Time: observed(1), SetTime: observed(1)},
		"city": {Operation: profile.OpSet, Source: "m1", Time: observed(1), SetTime: observed(1)},
	}, p.Sources)

	// A batch carries each request's source too.
	out, err := g.ResolveBatch(context.Background(), []profile.Request{
		{Identifiers: ids("anonymous_id:a1"), Traits: map[string]any{"plan": "platinum", "score": 3.5}, Source: "m2", ObserveTime: observed(2)},
	})
	require.NoError(t, err)
	require.NoError(t, out[0].Err)
	p = get(t, g, p.ID)
	require.Equal(t, map[string]any{"plan": "platinum", "city": "Lisbon", "score": 3.5}, p.Traits)
	require.Equal(t, profile.TraitSource{Operation: profile.OpSet, Source: "m2", Time: observed(2), SetTime: observed(2)}, p.Sources["plan"])
	require.Equal(t, "m1", p.Sources["city"].Source, "an untouched trait keeps its source")

	require.Equal(t, []change{
		{p.ID, "score", 3.5, profile.OpSet, "m2", observed(2)},
		{p.ID, "plan", "platinum", profile.OpSet, "m2", observed(2)},
		{p.ID, "plan", "gold", profile.OpSet, "m1", observed(1)},
		{p.ID, "city", "Lisbon", profile.OpSet, "m1", observed(1)},
	}, history(t, g, p.ID, ""), "the changes of one call come in key order, listed newest (last) first")
	require.Equal(t, []change{
		{p.ID, "plan", "platinum", profile.OpSet, "m2", observed(2)},
		{p.ID, "plan", "gold", profile.OpSet, "m1", observed(1)},
	}, history(t, g, p.ID, "plan"), "one trait's history")
	require.Empty(t, history(t, g, p.ID, "nope"))

	_, _, err = g.ListTraitChanges(context.Background(), "0190c6e2-7a4b-7c3d-8e5f-6a7b8c9d0e1f", "", 0, 10)
	require.ErrorIs(t, err, profile.ErrNotFound)
}

func testTraitSetOnce(t *testing.T, g *profile.Graph) {
	p := setTraits(t, g, "m1", observed(1), nil, map[string]any{"first_channel": "web"}, "anonymous_id:a1").Profile
	require.Equal(t, map[string]any{"first_channel": "web"}, p.Traits)
	require.Equal(t, profile.TraitSource{Operation: profile.OpSetOnce, Source: "m1", Time: observed(1), Once: true, SetTime: observed(1)}, p.Sources["first_channel"])

	again := setTraits(t, g, "m2", observed(2), nil, map[string]any{"first_channel": "app"}, "anonymous_id:a1").Profile
	require.Equal(t, p, again, "set-once does not overwrite a value, and a call that changes nothing updates nothing")

	// In one call, traits win over set-once for the same key.
	both := setTraits(t, g, "m3", observed(3), map[string]any{"plan": "gold"}, map[string]any{"plan": "free", "first_plan": "gold"}, "anonymous_id:a1").Profile
	require.Equal(t, map[string]any{"first_channel": "web", "plan": "gold", "first_plan": "gold"}, both.Traits)

	// Set overwrites a set-once value.
	set := setTraits(t, g, "m4", observed(4), map[string]any{"first_channel": "app"}, nil, "anonymous_id:a1").Profile
	require.Equal(t, "app", set.Traits["first_channel"])
	require.Equal(t, profile.TraitSource{Operation: profile.OpSet, Source: "m4", Time: observed(4), SetTime: observed(4)}, set.Sources["first_channel"])

	require.Equal(t, []change{
		{p.ID, "first_channel", "app", profile.OpSet, "m4", observed(4)},
		{p.ID, "plan", "gold", profile.OpSet, "m3", observed(3)},
		{p.ID, "first_plan", "gold", profile.OpSetOnce, "m3", observed(3)},
		{p.ID, "first_channel", "web", profile.OpSetOnce, "m1", observed(1)},
	}, history(t, g, p.ID, ""))
}

func testTraitUnset(t *testing.T, g *profile.Graph) {
	p := setTraits(t, g, "m1", observed(1), map[string]any{"plan": "gold", "city": "Lisbon"}, nil, "anonymous_id:a1").Profile
	unset := setTraits(t, g, "m2", observed(2), map[string]any{"plan": nil, "never": nil}, map[string]any{"city": nil}, "anonymous_id:a1").Profile
	require.Equal(t, map[string]any{"city": "Lisbon"}, unset.Traits, "null unsets in traits; null in set-once does nothing")
	require.NotContains(t, unset.Sources, "plan")
	require.Equal(t, []change{
		{p.ID, "plan", nil, profile.OpUnset, "m2", observed(2)},
	}, history(t, g, p.ID, "plan")[:1], "an unset records a removal; unsetting a missing trait records nothing")
	require.Len(t, history(t, g, p.ID, ""), 3)
}

func testTraitNoop(t *testing.T, g *profile.Graph) {
	p := setTraits(t, g, "m1", observed(1), map[string]any{"plan": "gold", "tags": []any{"a", "b"}}, nil, "anonymous_id:a1").Profile
	again := setTraits(t, g, "m2", observed(2), map[string]any{"plan": "gold", "tags": []any{"a", "b"}}, map[string]any{"plan": "x"}, "anonymous_id:a1").Profile
	require.Equal(t, p, again, "setting the same values again changes nothing")
	require.Equal(t, "m1", again.Sources["plan"].Source)
	require.Len(t, history(t, g, p.ID, ""), 2, "and records nothing")
}

// testTraitMerge checks that a merge keeps, for a trait set-once on both
// sides, the value set earliest, and the most recently updated profile's
// value otherwise; that it records the traits it changes as merges from
// the triggering event; and that the history covers the merged profile.
func testTraitMerge(t *testing.T, g *profile.Graph) {
	// a is older; b is updated later, so b wins plain conflicts.
	a := setTraits(t, g, "ma", observed(10), map[string]any{"plan": "free"},
		map[string]any{"first_channel": "web", "first_plan": "free"}, "anonymous_id:a1").Profile
	b := setTraits(t, g, "mb", observed(5), map[string]any{"plan": "gold"},
		map[string]any{"first_channel": "app"}, "email:b@example.com").Profile
	b = setTraits(t, g, "mb2", observed(20), nil, map[string]any{"first_plan": "gold"}, "email:b@example.com").Profile
	require.True(t, b.UpdateTime.After(a.UpdateTime))

	res := setTraits(t, g, "m-join", observed(30), nil, nil, "anonymous_id:a1", "email:b@example.com")
	require.Equal(t, []string{b.ID}, res.Merged)
	p := res.Profile
	require.Equal(t, map[string]any{
		"plan":          "gold", // plain: the later update wins
		"first_channel": "app",  // set once on b earlier (hour 5) than on a (hour 10)
		"first_plan":    "free", // set once on a earlier (hour 10) than on b (hour 20)
	}, p.Traits)
	require.Equal(t, profile.TraitSource{Operation: profile.OpMerge, Source: "m-join", Time: observed(30), Once: true, SetTime: observed(5)}, p.Sources["first_channel"])
	require.Equal(t, a.Sources["first_plan"], p.Sources["first_plan"], "a trait the merge keeps keeps its source")
	require.Equal(t, profile.TraitSource{Operation: profile.OpMerge, Source: "m-join", Time: observed(30), SetTime: observed(5)}, p.Sources["plan"])

	// The merged value is set-once still: a later set-once changes nothing.
	same := setTraits(t, g, "m-late", observed(40), nil, map[string]any{"first_channel": "store"}, "anonymous_id:a1").Profile
	require.Equal(t, p.Traits, same.Traits)

	require.Equal(t, []change{
		{a.ID, "plan", "gold", profile.OpMerge, "m-join", observed(30)},
		{a.ID, "first_channel", "app", profile.OpMerge, "m-join", observed(30)},
		{b.ID, "first_plan", "gold", profile.OpSetOnce, "mb2", observed(20)},
		{b.ID, "plan", "gold", profile.OpSet, "mb", observed(5)},
		{b.ID, "first_channel", "app", profile.OpSetOnce, "mb", observed(5)},
		{a.ID, "plan", "free", profile.OpSet, "ma", observed(10)},
		{a.ID, "first_plan", "free", profile.OpSetOnce, "ma", observed(10)},
		{a.ID, "first_channel", "web", profile.OpSetOnce, "ma", observed(10)},
	}, history(t, g, a.ID, ""), "the history of a person covers the profiles merged into it")
	require.Equal(t, history(t, g, a.ID, ""), history(t, g, b.ID, ""), "a merged profile's name lists its survivor's history")

	// A manual merge of a third profile: no event.
	c := setTraits(t, g, "mc", observed(50), map[string]any{"city": "Porto"}, nil, "email:c@example.com").Profile
	merged, m, err := g.MergeProfiles(context.Background(), ids("anonymous_id:a1")[0], ids("email:c@example.com")[0], "same person")
	require.NoError(t, err)
	require.NotNil(t, m)
	require.Equal(t, merged, get(t, g, a.ID))
	require.Equal(t, profile.TraitSource{Operation: profile.OpMerge, Time: m.ObserveTime, SetTime: observed(50)}, merged.Sources["city"])
	require.Equal(t, change{a.ID, "city", "Porto", profile.OpMerge, "", m.ObserveTime}, history(t, g, c.ID, "city")[0])
}

// testTraitMergeReplaysSetOnce checks that a merge gives a trait set-once
// on one side the value the events would have given one profile: a plain
// set after the set-once replaces it, a plain set before it keeps.
func testTraitMergeReplaysSetOnce(t *testing.T, g *profile.Graph) {
	setTraits(t, g, "a", observed(10), nil, map[string]any{"referrer": "ads", "locale": "en"}, "anonymous_id:a1")
	setTraits(t, g, "b1", observed(5), map[string]any{"locale": "pt"}, nil, "email:b@example.com")
	setTraits(t, g, "b2", observed(20), map[string]any{"referrer": "newsletter"}, nil, "email:b@example.com")
	res := setTraits(t, g, "join", observed(30), nil, nil, "anonymous_id:a1", "email:b@example.com")
	require.Len(t, res.Merged, 1)
	require.Equal(t, "newsletter", res.Profile.Traits["referrer"], "set at hour 20, after the set-once of hour 10")
	require.Equal(t, "pt", res.Profile.Traits["locale"], "set at hour 5: the set-once of hour 10 found a value")
}

// testTraitUnmerge checks that an unmerge records the traits it restores
// and gives them back their sources.
func testTraitUnmerge(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	a := setTraits(t, g, "ma", observed(1), map[string]any{"city": "London"}, map[string]any{"first_channel": "web"}, "anonymous_id:a1").Profile
	b := setTraits(t, g, "mb", observed(2), map[string]any{"city": "Paris", "plan": "gold"}, nil, "email:b@example.com").Profile
	res := setTraits(t, g, "m-join", observed(3), nil, nil, "anonymous_id:a1", "email:b@example.com")
	require.Equal(t, map[string]any{"city": "Paris", "plan": "gold", "first_channel": "web"}, res.Profile.Traits)

	survivor, restored, err := g.Unmerge(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, a.Traits, survivor.Traits)
	require.Equal(t, survivor, get(t, g, a.ID))
	require.Equal(t, restored, get(t, g, b.ID))
	require.Equal(t, b.Sources, restored.Sources, "the merged profile keeps its traits and their sources")
	require.Equal(t, profile.TraitSource{Operation: profile.OpUnmerge, Time: survivor.UpdateTime, SetTime: observed(1)}, survivor.Sources["city"])
	require.Equal(t, a.Sources["first_channel"], survivor.Sources["first_channel"])
	require.NotContains(t, survivor.Sources, "plan")

	require.Equal(t, []change{
		{a.ID, "plan", nil, profile.OpUnmerge, "", survivor.UpdateTime},
		{a.ID, "city", "London", profile.OpUnmerge, "", survivor.UpdateTime},
		{a.ID, "plan", "gold", profile.OpMerge, "m-join", observed(3)},
		{a.ID, "city", "Paris", profile.OpMerge, "m-join", observed(3)},
		{a.ID, "first_channel", "web", profile.OpSetOnce, "ma", observed(1)},
		{a.ID, "city", "London", profile.OpSet, "ma", observed(1)},
	}, history(t, g, a.ID, ""), "split again, the survivor's history leaves out the profile split off")
	require.Equal(t, []change{
		{b.ID, "plan", "gold", profile.OpSet, "mb", observed(2)},
		{b.ID, "city", "Paris", profile.OpSet, "mb", observed(2)},
	}, history(t, g, b.ID, ""))
}

// testEraseTraitChanges checks that erasing a person removes their trait
// history and leaves a bystander's.
func testEraseTraitChanges(t *testing.T, g *profile.Graph, s profile.Store) {
	ctx := context.Background()
	a, b, c := person(t, g)
	require.NotEmpty(t, history(t, g, a.ID, ""))
	require.NotEmpty(t, history(t, g, b.ID, ""))
	bystander := history(t, g, c.ID, "")
	require.NotEmpty(t, bystander)

	_, err := g.Erase(ctx, b.ID)
	require.NoError(t, err)
	for _, id := range []string{a.ID, b.ID} {
		got, err := s.TraitChanges(ctx, id, "", 0, 100)
		require.ErrorIs(t, err, profile.ErrNotFound)
		require.Empty(t, got)
	}
	require.Equal(t, bystander, history(t, g, c.ID, ""))
}
