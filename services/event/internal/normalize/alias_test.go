package normalize

import (
	"strings"
	"testing"
)

// TestEventAliasSpelledAsTheMatchingForm: the lookup of names spelled as
// the rules spell them gives what the matching form gives, for the
// built-in rules and for rules whose names map on again, and names
// spelled otherwise still match.
func TestEventAliasSpelledAsTheMatchingForm(t *testing.T) {
	custom := Rules{StoreCurrency: "USD", EventAliases: map[string]string{
		"checkout":        "Order Completed",
		"order completed": "Purchase Made",
	}}
	for _, rules := range []Rules{Defaults(), custom} {
		n, err := New(rules)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for from, to := range rules.EventAliases {
			names = append(names, from, to, strings.ToUpper(from), strings.ReplaceAll(to, " ", "_"), from+" x")
		}
		for _, name := range names {
			want, wantOK := n.events[key(name)]
			got, ok := n.eventAlias(name)
			if got != want || ok != wantOK {
				t.Errorf("eventAlias(%q) = %q, %v; the matching form gives %q, %v", name, got, ok, want, wantOK)
			}
		}
	}
}
