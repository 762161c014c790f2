// Package storetest is the conformance suite of profile.Store: every store
// runs it, so that the in-memory and Postgres stores behave alike. It drives
// the stores through profile.Graph, so it also checks the merge rules end to
// end on each store.
package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// Run runs the conformance suite; newStore returns a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) profile.Store) {
	// The graph tests run under basic rules (one user id, nothing else), so
	// that each checks one thing; the rule tests set their own.
	basic := profile.DefaultRules()
	basic.Limits = basic.Limits[:1]
	basic.SharedTypes = []string{}
	tests := []struct {
		name  string
		run   func(t *testing.T, g *profile.Graph)
		rules *profile.Rules
	}{
		{"Create", testCreate, nil},
		{"Link", testLink, nil},
		{"Merge", testMerge, nil},
		{"MergeChain", testMergeChain, nil},
		{"OneUserID", testOneUserID, nil},
		{"Traits", testTraits, nil},
		{"NotFound", testNotFound, nil},
		{"ListPaging", testListPaging, nil},
		{"ConcurrentNewIdentifier", testConcurrentNewIdentifier, nil},
		{"ConcurrentTraits", testConcurrentTraits, nil},
		{"ConcurrentOverlapping", testConcurrentOverlapping, nil},
		{"RuleBlocked", testRuleBlocked, ptr(profile.DefaultRules())},
		{"RuleBlockedCustom", testRuleBlockedCustom, &profile.Rules{
			Blocked: []profile.Block{{Type: "device_id", Value: ptr("IDFA-ZERO")}, {Pattern: `qa-.*`}},
		}},
		{"RuleLimitWindow", testRuleLimitWindow, ptr(profile.DefaultRules())},
		{"RulePriority", testRulePriority, &profile.Rules{
			Priority: []string{"email", "user_id", "phone", "device_id", "anonymous_id"},
		}},
		{"RuleSharedDevice", testRuleSharedDevice, ptr(profile.DefaultRules())},
		{"MergeLogPaging", testMergeLogPaging, nil},
		{"ManualMerge", testManualMerge, nil},
		{"PreviewRules", testPreviewRules, nil},
		{"PreviewRulesMerges", testPreviewRulesMerges, &profile.Rules{
			Limits: []profile.Limit{{Type: "user_id", Max: 1}, {Type: "email", Max: 1}},
		}},
		{"Unmerge", testUnmerge, nil},
		{"UnmergeChain", testUnmergeChain, nil},
		{"Consent", testConsent, nil},
		{"MatchSignals", testMatchSignals, nil},
		{"MatchCandidates", testMatchCandidates, nil},
		{"Matching", testMatching, nil},
		{"Notices", testNotices, nil},
		{"NoticesConcurrent", testNoticesConcurrent, nil},
		{"TraitSet", testTraitSet, nil},
		{"TraitSetOnce", testTraitSetOnce, nil},
		{"TraitUnset", testTraitUnset, nil},
		{"TraitNoop", testTraitNoop, nil},
		{"TraitMerge", testTraitMerge, nil},
		{"TraitMergeReplaysSetOnce", testTraitMergeReplaysSetOnce, nil},
		{"TraitUnmerge", testTraitUnmerge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := basic
			if tt.rules != nil {
				rules = *tt.rules
			}
			policy, err := rules.Compile()
			require.NoError(t, err)
			clock := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
			tt.run(t, profile.NewGraph(newStore(t), profile.Options{Now: clock.now, Policy: policy}))
		})
	}
	runResolveBatch(t, newStore)
}

// clock advances one second on every reading, so that every change gets a
// distinct time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func ids(texts ...string) []profile.Identifier {
	out := make([]profile.Identifier, len(texts))
	for i, s := range texts {
		typ, value, ok := strings.Cut(s, ":")
		if !ok {
			panic("storetest: identifier without type: " + s)
		}
		out[i] = profile.Identifier{Type: typ, Value: value}
	}
	return out
}

func texts(ids []profile.Identifier) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// resolve resolves identifiers given in text form and checks that what the
// graph returns is what the store now holds.
func resolve(t *testing.T, g *profile.Graph, traits map[string]any, identifiers ...string) profile.Resolution {
	t.Helper()
	ctx := context.Background()
	res, err := g.Resolve(ctx, profile.Request{Identifiers: ids(identifiers...), Traits: traits})
	require.NoError(t, err)
	stored, err := g.Get(ctx, res.Profile.ID)
	require.NoError(t, err)
	require.Equal(t, res.Profile, stored, "the resolution must report the profile as stored")
	return res
}

func get(t *testing.T, g *profile.Graph, id string) profile.Profile {
	t.Helper()
	p, err := g.Get(context.Background(), id)
	require.NoError(t, err)
	return p
}

func lookup(t *testing.T, g *profile.Graph, identifier string) profile.Profile {
	t.Helper()
	p, err := g.Lookup(context.Background(), ids(identifier)[0])
	require.NoError(t, err)
	return p
}

func listAll(t *testing.T, g *profile.Graph) []profile.Profile {
	t.Helper()
	var all []profile.Profile
	after := ""
	for {
		page, next, err := g.List(context.Background(), after, 1000)
		require.NoError(t, err)
		all = append(all, page...)
		if next == "" {
			return all
		}
		after = next
	}
}

func testCreate(t *testing.T, g *profile.Graph) {
	res := resolve(t, g, nil, "anonymous_id:a1", "device_id:d1", "anonymous_id:a1")
	require.True(t, res.Created)
	require.Empty(t, res.Merged)
	p := res.Profile
	id, err := uuid.Parse(p.ID)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(7), id.Version())
	require.Equal(t, []string{"device_id:d1", "anonymous_id:a1"}, texts(p.Identifiers), "identifiers in priority order, each once")
	require.Empty(t, p.Traits)
	require.False(t, p.CreateTime.IsZero())
	require.Equal(t, p.CreateTime, p.UpdateTime)
	require.Equal(t, p, lookup(t, g, "anonymous_id:a1"))
	require.Equal(t, p, lookup(t, g, "device_id:d1"))

	again := resolve(t, g, nil, "anonymous_id:a1")
	require.False(t, again.Created)
	require.Equal(t, p, again.Profile, "resolving known identifiers changes nothing")

	other := resolve(t, g, map[string]any{"plan": "gold"}, "anonymous_id:a2")
	require.True(t, other.Created)
	require.NotEqual(t, p.ID, other.Profile.ID)
	require.Equal(t, map[string]any{"plan": "gold"}, other.Profile.Traits)
	require.Len(t, listAll(t, g), 2)
}

func testLink(t *testing.T, g *profile.Graph) {
	first := resolve(t, g, nil, "anonymous_id:a1").Profile
	res := resolve(t, g, nil, "anonymous_id:a1", "user_id:42", "email:ana@example.com")
	require.False(t, res.Created)
	require.Empty(t, res.Merged)
	p := res.Profile
	require.Equal(t, first.ID, p.ID)
	require.Equal(t, []string{"user_id:42", "email:ana@example.com", "anonymous_id:a1"}, texts(p.Identifiers))
	require.Equal(t, first.CreateTime, p.CreateTime)
	require.True(t, p.UpdateTime.After(first.UpdateTime), "linking changes the update time")
	require.Equal(t, p, lookup(t, g, "email:ana@example.com"))
	require.Equal(t, p, lookup(t, g, "user_id:42"))

	// A later event with only the user id resolves to the same profile.
	require.Equal(t, p, resolve(t, g, nil, "user_id:42").Profile)
	merges, err := g.Merges(context.Background(), p.ID)
	require.NoError(t, err)
	require.Empty(t, merges)
}

func testMerge(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	older := resolve(t, g, map[string]any{"name": "Ana", "city": "London"}, "anonymous_id:a1").Profile
	newer := resolve(t, g, map[string]any{"city": "Paris", "plan": "gold"}, "email:ana@example.com", "device_id:d1").Profile
	bystander := resolve(t, g, nil, "anonymous_id:zz").Profile

	res := resolve(t, g, map[string]any{"tier": "vip"}, "email:ana@example.com", "anonymous_id:a1", "user_id:42")
	require.False(t, res.Created)
	require.Equal(t, []string{newer.ID}, res.Merged)
	p := res.Profile
	require.Equal(t, older.ID, p.ID, "the oldest profile survives, whichever identifier ranks first")
	require.Equal(t, older.CreateTime, p.CreateTime)
	require.Equal(t, []string{"user_id:42", "email:ana@example.com", "device_id:d1", "anonymous_id:a1"}, texts(p.Identifiers))
	require.Equal(t, map[string]any{"name": "Ana", "city": "Paris", "plan": "gold", "tier": "vip"}, p.Traits,
		"traits move to the survivor; the most recently updated profile wins a conflict")

	require.Equal(t, p, get(t, g, newer.ID), "a merged profile's name resolves to the survivor")
	require.Equal(t, p, lookup(t, g, "device_id:d1"), "identifiers of the merged profile move to the survivor")
	require.Equal(t, []string{older.ID, bystander.ID}, profileIDs(listAll(t, g)), "merged profiles are not listed")

	merges, err := g.Merges(ctx, older.ID)
	require.NoError(t, err)
	require.Len(t, merges, 1)
	m := merges[0]
	require.Equal(t, older.ID, m.Survivor)
	require.Equal(t, newer.ID, m.Merged)
	require.Contains(t, m.Reason, profile.ReasonSeenTogether)
	require.Contains(t, m.Reason, "email:ana@example.com")
	require.ElementsMatch(t, []string{"email:ana@example.com", "device_id:d1"}, texts(m.Identifiers))
	require.Equal(t, p.UpdateTime, m.Time)
	require.False(t, m.ObserveTime.IsZero())
	fromMerged, err := g.Merges(ctx, newer.ID)
	require.NoError(t, err)
	require.Equal(t, merges, fromMerged)

	// Resolving again changes nothing and merges nothing.
	again := resolve(t, g, nil, "email:ana@example.com", "anonymous_id:a1")
	require.Empty(t, again.Merged)
	require.Equal(t, p, again.Profile)
}

func testMergeChain(t *testing.T, g *profile.Graph) {
	a := resolve(t, g, nil, "anonymous_id:a").Profile
	b := resolve(t, g, nil, "anonymous_id:b").Profile
	c := resolve(t, g, nil, "anonymous_id:c").Profile
	d := resolve(t, g, nil, "anonymous_id:d").Profile

	// c into b, then b into a: c's name follows both merges.
	require.Equal(t, []string{c.ID}, resolve(t, g, nil, "anonymous_id:c", "anonymous_id:b").Merged)
	require.Equal(t, []string{b.ID}, resolve(t, g, nil, "anonymous_id:b", "anonymous_id:a").Merged)
	for _, merged := range []string{b.ID, c.ID} {
		require.Equal(t, a.ID, get(t, g, merged).ID)
	}

	// Several profiles merge in one call, oldest surviving.
	e := resolve(t, g, nil, "anonymous_id:e").Profile
	res := resolve(t, g, nil, "anonymous_id:e", "anonymous_id:d", "anonymous_id:a")
	require.Equal(t, a.ID, res.Profile.ID)
	require.Equal(t, []string{d.ID, e.ID}, res.Merged)
	require.Len(t, res.Profile.Identifiers, 5)
	require.Equal(t, []string{a.ID}, profileIDs(listAll(t, g)))
}

func testOneUserID(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	p1 := resolve(t, g, nil, "user_id:1", "anonymous_id:a", "device_id:d").Profile
	p2 := resolve(t, g, nil, "user_id:2", "email:e@example.com").Profile
	p3 := resolve(t, g, nil, "anonymous_id:c").Profile

	tests := []struct {
		name        string
		identifiers []string
		// want is the profile resolved to: "p1", "p2", "p3" or "new".
		want string
		// holders are where identifiers are expected afterwards ("" for
		// nowhere).
		holders map[string]string
		merged  []string
	}{
		{
			name:        "the higher-priority identifier's profile wins",
			identifiers: []string{"anonymous_id:a", "email:e@example.com"},
			want:        "p2",
			holders:     map[string]string{"anonymous_id:a": "p1", "email:e@example.com": "p2"},
		},
		{
			name:        "a conflicting held identifier stays with its holder",
			identifiers: []string{"anonymous_id:a", "user_id:2"},
			want:        "p2",
			holders:     map[string]string{"anonymous_id:a": "p1", "user_id:2": "p2", "user_id:1": "p1"},
		},
		{
			name:        "a new user id does not join another user's profile",
			identifiers: []string{"email:e@example.com", "user_id:3", "anonymous_id:n"},
			want:        "new",
			holders:     map[string]string{"email:e@example.com": "p2", "user_id:3": "new", "anonymous_id:n": "new"},
		},
		{
			name:        "a second user id is not linked",
			identifiers: []string{"user_id:1", "user_id:9"},
			want:        "p1",
			holders:     map[string]string{"user_id:1": "p1", "user_id:9": ""},
		},
		{
			name:        "non-conflicting new identifiers are linked to the winner",
			identifiers: []string{"anonymous_id:b", "device_id:d", "email:e@example.com"},
			want:        "p2",
			holders:     map[string]string{"anonymous_id:b": "p2", "device_id:d": "p1"},
		},
		{
			name:        "a profile without a user id merges into a user's profile",
			identifiers: []string{"anonymous_id:c", "user_id:1"},
			want:        "p1",
			holders:     map[string]string{"anonymous_id:c": "p1"},
			merged:      []string{"p3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := resolve(t, g, nil, tt.identifiers...)
			names := map[string]string{"p1": p1.ID, "p2": p2.ID, "p3": p3.ID}
			if tt.want == "new" {
				require.True(t, res.Created)
				names["new"] = res.Profile.ID
			}
			require.Equal(t, names[tt.want], res.Profile.ID)
			var merged []string
			for _, m := range tt.merged {
				merged = append(merged, names[m])
			}
			require.Equal(t, merged, res.Merged)
			for identifier, holder := range tt.holders {
				p, err := g.Lookup(ctx, ids(identifier)[0])
				if holder == "" {
					require.ErrorIs(t, err, profile.ErrNotFound, identifier)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, names[holder], p.ID, "holder of %s", identifier)
			}
			for _, p := range listAll(t, g) {
				require.LessOrEqual(t, countType(p, "user_id"), 1, "profile %s: %v", p.ID, texts(p.Identifiers))
			}
		})
	}
}

func testTraits(t *testing.T, g *profile.Graph) {
	created := resolve(t, g, map[string]any{"name": "Ana", "city": "London", "tags": []any{"a", "b"}}, "user_id:42").Profile
	require.Equal(t, map[string]any{"name": "Ana", "city": "London", "tags": []any{"a", "b"}}, created.Traits)

	steps := []struct {
		name    string
		set     map[string]any
		want    map[string]any
		changed bool
	}{
		{"set merges top-level keys", map[string]any{"city": "Paris", "age": 30.0, "address": map[string]any{"zip": "75001"}},
			map[string]any{"name": "Ana", "city": "Paris", "age": 30.0, "tags": []any{"a", "b"}, "address": map[string]any{"zip": "75001"}}, true},
		{"null unsets", map[string]any{"name": nil, "unknown": nil},
			map[string]any{"city": "Paris", "age": 30.0, "tags": []any{"a", "b"}, "address": map[string]any{"zip": "75001"}}, true},
		{"a nested object is replaced, not merged", map[string]any{"address": map[string]any{"city": "Paris"}},
			map[string]any{"city": "Paris", "age": 30.0, "tags": []any{"a", "b"}, "address": map[string]any{"city": "Paris"}}, true},
		{"same values change nothing", map[string]any{"city": "Paris", "age": 30.0},
			map[string]any{"city": "Paris", "age": 30.0, "tags": []any{"a", "b"}, "address": map[string]any{"city": "Paris"}}, false},
		{"no traits change nothing", nil,
			map[string]any{"city": "Paris", "age": 30.0, "tags": []any{"a", "b"}, "address": map[string]any{"city": "Paris"}}, false},
	}
	before := created
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			p := resolve(t, g, step.set, "user_id:42").Profile
			require.Equal(t, step.want, p.Traits)
			if step.changed {
				require.True(t, p.UpdateTime.After(before.UpdateTime), "update time must change")
			} else {
				require.Equal(t, before.UpdateTime, p.UpdateTime, "update time must not change")
			}
			require.Equal(t, created.CreateTime, p.CreateTime)
			before = p
		})
	}
}

func testNotFound(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	resolve(t, g, nil, "email:ana@example.com")

	_, err := g.Lookup(ctx, profile.Identifier{Type: "email", Value: "nobody@example.com"})
	require.ErrorIs(t, err, profile.ErrNotFound)
	require.ErrorIs(t, err, apierror.ErrNotFound)
	require.Equal(t, "no profile holds email:nobody@example.com", err.Error())

	unknown := uuid.Must(uuid.NewV7()).String()
	_, err = g.Get(ctx, unknown)
	require.ErrorIs(t, err, apierror.ErrNotFound)
	require.Equal(t, "no profile named profiles/"+unknown, err.Error())
}

func testListPaging(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	var created []string
	for i := range 7 {
		created = append(created, resolve(t, g, nil, fmt.Sprintf("anonymous_id:a%d", i)).Profile.ID)
	}
	// Merging a3 into a1 leaves six live profiles.
	require.Equal(t, []string{created[3]}, resolve(t, g, nil, "anonymous_id:a3", "anonymous_id:a1").Merged)
	live := append(created[:3:3], created[4:]...)

	for _, size := range []int{1, 2, 4, 6, 7, 100} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			var got []string
			after, pages := "", 0
			for {
				page, next, err := g.List(ctx, after, size)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page), size)
				got = append(got, profileIDs(page)...)
				pages++
				if next == "" {
					break
				}
				require.Len(t, page, size, "only the last page may be short")
				after = next
			}
			require.Equal(t, live, got, "every live profile once, oldest first")
			require.Equal(t, (len(live)+size-1)/size, pages, "no empty trailing page")
		})
	}
	page, next, err := g.List(ctx, created[6], 10)
	require.NoError(t, err)
	require.Empty(t, page)
	require.Empty(t, next)
}

func testConcurrentNewIdentifier(t *testing.T, g *profile.Graph) {
	const n = 16
	results := make([]profile.Resolution, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = g.Resolve(context.Background(), profile.Request{
				Identifiers: ids("anonymous_id:same", fmt.Sprintf("device_id:d%d", i%4)),
			})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		require.NoError(t, errs[i])
		if results[i].Created {
			created++
		}
	}
	all := listAll(t, g)
	require.Len(t, all, 1, "concurrent resolutions of one new identifier must end with one profile")
	require.Equal(t, 1, created, "exactly one call creates the profile")
	require.Zero(t, mergedCount(t, g, all[0].ID), "no duplicate profile was created and merged away")
	require.Len(t, all[0].Identifiers, 5)
	for i := range n {
		require.Equal(t, all[0].ID, get(t, g, results[i].Profile.ID).ID)
	}
}

// testConcurrentTraits sets traits on one profile through different
// identifiers at once: no update may be lost.
func testConcurrentTraits(t *testing.T, g *profile.Graph) {
	const n = 16
	all := []string{"user_id:1"}
	for i := range n {
		all = append(all, fmt.Sprintf("anonymous_id:a%d", i))
	}
	p := resolve(t, g, nil, all...).Profile
	want := map[string]any{}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		key := fmt.Sprintf("k%d", i)
		want[key] = float64(i)
		wg.Go(func() {
			<-start
			_, errs[i] = g.Resolve(context.Background(), profile.Request{
				Identifiers: ids(fmt.Sprintf("anonymous_id:a%d", i)),
				Traits:      map[string]any{key: float64(i)},
			})
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, want, get(t, g, p.ID).Traits)
}

func testConcurrentOverlapping(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	var pool []string
	for i := range 12 {
		pool = append(pool, fmt.Sprintf("anonymous_id:a%d", i))
	}
	for i := range 6 {
		pool = append(pool, fmt.Sprintf("email:e%d@example.com", i), fmt.Sprintf("device_id:d%d", i))
	}
	for i := range 3 {
		pool = append(pool, fmt.Sprintf("user_id:u%d", i))
	}

	const workers, calls = 8, 40
	type call struct {
		first string // the highest-priority identifier of the call
		res   profile.Resolution
	}
	done := make([][]call, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range calls {
				picked := ids(pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))])
				res, err := g.Resolve(ctx, profile.Request{
					Identifiers: picked,
					Traits:      map[string]any{fmt.Sprintf("w%d", w): float64(rng.IntN(100))},
				})
				if err != nil {
					errs[w] = err
					return
				}
				first := picked[0]
				for _, id := range picked[1:] {
					if profile.Rank(id.Type) < profile.Rank(first.Type) {
						first = id
					}
				}
				done[w] = append(done[w], call{first: first.String(), res: res})
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	// Each identifier is held by exactly one live profile, and lookups agree.
	holder := map[string]string{}
	for _, p := range listAll(t, g) {
		require.LessOrEqual(t, countType(p, "user_id"), 1, "profile %s holds two user ids: %v", p.ID, texts(p.Identifiers))
		for _, id := range p.Identifiers {
			prev, dup := holder[id.String()]
			require.False(t, dup, "%s held by %s and %s", id, prev, p.ID)
			holder[id.String()] = p.ID
			require.Equal(t, p.ID, lookup(t, g, id.String()).ID)
		}
	}
	// Every call's highest-priority identifier was linked to the profile it
	// resolved to, which now is (or was merged into) its live holder.
	for _, calls := range done {
		for _, c := range calls {
			live := get(t, g, c.res.Profile.ID)
			require.Equal(t, holder[c.first], live.ID, "holder of %s", c.first)
		}
	}
}

func profileIDs(profiles []profile.Profile) []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.ID
	}
	return out
}

func countType(p profile.Profile, typ string) int {
	n := 0
	for _, id := range p.Identifiers {
		if id.Type == typ {
			n++
		}
	}
	return n
}

func mergedCount(t *testing.T, g *profile.Graph, id string) int {
	t.Helper()
	merges, err := g.Merges(context.Background(), id)
	require.NoError(t, err)
	return len(merges)
}

func ptr[T any](v T) *T { return &v }

// resolveAt resolves identifiers seen at observed, checking like resolve.
func resolveAt(t *testing.T, g *profile.Graph, observed time.Time, identifiers ...string) profile.Resolution {
	t.Helper()
	ctx := context.Background()
	res, err := g.Resolve(ctx, profile.Request{Identifiers: ids(identifiers...), ObserveTime: observed})
	require.NoError(t, err)
	stored, err := g.Get(ctx, res.Profile.ID)
	require.NoError(t, err)
	require.Equal(t, res.Profile, stored, "the resolution must report the profile as stored")
	return res
}

// ignored returns the ignored identifiers of res as "rule type:value".
func ignored(res profile.Resolution) []string {
	var out []string
	for _, ig := range res.Ignored {
		out = append(out, ig.Rule+" "+ig.Identifier.String())
	}
	return out
}

func testRuleBlocked(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	for _, junk := range []string{
		"anonymous_id:null", "anonymous_id:undefined", "user_id:0", "user_id:anonymous", "device_id:00000000-0000-0000-0000-000000000000",
		"email:test@test.com", "email:test@example.com", "email:Test2@gmail.com", "email:ana@shop.test", "user_id:NULL",
	} {
		t.Run(junk, func(t *testing.T) {
			res := resolve(t, g, nil, "anonymous_id:real-"+junk, junk)
			require.Equal(t, []string{"blocked " + junk}, ignored(res))
			require.Equal(t, []string{"anonymous_id:real-" + junk}, texts(res.Profile.Identifiers), "a blocked identifier is not linked")
			_, err := g.Lookup(ctx, ids(junk)[0])
			require.ErrorIs(t, err, profile.ErrNotFound)
		})
	}
	// A junk value does not join two people who both sent it.
	a := resolve(t, g, nil, "anonymous_id:a", "user_id:undefined").Profile
	b := resolve(t, g, nil, "anonymous_id:b", "user_id:undefined").Profile
	require.NotEqual(t, a.ID, b.ID)

	_, err := g.Resolve(ctx, profile.Request{Identifiers: ids("anonymous_id:null", "email:test@test.com")})
	var invalid *apierror.InvalidError
	require.ErrorAs(t, err, &invalid, "a call with only blocked identifiers resolves nothing")
	require.Contains(t, err.Error(), "anonymous_id null is blocked")
	require.Len(t, listAll(t, g), 2+10)
}

func testRuleBlockedCustom(t *testing.T, g *profile.Graph) {
	res := resolve(t, g, nil, "anonymous_id:a", "device_id:idfa-zero", "user_id:qa-7", "email:null")
	require.Equal(t, []string{"blocked user_id:qa-7", "blocked email:null", "blocked device_id:idfa-zero"}, sortedIgnored(res),
		"exact values ignore case; patterns match the whole value of any type; the built-in list stays on")
	require.Equal(t, []string{"anonymous_id:a"}, texts(res.Profile.Identifiers))
	res = resolve(t, g, nil, "anonymous_id:b", "anonymous_id:idfa-zero", "user_id:aqa-7")
	require.Empty(t, res.Ignored, "a typed block applies to its type only, and patterns are anchored")
}

func sortedIgnored(res profile.Resolution) []string {
	out := ignored(res)
	slices.SortFunc(out, func(a, b string) int {
		_, ta, _ := strings.Cut(a, " ")
		_, tb, _ := strings.Cut(b, " ")
		return profile.Compare(ids(ta)[0], ids(tb)[0])
	})
	return out
}

func testRuleLimitWindow(t *testing.T, g *profile.Graph) {
	week1 := time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)
	p := resolveAt(t, g, week1, "user_id:1", "anonymous_id:a1").Profile
	for i := 2; i <= 5; i++ {
		resolveAt(t, g, week1.Add(time.Duration(i)*time.Hour), "user_id:1", fmt.Sprintf("anonymous_id:a%d", i))
	}
	res := resolveAt(t, g, week1.Add(24*time.Hour), "user_id:1", "anonymous_id:a6")
	require.Equal(t, p.ID, res.Profile.ID)
	require.Equal(t, []string{"limit anonymous_id:a6"}, ignored(res), "a sixth anonymous id in a week is dropped")
	require.Contains(t, res.Ignored[0].Reason, "at most 5 anonymous_id per 1w")
	require.Equal(t, 5, countType(get(t, g, p.ID), "anonymous_id"))

	// The dropped id resolves on its own to a new profile, which the
	// user's profile does not absorb within the week.
	alone := resolveAt(t, g, week1.Add(25*time.Hour), "anonymous_id:a6")
	require.True(t, alone.Created)
	res = resolveAt(t, g, week1.Add(26*time.Hour), "anonymous_id:a6", "user_id:1")
	require.Equal(t, p.ID, res.Profile.ID, "user_id has priority")
	require.Equal(t, []string{"limit anonymous_id:a6"}, ignored(res))
	require.Empty(t, res.Merged)
	require.Equal(t, alone.Profile.ID, lookup(t, g, "anonymous_id:a6").ID)

	// A week later the window has room again: the profile merges.
	res = resolveAt(t, g, week1.Add(8*24*time.Hour), "user_id:1", "anonymous_id:a6")
	require.Equal(t, p.ID, res.Profile.ID)
	require.Equal(t, []string{alone.Profile.ID}, res.Merged)
	require.Equal(t, 6, countType(res.Profile, "anonymous_id"))
	require.LessOrEqual(t, countType(res.Profile, "user_id"), 1)
}

func testRulePriority(t *testing.T, g *profile.Graph) {
	p1 := resolve(t, g, nil, "user_id:1", "email:ana@example.com").Profile
	p2 := resolve(t, g, nil, "user_id:2").Profile
	// email ranks above user_id here: the email's profile wins and the
	// user id that would make it two users is dropped.
	res := resolve(t, g, nil, "user_id:2", "email:ana@example.com", "anonymous_id:x")
	require.Equal(t, p1.ID, res.Profile.ID)
	require.Equal(t, []string{"limit user_id:2"}, ignored(res))
	require.Equal(t, p1.ID, lookup(t, g, "anonymous_id:x").ID)
	require.Equal(t, p2.ID, lookup(t, g, "user_id:2").ID)
}

// testRuleSharedDevice: a device seen with two user ids becomes shared; it
// stays with the first user, merges no one, and no longer resolves.
func testRuleSharedDevice(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	ana := resolve(t, g, nil, "device_id:ipad", "anonymous_id:s1", "user_id:ana").Profile
	res := resolve(t, g, nil, "device_id:ipad", "anonymous_id:s2", "user_id:bob")
	bob := res.Profile
	require.True(t, res.Created, "a second user on the device gets their own profile")
	require.Equal(t, []string{"shared device_id:ipad"}, ignored(res))
	require.Equal(t, []profile.Identifier{{Type: "device_id", Value: "ipad"}}, get(t, g, ana.ID).Shared())
	require.Equal(t, ana.ID, lookup(t, g, "device_id:ipad").ID, "the shared device stays with its first holder")

	// A new anonymous session on the shared device is not given to Ana,
	res = resolve(t, g, nil, "device_id:ipad", "anonymous_id:s3")
	require.True(t, res.Created)
	require.Equal(t, []string{"shared device_id:ipad"}, ignored(res))
	s3 := res.Profile
	// so that when Bob logs in on it, it merges into Bob, not Ana.
	res = resolve(t, g, nil, "anonymous_id:s3", "user_id:bob")
	require.Equal(t, bob.ID, res.Profile.ID)
	require.Equal(t, []string{s3.ID}, res.Merged)

	// The device alone is attributed to its holder and changes nothing.
	before := get(t, g, ana.ID)
	res = resolve(t, g, map[string]any{"plan": "gold"}, "device_id:ipad")
	require.Equal(t, before, res.Profile)
	require.Equal(t, before, get(t, g, ana.ID))

	// Ana and Bob never merged.
	for _, p := range listAll(t, g) {
		require.LessOrEqual(t, countType(p, "user_id"), 1)
	}
	merges, err := g.Merges(ctx, ana.ID)
	require.NoError(t, err)
	require.Empty(t, merges)
}

func testMergeLogPaging(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	a := resolve(t, g, nil, "anonymous_id:a").Profile
	other := resolve(t, g, nil, "anonymous_id:o").Profile
	var merged []string
	for i := range 5 {
		p := resolve(t, g, nil, fmt.Sprintf("anonymous_id:m%d", i)).Profile
		merged = append(merged, p.ID)
		resolve(t, g, nil, fmt.Sprintf("anonymous_id:m%d", i), "anonymous_id:a")
		if i == 2 {
			// A merge of another profile interleaves in the log.
			resolve(t, g, nil, "anonymous_id:o", "anonymous_id:o2")
			o2 := resolve(t, g, nil, "anonymous_id:x").Profile
			resolve(t, g, nil, "anonymous_id:x", "anonymous_id:o")
			require.Equal(t, other.ID, get(t, g, o2.ID).ID)
		}
	}
	for _, size := range []int{1, 2, 5, 10} {
		var got []string
		after, pages := int64(0), 0
		for {
			page, next, err := g.ListMerges(ctx, a.ID, after, size)
			require.NoError(t, err)
			pages++
			for _, m := range page {
				require.Equal(t, a.ID, m.Survivor)
				require.Greater(t, m.Seq, after)
				got = append(got, m.Merged)
			}
			if next == 0 {
				break
			}
			require.Len(t, page, size)
			after = next
		}
		require.Equal(t, merged, got, "size %d: every merge of the profile once, oldest first", size)
		require.Equal(t, (len(merged)+size-1)/size, pages)
	}
}

func testManualMerge(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	older := resolve(t, g, map[string]any{"city": "London"}, "email:ana@example.com").Profile
	newer := resolve(t, g, map[string]any{"city": "Paris"}, "user_id:42", "anonymous_id:phone-app").Profile
	bob := resolve(t, g, nil, "user_id:7").Profile

	p, m, err := g.MergeProfiles(ctx, ids("anonymous_id:phone-app")[0], ids("email:ana@example.com")[0], "same person, confirmed by support ticket 123")
	require.NoError(t, err)
	require.Equal(t, older.ID, p.ID, "the older profile survives")
	require.Equal(t, []string{"user_id:42", "email:ana@example.com", "anonymous_id:phone-app"}, texts(p.Identifiers))
	require.Equal(t, map[string]any{"city": "Paris"}, p.Traits)
	require.Equal(t, p, get(t, g, newer.ID))
	require.NotNil(t, m)
	require.Equal(t, profile.RuleManual, m.Rule)
	require.Equal(t, newer.ID, m.Merged)
	require.Contains(t, m.Reason, "support ticket 123")
	require.Equal(t, []string{"anonymous_id:phone-app", "email:ana@example.com"}, texts(m.Trigger))
	logged, err := g.Merges(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, logged, 1)
	require.Positive(t, logged[0].Seq)
	m.Seq = logged[0].Seq
	require.Equal(t, *m, logged[0], "the merge log records the manual merge")

	again, m, err := g.MergeProfiles(ctx, ids("user_id:42")[0], ids("email:ana@example.com")[0], "again")
	require.NoError(t, err)
	require.Nil(t, m, "identifiers of one profile: nothing to merge")
	require.Equal(t, p, again)

	_, _, err = g.MergeProfiles(ctx, ids("user_id:42")[0], ids("user_id:7")[0], "typo")
	require.ErrorIs(t, err, apierror.ErrFailedPrecondition, "two user ids never merge")
	require.Equal(t, bob, get(t, g, bob.ID))

	_, _, err = g.MergeProfiles(ctx, ids("user_id:42")[0], ids("email:nobody@example.com")[0], "typo")
	require.ErrorIs(t, err, profile.ErrNotFound)
}

func testPreviewRules(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	qa := resolve(t, g, nil, "user_id:qa-1", "anonymous_id:x1").Profile
	emails := resolve(t, g, nil, "email:a@example.com").Profile
	resolve(t, g, nil, "email:b@example.com")
	resolve(t, g, nil, "email:c@example.com")
	resolve(t, g, nil, "email:a@example.com", "email:b@example.com")
	resolve(t, g, nil, "email:a@example.com", "email:c@example.com")
	resolve(t, g, nil, "anonymous_id:fine")

	same, err := g.PreviewRules(ctx, g.Policy())
	require.NoError(t, err)
	require.Equal(t, profile.Preview{Profiles: 3}, same, "the rules in force split nothing")

	rules, err := profile.ParseRules([]byte(`
limits: [{type: user_id, max: 1}, {type: email, max: 2}]
blocked: [{pattern: "qa-.*"}]
shared_types: []
`))
	require.NoError(t, err)
	next, err := rules.Compile()
	require.NoError(t, err)
	preview, err := g.PreviewRules(ctx, next)
	require.NoError(t, err)
	require.Equal(t, 3, preview.Profiles)
	require.ElementsMatch(t, []string{qa.ID, emails.ID}, preview.Split)
	require.ElementsMatch(t, []string{"user_id:qa-1", "email:c@example.com"}, texts(preview.Dropped))
	require.Len(t, preview.RefusedMerges, 2, "each email merge gave the profile a third email")
	require.Len(t, get(t, g, emails.ID).Identifiers, 3, "a preview changes nothing")
}

func testUnmerge(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	ana := resolve(t, g, map[string]any{"name": "Ana", "city": "London"}, "anonymous_id:a1").Profile
	other := resolve(t, g, map[string]any{"city": "Paris", "plan": "gold"}, "email:b@example.com", "device_id:d1").Profile
	merged := resolve(t, g, map[string]any{"tier": "vip"}, "email:b@example.com", "anonymous_id:a1")
	require.Equal(t, []string{other.ID}, merged.Merged)
	resolve(t, g, map[string]any{"plan": "platinum"}, "anonymous_id:a1")

	survivor, restored, err := g.Unmerge(ctx, other.ID)
	require.NoError(t, err)
	require.Equal(t, ana.ID, survivor.ID)
	require.Equal(t, []string{"anonymous_id:a1"}, texts(survivor.Identifiers))
	require.Equal(t, map[string]any{"name": "Ana", "city": "London", "plan": "platinum", "tier": "vip"}, survivor.Traits,
		"traits the merge brought go back; those changed since stay")
	require.Equal(t, other.ID, restored.ID)
	require.Equal(t, []string{"email:b@example.com", "device_id:d1"}, texts(restored.Identifiers))
	require.Equal(t, map[string]any{"city": "Paris", "plan": "gold"}, restored.Traits, "the merged profile's traits as they were")
	require.Equal(t, other.CreateTime, restored.CreateTime)
	require.Equal(t, other.Links, restored.Links, "identifiers keep when they were first seen")

	require.Equal(t, survivor, get(t, g, ana.ID))
	require.Equal(t, restored, get(t, g, other.ID), "the merged profile's name is its own again")
	require.Equal(t, restored, lookup(t, g, "device_id:d1"))
	require.Equal(t, []string{ana.ID, other.ID}, profileIDs(listAll(t, g)))
	merges, err := g.Merges(ctx, other.ID)
	require.NoError(t, err)
	require.Len(t, merges, 1)
	require.Equal(t, survivor.UpdateTime, merges[0].UnmergeTime, "the merge log records the unmerge")

	_, _, err = g.Unmerge(ctx, other.ID)
	require.ErrorIs(t, err, profile.ErrNotMerged)
	require.ErrorIs(t, err, apierror.ErrFailedPrecondition)
	_, _, err = g.Unmerge(ctx, uuid.Must(uuid.NewV7()).String())
	require.ErrorIs(t, err, profile.ErrNotFound)

	// Seen together again, they merge again, and that merge can be undone.
	again := resolve(t, g, nil, "email:b@example.com", "anonymous_id:a1")
	require.Equal(t, []string{other.ID}, again.Merged)
	_, restored, err = g.Unmerge(ctx, other.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"email:b@example.com", "device_id:d1"}, texts(restored.Identifiers))
}

func testUnmergeChain(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	a := resolve(t, g, nil, "anonymous_id:a").Profile
	b := resolve(t, g, nil, "anonymous_id:b").Profile
	c := resolve(t, g, nil, "anonymous_id:c").Profile
	resolve(t, g, nil, "anonymous_id:c", "anonymous_id:b")
	resolve(t, g, nil, "anonymous_id:b", "anonymous_id:a")

	_, _, err := g.Unmerge(ctx, c.ID)
	require.ErrorIs(t, err, profile.ErrConflict, "c's survivor b was merged away since")
	require.Contains(t, err.Error(), "unmerge profiles/"+b.ID+" first")

	_, restored, err := g.Unmerge(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"anonymous_id:b", "anonymous_id:c"}, texts(restored.Identifiers), "b takes back what it held, c's too")
	_, restored, err = g.Unmerge(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"anonymous_id:c"}, texts(restored.Identifiers))
	require.Equal(t, []string{a.ID, b.ID, c.ID}, profileIDs(listAll(t, g)))
}

func consentTexts(consents []profile.Consent) []string {
	out := make([]string, len(consents))
	for i, c := range consents {
		answer := "denied"
		if c.Granted {
			answer = "granted"
		}
		out[i] = fmt.Sprintf("%s=%s by %s at %s", c.Purpose, answer, c.Source, c.Time.Format("15:04"))
	}
	return out
}

func testConsent(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	at := func(h int) time.Time { return time.Date(2026, 2, 1, h, 0, 0, 0, time.UTC) }
	set := func(id string, consents ...profile.Consent) []string {
		t.Helper()
		_, got, err := g.SetConsents(ctx, id, consents)
		require.NoError(t, err)
		stored, err := g.Consents(ctx, get(t, g, id).ID)
		require.NoError(t, err)
		require.Equal(t, got, stored)
		return consentTexts(got)
	}
	p := resolve(t, g, nil, "email:ana@example.com").Profile
	require.Equal(t, []string{"email=granted by signup at 10:00", "sms=denied by signup at 10:00"},
		set(p.ID, profile.Consent{Purpose: "sms", Source: "signup", Time: at(10)}, profile.Consent{Purpose: "email", Granted: true, Source: " signup ", Time: at(10)}))
	require.Equal(t, []string{"email=granted by signup at 10:00", "sms=denied by signup at 10:00"},
		set(p.ID, profile.Consent{Purpose: "email", Source: "import", Time: at(9)}), "an older answer does not replace a newer one")
	require.Equal(t, []string{"analytics=granted by a at 11:00", "email=granted by signup at 10:00", "sms=denied by signup at 10:00"},
		set(p.ID, profile.Consent{Purpose: "analytics", Granted: true, Source: "a", Time: at(11)}))
	require.Equal(t, []string{"analytics=denied by b at 11:00", "email=granted by signup at 10:00", "sms=denied by signup at 10:00"},
		set(p.ID, profile.Consent{Purpose: "analytics", Source: "b", Time: at(11)}), "at the same time, a denial wins")
	require.Equal(t, []string{"analytics=denied by b at 11:00", "email=granted by signup at 10:00", "sms=denied by signup at 10:00"},
		set(p.ID, profile.Consent{Purpose: "analytics", Granted: true, Source: "c", Time: at(11)}))

	q := resolve(t, g, nil, "anonymous_id:x").Profile
	require.Equal(t, []string{"email=denied by unsubscribe at 12:00", "personalization=granted by banner at 08:00"},
		set(q.ID, profile.Consent{Purpose: "email", Source: "unsubscribe", Time: at(12)}, profile.Consent{Purpose: "personalization", Granted: true, Source: "banner", Time: at(8)}))
	require.Equal(t, []string{q.ID}, resolve(t, g, nil, "email:ana@example.com", "anonymous_id:x").Merged)
	merged, err := g.Consents(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"analytics=denied by b at 11:00", "email=denied by unsubscribe at 12:00", "personalization=granted by banner at 08:00", "sms=denied by signup at 10:00"},
		consentTexts(merged), "a merged profile's consents count, the latest per purpose")
	require.Equal(t, []string{"analytics=denied by b at 11:00", "email=denied by unsubscribe at 12:00", "personalization=granted by banner at 08:00", "sms=granted by support at 13:00"},
		set(q.ID, profile.Consent{Purpose: "sms", Granted: true, Source: "support", Time: at(13)}), "a merged profile's name reaches the survivor")

	_, _, err = g.Unmerge(ctx, q.ID)
	require.NoError(t, err)
	back, err := g.Consents(ctx, q.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"email=denied by unsubscribe at 12:00", "personalization=granted by banner at 08:00"}, consentTexts(back),
		"an unmerged profile takes its own consents back")
	kept, err := g.Consents(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"analytics=denied by b at 11:00", "email=granted by signup at 10:00", "sms=granted by support at 13:00"}, consentTexts(kept))

	_, _, err = g.SetConsents(ctx, p.ID, []profile.Consent{{Purpose: "fax", Source: "x"}, {Purpose: "sms"}, {Purpose: "fax", Source: "y"}})
	var invalid *apierror.InvalidError
	require.ErrorAs(t, err, &invalid)
	require.Len(t, invalid.Violations, 3)
	_, _, err = g.SetConsents(ctx, uuid.Must(uuid.NewV7()).String(), []profile.Consent{{Purpose: "sms", Source: "x"}})
	require.ErrorIs(t, err, profile.ErrNotFound)
	none, err := g.Consents(ctx, resolve(t, g, nil, "anonymous_id:new").Profile.ID)
	require.NoError(t, err)
	require.Empty(t, none)
}
