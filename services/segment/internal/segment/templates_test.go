package segment_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func TestTemplatesCompile(t *testing.T) {
	seen := map[string]bool{}
	priorities := map[int32]bool{}
	for _, tpl := range segment.Templates() {
		s := tpl.Segment
		require.Regexp(t, segment.IDPattern, s.ID)
		require.False(t, seen[s.ID], "%s twice", s.ID)
		seen[s.ID] = true
		require.NotEmpty(t, tpl.Category, s.ID)
		require.NotEmpty(t, s.DisplayName, s.ID)
		require.NotEmpty(t, s.Description, s.ID)
		c, err := condition.Compile(s.Condition)
		require.NoError(t, err, s.ID)
		for _, ref := range c.Segments() {
			require.True(t, seen[ref], "%s tests %s, which must come before it", s.ID, ref)
		}
		if s.Group != "" {
			require.False(t, priorities[s.Priority], "%s: two stages with priority %d", s.ID, s.Priority)
			priorities[s.Priority] = true
		}
	}
	for _, id := range []string{"window-shoppers", "engaged-visitors", "cart-abandoners", "loyal", "deal-seekers", "one-time-buyers",
		"full-price-buyers", "bulk-buyers", "new-visitors", "researchers", "first-time-buyers", "interest-shoes", "advocates",
		"neutral-reviewers", "dissatisfied", "high-value-repeat", "bargain-hunters", "browse-heavy-low-purchase", "seasonal-buyers",
		"mobile-first", "vip", "at-risk", "rfm-champions", "clicked-no-order", "high-ltv-not-subscribed", "bought-and-reviewed", "loyal-londoners"} {
		require.True(t, seen[id], "DESIGN.md names %s", id)
	}
}
