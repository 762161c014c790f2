package condition_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

// facts is a profile with orders 10s, 25m, 71h, 89d and 13d ago, a view, and
// traits.
func facts() *condition.Facts {
	f := &condition.Facts{Traits: map[string]any{"city": "London", "age": 31.0, "tags": []any{"vip"}}}
	for i, at := range []time.Time{ago(10 * time.Second), ago(25 * time.Minute), ago(71 * time.Hour), ago(89 * 24 * time.Hour), ago(13 * 24 * time.Hour)} {
		f.Add(condition.Event{Name: "Order Completed", Time: at, Numbers: map[string]float64{"revenue": float64(10 * (i + 1))}})
	}
	f.Add(condition.Event{Name: "Product Viewed", Time: ago(time.Minute)})
	return f
}

func TestEval(t *testing.T) {
	tests := []struct {
		condition string
		want      bool
	}{
		{`count("Order Completed") == 5`, true},
		{`count("Product Viewed") == 1`, true},
		{`count("Never Happened") == 0`, true},
		{`count("Order Completed", "20s") == 1`, true},
		{`count("Order Completed", "30m") == 2`, true},
		{`count("Order Completed", "72h") == 3`, true},
		{`count("Order Completed", "2w") == 4`, true},
		{`count("Order Completed", "90d") == 5`, true},
		{`count("Order Completed", "5s") == 0`, true},
		{`sum("Order Completed", "revenue", "30m") == 30.0`, true},
		{`sum("Order Completed", "revenue", "90d") == 150.0`, true},
		{`sum("Order Completed", "revenue", "90d") > 200`, false},
		{`sum("Order Completed", "missing", "90d") == 0.0`, true},
		{`sum("Product Viewed", "revenue", "1h") == 0.0`, true},
		{`traits.city == "London" && count("Order Completed") >= 2`, true},
		{`traits.age > 30`, true},
		{`"vip" in traits.tags`, true},
		{`has(traits.email)`, false},
		{`count("Order Completed", "90d") >= 3 && sum("Order Completed", "revenue", "90d") > 200.0`, false},
		{`count("Email Clicked", "72h") > 0 && count("Order Completed", "72h") == 0`, false},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			c, err := condition.Compile(tt.condition)
			require.NoError(t, err)
			got, err := c.Eval(facts(), now)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEvalWindowsMoveWithTheClock(t *testing.T) {
	c, err := condition.Compile(`count("Order Completed", "1h") >= 1`)
	require.NoError(t, err)
	f := &condition.Facts{}
	f.Add(condition.Event{Name: "Order Completed", Time: now})
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{now, true},
		{now.Add(59 * time.Minute), true},
		{now.Add(time.Hour), false},
		{now.Add(-time.Hour), true},
	} {
		got, err := c.Eval(f, tt.at)
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "at %s", tt.at)
	}
}

func TestEvalMissingTraitIsAnError(t *testing.T) {
	c, err := condition.Compile(`traits.city == "London"`)
	require.NoError(t, err)
	_, err = c.Eval(&condition.Facts{}, now)
	require.ErrorContains(t, err, "city")
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		condition string
		want      string
	}{
		{`count("Order Completed", "90d") >=`, "1:35: Syntax error: "},
		{"count(\"a\") >= 1 &&\n  count(\"b\") >", "2:15: Syntax error: "},
		{`count("Order Completed")`, "1:1: a condition must be a bool, this one is int"},
		{`sum("Order Completed", "revenue", "90d")`, "must be a bool, this one is double"},
		{`bought("Order Completed") > 0`, "1:7: undeclared reference to 'bought'"},
		{`count("Order Completed", "90d", "x") > 0`, "1:6: found no matching overload for 'count'"},
		{`unknown > 1`, "1:1: undeclared reference to 'unknown'"},
		{`count(traits.event) > 0`, "1:13: count: the event name must be a string literal"},
		{`["a"].exists(x, count(x) > 0)`, "1:23: count: the event name must be a string literal"},
		{`count("a", "90x") > 0`, `1:12: count: window "90x": want a positive number and a unit s, m, h, d or w`},
		{`count("a", "0d") > 0`, `1:12: count: window "0d": want more than zero`},
		{`count("a", "99999w") > 0`, `at most 100 years`},
		{`count("") > 0`, `1:7: count: the event name must not be empty`},
		{`sum("a", "", "1d") > 0.0`, `1:10: sum: the property must not be empty`},
		{`sum("a", "revenue", 90) > 0.0`, `found no matching overload for 'sum'`},
		{`  `, "1:1: empty condition"},
		{strings.Repeat("true && ", 3000) + "true", "expression code point size exceeds limit"},
	}
	for _, tt := range tests {
		t.Run(tt.condition[:min(len(tt.condition), 40)], func(t *testing.T) {
			_, err := condition.Compile(tt.condition)
			var cerr *condition.Error
			require.True(t, errors.As(err, &cerr), "got %v", err)
			require.Contains(t, err.Error(), tt.want)
			require.NotEmpty(t, cerr.Issues)
			require.Positive(t, cerr.Issues[0].Line)
			require.Positive(t, cerr.Issues[0].Column)
		})
	}
}

func TestCompileReportsEveryBadArgument(t *testing.T) {
	_, err := condition.Compile(`count("a", "1x") > 0 && sum("b", traits.p, "2y") > 0.0`)
	var cerr *condition.Error
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Issues, 3, err.Error())
}

func TestCallsAndEventNames(t *testing.T) {
	c, err := condition.Compile(`count("Order Completed", "90d") >= 3 && sum("Order Completed", "revenue", "90d") > 200.0 ||
		count("Email Clicked") > 0 && count("Order Completed", "90d") < 10 && traits.city == "London"`)
	require.NoError(t, err)
	require.Equal(t, []string{"Order Completed", "Email Clicked"}, c.EventNames())
	var got []condition.Call
	for _, call := range c.Calls() {
		got = append(got, condition.Call{Function: call.Function, Event: call.Event, Property: call.Property, Window: call.Window})
	}
	ninety := 90 * 24 * time.Hour
	require.Equal(t, []condition.Call{
		{Function: "count", Event: "Order Completed", Window: ninety},
		{Function: "sum", Event: "Order Completed", Property: "revenue", Window: ninety},
		{Function: "count", Event: "Email Clicked"},
	}, got, "each distinct call once")

	traitsOnly, err := condition.Compile(`traits.city == "London"`)
	require.NoError(t, err)
	require.Empty(t, traitsOnly.EventNames())
}

func TestCostLimit(t *testing.T) {
	c, err := condition.Compile(`traits.items.all(x, traits.items.all(y, x + y >= 0.0))`)
	require.NoError(t, err)
	small := &condition.Facts{Traits: map[string]any{"items": []any{1.0, 2.0}}}
	ok, err := c.Eval(small, now)
	require.NoError(t, err)
	require.True(t, ok)

	items := make([]any, 1000)
	for i := range items {
		items[i] = float64(i)
	}
	_, err = c.Eval(&condition.Facts{Traits: map[string]any{"items": items}}, now)
	require.ErrorContains(t, err, "cost limit exceeded")
}

func TestComprehensionNestingIsBounded(t *testing.T) {
	_, err := condition.Compile(`traits.a.all(x, traits.a.all(y, traits.a.all(z, true)))`)
	require.ErrorContains(t, err, "nesting")
}

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"20s": 20 * time.Second, "30m": 30 * time.Minute, "72h": 72 * time.Hour, "90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour,
	} {
		got, err := condition.ParseWindow(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "90", "-1d", "1.5h", "1y", "0s", " 1d", "1D", "5218w"} {
		_, err := condition.ParseWindow(in)
		require.Error(t, err, in)
	}
}
