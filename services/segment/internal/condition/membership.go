package condition

import (
	"regexp"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// segmentIDPattern is what a segment id looks like.
var segmentIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// membershipFunctions are the functions over the profile's memberships of
// other segments.
func membershipFunctions() []function {
	return []function{{
		name: "in_segment", signature: `in_segment(segment) → bool`,
		doc: "whether the profile is a member of another segment, by id, as evaluated just before this one " +
			"(segments are evaluated in dependency order; a cycle is refused)",
		base: []argKind{argSegment}, noFilter: true, result: cel.BoolType,
		evaluate: func(c Call, f *Facts, _ time.Time) (ref.Val, bool) {
			return types.Bool(f.InSegment != nil && f.InSegment(c.Segment)), true
		},
		next: func(Call, *Facts, time.Time) time.Time { return time.Time{} },
	}}
}
