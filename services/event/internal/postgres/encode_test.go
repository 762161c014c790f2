package postgres

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

func TestIdentifiersJSONIsJSONMarshal(t *testing.T) {
	for _, ids := range [][]event.Identifier{
		nil,
		{{Type: "user_id", Value: "42"}},
		{{Type: "email", Value: "ana@example.com"}, {Type: "anonymous_id", Value: "a-1 b~"}},
		{{Type: "user_id", Value: `say "hi" \ <b>&`}},
		{{Type: "user_id", Value: "naïve ☕ \x01 \xff"}},
	} {
		want, err := json.Marshal(ids)
		require.NoError(t, err)
		got, err := identifiersJSON(ids)
		require.NoError(t, err)
		if ids == nil {
			require.Equal(t, "[]", string(got))
			continue
		}
		require.Equal(t, string(want), string(got))
	}
}
