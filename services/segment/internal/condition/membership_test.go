package condition_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

func TestInSegment(t *testing.T) {
	c, err := condition.Compile(`in_segment("vip") && !in_segment("churned") || in_segment("vip") && count("Order Completed") > 9`)
	require.NoError(t, err)
	require.Equal(t, []string{"vip", "churned"}, c.Segments())
	require.Equal(t, []string{"Order Completed"}, c.EventNames())
	calls := c.Calls()
	require.Equal(t, "vip", calls[0].Segment)
	require.Equal(t, 1, calls[0].Line)
	require.Equal(t, 1, calls[0].Column)
	require.Equal(t, 23, calls[1].Column)

	for _, tt := range []struct {
		in   []string
		want bool
	}{
		{nil, false},
		{[]string{"vip"}, true},
		{[]string{"vip", "churned"}, false},
		{[]string{"churned"}, false},
	} {
		f := &condition.Facts{InSegment: func(id string) bool { return contains(tt.in, id) }}
		got, err := c.Eval(f, now)
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "member of %v", tt.in)
	}
	got, err := c.Eval(&condition.Facts{}, now)
	require.NoError(t, err)
	require.False(t, got, "no memberships known: a member of none")
	require.Zero(t, c.NextChange(facts(), now), "only the other segment's own conditions change with time")
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestInSegmentCompileErrors(t *testing.T) {
	for src, want := range map[string]string{
		`in_segment("VIP")`:         `1:12: in_segment: "VIP" is not a segment id`,
		`in_segment("")`:            `1:12: in_segment: "" is not a segment id`,
		`in_segment(traits.s)`:      `1:18: in_segment: the segment id must be a string literal, such as "vip"`,
		`in_segment("vip") > 1`:     `found no matching overload for '_>_'`,
		`in_segment("a", "b")`:      `found no matching overload for 'in_segment'`,
		`in_segment("a", {"x": 1})`: `found no matching overload for 'in_segment'`,
	} {
		_, err := condition.Compile(src)
		require.ErrorContains(t, err, want, src)
	}
}
