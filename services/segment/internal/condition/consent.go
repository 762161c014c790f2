package condition

import (
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// consentFunctions are the functions over the profile's consents, as the
// profile service records them.
func consentFunctions() []function {
	return []function{{
		name: "consent", signature: `consent(purpose) → bool`,
		doc: `whether the latest consent of the profile for the purpose ("analytics", "email", "sms", "personalization") ` +
			"is granted; false when it was denied or never given",
		base: []argKind{argProperty}, noFilter: true, result: cel.BoolType,
		evaluate: func(c Call, f *Facts, _ time.Time) (ref.Val, bool) {
			return types.Bool(f.Consents[c.Property]), true
		},
		next: func(Call, *Facts, time.Time) time.Time { return time.Time{} },
	}}
}
