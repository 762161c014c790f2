package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStorableJSON(t *testing.T) {
	for _, tc := range []struct {
		raw, want string // want empty: raw unchanged
	}{
		{`{ "a" : [1, -2.5e3, true, null, {"b": "c\"d\n"}] }`, ""},
		{`{"order_id":123456789012345678901234567890,"tiny":1e-300}`, ""},
		// Escaped keys read as the keys they spell; a lone surrogate is
		// U+FFFD, as encoding/json reads it; numbers keep their digits.
		{`{"curr\u0065ncy":"EUR","n":123456789012345678901234567890,"s":"caf\u00e9 \ud83d\ude00 \ud800"}`,
			`{"currency":"EUR","n":123456789012345678901234567890,"s":"café 😀 ` + "\ufffd" + `"}`},
	} {
		got, err := storableJSON(json.RawMessage(tc.raw))
		require.NoError(t, err, tc.raw)
		want := tc.want
		if want == "" {
			want = tc.raw
			require.Equal(t, tc.raw, string(got))
		}
		require.JSONEq(t, want, string(got), tc.raw)
	}

	deep := `{"a":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`
	for _, tc := range []struct{ raw, err string }{
		{`{"a":"x\u0000"}`, "NUL character"},
		{`{"\u0000":1}`, "NUL character"},
		{`{"n":1e400}`, "the number 1e400 is out of range"},
		{`{"n":-1.5E+309}`, "out of range"},
		{`{"n":1e-20000}`, "the number 1e-20000 is out of range"},
		{`{"n":` + strings.Repeat("9", 401) + `}`, "401 characters long; the limit is 400"},
		{deep, "nested more than 1000 levels deep"},
	} {
		_, err := storableJSON(json.RawMessage(tc.raw))
		require.ErrorContains(t, err, tc.err, tc.raw[:min(len(tc.raw), 40)])
	}
	ok := `{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`
	_, err := storableJSON(json.RawMessage(ok))
	require.NoError(t, err)
}
