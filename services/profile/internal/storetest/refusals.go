package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// testPreviewRulesMerges checks that joins the rules refuse are recorded
// (by Resolve and by a batch) and that a dry run of looser rules counts the
// merges they would make, while the rules in force count none.
func testPreviewRulesMerges(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	// The rules in force: one email per profile.
	a := resolve(t, g, nil, "email:a@example.com", "anonymous_id:a1").Profile
	b := resolve(t, g, nil, "email:b@example.com", "anonymous_id:b1").Profile
	resolve(t, g, nil, "email:c@example.com", "anonymous_id:c1")
	d := resolve(t, g, nil, "email:d@example.com").Profile

	// b's email seen with a's browser: joining a would give a profile two
	// emails, so a's browser is ignored and nothing merges.
	res := resolve(t, g, nil, "email:b@example.com", "anonymous_id:a1")
	require.Equal(t, b.ID, res.Profile.ID)
	require.Empty(t, res.Merged)
	resolve(t, g, nil, "email:b@example.com", "anonymous_id:a1") // again: one refusal
	out, err := g.ResolveBatch(ctx, []profile.Request{{Identifiers: ids("email:d@example.com", "anonymous_id:c1")}})
	require.NoError(t, err)
	require.NoError(t, out[0].Err)
	require.Equal(t, d.ID, out[0].Resolution.Profile.ID, "a batch records its refusals too")

	refusals, _, err := g.Refusals(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, refusals, 2, "each refused join once")
	require.Equal(t, profile.Refusal{Profile: b.ID, Other: a.ID, Rule: profile.RuleLimit, Type: "anonymous_id", Time: refusals[0].Time}, refusals[0])

	same, err := g.PreviewRules(ctx, g.Policy())
	require.NoError(t, err)
	require.Zero(t, same.Joins, "the rules in force refuse them again")
	require.Empty(t, same.Merged)

	rules, err := profile.ParseRules([]byte(`limits: [{type: user_id, max: 1}, {type: email, max: 2}]`))
	require.NoError(t, err)
	next, err := rules.Compile()
	require.NoError(t, err)
	preview, err := g.PreviewRules(ctx, next)
	require.NoError(t, err)
	require.Equal(t, 2, preview.Joins)
	require.ElementsMatch(t, []string{b.ID, d.ID}, preview.Merged, "the younger profile of each pair is merged away")
	require.Equal(t, b, get(t, g, b.ID), "a preview changes nothing")
}
