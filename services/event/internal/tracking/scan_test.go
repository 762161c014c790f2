package tracking

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

var scanSeeds = []string{
	`{}`, `[]`, ` { "a" : 1 , "b":[1, {"c":"]}"}], "d":"x\"y\\", "e":null,"f":true,"g":-1.5e3 } `,
	`{"a":1,"a":2}`, `{"k\u00e9y\n":"v","":{}}`, `[{"type":"track"}, 1, "s", [], {}, null]`, `{"nested":{"deep":[[[{"x":"{"}]]]}}`,
}

// FuzzMembers checks that members and elements split every valid JSON
// object and array exactly as json.Unmarshal into json.RawMessage does.
func FuzzMembers(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var wantM map[string]json.RawMessage
		if json.Unmarshal(raw, &wantM) == nil && wantM != nil {
			got, err := members(raw)
			require.NoError(t, err)
			require.Equal(t, len(wantM), len(got))
			for k, v := range wantM {
				require.Equal(t, string(v), string(got[k]), "member %q", k)
			}
		}
		var wantA []json.RawMessage
		if json.Unmarshal(raw, &wantA) == nil && wantA != nil {
			got, err := elements(raw)
			require.NoError(t, err)
			require.Equal(t, len(wantA), len(got))
			for i := range wantA {
				require.Equal(t, string(wantA[i]), string(got[i]), "element %d", i)
			}
		}
	})
}
