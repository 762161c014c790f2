package profile_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

func TestParseRulesYAMLAndJSON(t *testing.T) {
	yamlRules := `
priority: [user_id, email, crm_id, device_id, anonymous_id]
limits:
  - {type: user_id, max: 1}
  - {type: email, max: 3}
  - {type: anonymous_id, max: 10, window: 2w}
blocked:
  - {type: email, value: info@shop.com}
  - {pattern: "bot-.*"}
shared_types: [device_id]
`
	jsonRules := `{"priority": ["user_id", "email", "crm_id", "device_id", "anonymous_id"],
 "limits": [{"type": "user_id", "max": 1}, {"type": "email", "max": 3}, {"type": "anonymous_id", "max": 10, "window": "336h"}],
 "blocked": [{"type": "email", "value": "info@shop.com"}, {"pattern": "bot-.*"}],
 "shared_types": ["device_id"]}`
	for name, text := range map[string]string{"yaml": yamlRules, "json": jsonRules} {
		t.Run(name, func(t *testing.T) {
			rules, err := profile.ParseRules([]byte(text))
			require.NoError(t, err)
			p, err := rules.Compile()
			require.NoError(t, err)
			got := p.Rules()
			require.Equal(t, profile.Window(14*24*time.Hour), got.Limits[2].Window)
			require.Equal(t, "2w", got.Limits[2].Window.String())
			require.True(t, *got.BuiltinJunk, "left out: the default")
			require.Equal(t, 2, p.Rank("crm_id"))
			require.Equal(t, 5, p.Rank("loyalty_card"), "unlisted types rank last")
			require.True(t, p.Blocked(id("email", "info@shop.com")))
			require.False(t, p.Blocked(id("user_id", "info@shop.com")), "a typed block applies to its type")
			require.True(t, p.Blocked(id("anonymous_id", "BOT-17")))
			require.True(t, p.Blocked(id("anonymous_id", "undefined")), "built-in junk stays on")
		})
	}
}

func TestParseRulesDefaults(t *testing.T) {
	rules, err := profile.ParseRules(nil)
	require.NoError(t, err)
	p, err := rules.Compile()
	require.NoError(t, err)
	require.Equal(t, profile.DefaultPolicy().Rules(), p.Rules())
	require.Equal(t, []string{"user_id", "email", "phone", "device_id", "anonymous_id"}, p.Rules().Priority)
}

func TestParseRulesErrors(t *testing.T) {
	tests := map[string]string{
		"unknown field":          "limitz: []",
		"bad window":             "limits: [{type: user_id, max: 1}, {type: email, max: 2, window: soon}]",
		"user_id limit missing":  "limits: [{type: email, max: 2}]",
		"user_id limit too high": "limits: [{type: user_id, max: 2}]",
		"max below 1":            "limits: [{type: user_id, max: 1}, {type: email, max: 0}]",
		"type twice":             "limits: [{type: user_id, max: 1}, {type: user_id, max: 1}]",
		"value and pattern":      "blocked: [{value: x, pattern: y}]",
		"bad pattern":            "blocked: [{pattern: '('}]",
		"priority twice":         "priority: [email, email]",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			rules, err := profile.ParseRules([]byte(text))
			if err == nil {
				_, err = rules.Compile()
			}
			require.Error(t, err)
		})
	}
}

func TestBuiltinJunk(t *testing.T) {
	p := profile.DefaultPolicy()
	for _, junk := range []profile.Identifier{
		id("anonymous_id", "null"), id("anonymous_id", "Undefined"), id("user_id", "0"), id("user_id", "000"),
		id("anonymous_id", "anonymous"), id("email", "test@test.com"), id("email", "test@example.com"),
		id("email", "asdf@gmail.com"), id("email", "ana@localhost"), id("email", "x@shop.invalid"), id("user_id", "[object Object]"),
	} {
		require.True(t, p.Blocked(junk), "%s", junk)
	}
	for _, real := range []profile.Identifier{
		id("anonymous_id", "a0"), id("user_id", "10"), id("email", "ana@example.com"), id("email", "tester@gmail.com"),
	} {
		require.False(t, p.Blocked(real), "%s", real)
	}
	off := false
	none, err := profile.Rules{BuiltinJunk: &off}.Compile()
	require.NoError(t, err)
	require.False(t, none.Blocked(id("anonymous_id", "null")))
}
