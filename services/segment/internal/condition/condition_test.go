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
	ninety := condition.Window{To: 90 * 24 * time.Hour}
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
	const d = 24 * time.Hour
	for in, want := range map[string]condition.Window{
		"20s": {To: 20 * time.Second}, "30m": {To: 30 * time.Minute}, "72h": {To: 72 * time.Hour}, "90d": {To: 90 * d}, "2w": {To: 14 * d},
		"30d..90d": {From: 30 * d, To: 90 * d}, "1h..2w": {From: time.Hour, To: 14 * d},
	} {
		got, err := condition.ParseWindow(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	w, err := condition.ParseWindow("30d..90d")
	require.NoError(t, err)
	require.Equal(t, "30d..90d", w.String())
	for _, in := range []string{"", "d", "90", "-1d", "1.5h", "1y", "0s", " 1d", "1D", "5218w", "90d..30d", "30d..30d", "..90d", "30d..", "30d...90d"} {
		_, err := condition.ParseWindow(in)
		require.Error(t, err, in)
	}
}

// shop is a profile with three orders with properties, of which one is
// older than 60 days.
func shop() *condition.Facts {
	f := &condition.Facts{}
	f.Add(
		condition.Event{Name: "Order Completed", Time: ago(2 * 24 * time.Hour),
			Numbers: map[string]float64{"revenue": 40, "items": 1}, Strings: map[string]string{"category": "shoes"}, Flags: map[string]bool{"discount_used": true}},
		condition.Event{Name: "Order Completed", Time: ago(40 * 24 * time.Hour),
			Numbers: map[string]float64{"revenue": 100, "items": 3}, Strings: map[string]string{"category": "bags"}, Flags: map[string]bool{"discount_used": false}},
		condition.Event{Name: "Order Completed", Time: ago(70 * 24 * time.Hour),
			Numbers: map[string]float64{"revenue": 10}, Strings: map[string]string{"category": "shoes"}},
	)
	return f
}

func TestEvalLanguage(t *testing.T) {
	tests := []struct {
		condition string
		want      bool
	}{
		{`avg("Order Completed", "revenue") == 50.0`, true},
		{`avg("Order Completed", "revenue", "60d") == 70.0`, true},
		{`avg("Order Completed", "items") == 2.0`, true},
		{`min("Order Completed", "revenue") == 10.0 && max("Order Completed", "revenue") == 100.0`, true},
		{`max("Order Completed", "revenue", "7d") == 40.0`, true},
		{`count("Order Completed", {"category": "shoes"}) == 2`, true},
		{`count("Order Completed", "60d", {"category": "shoes"}) == 1`, true},
		{`count("Order Completed", {"category": "shoes", "discount_used": true}) == 1`, true},
		{`count("Order Completed", {"discount_used": false}) == 1`, true},
		{`count("Order Completed", {"items": 3}) == 1`, true},
		{`count("Order Completed", {"items": 3.0, "category": "bags"}) == 1`, true},
		{`count("Order Completed", {"category": "hats"}) == 0`, true},
		{`sum("Order Completed", "revenue", {"category": "shoes"}) == 50.0`, true},
		{`sum("Order Completed", "revenue", "90d", {"category": "shoes"}) == 50.0`, true},
		{`count("Order Completed", "30d..90d") == 2`, true},
		{`count("Order Completed", "1d..3d") == 1`, true},
		{`sum("Order Completed", "revenue", "30d..60d") == 100.0`, true},
		{`count("Order Completed", "50d..90d", {"category": "shoes"}) == 1`, true},
		{`days_since_last("Order Completed") == 2`, true},
		{`days_since_first("Order Completed") == 70`, true},
		{`days_since_last("Order Completed", {"category": "bags"}) == 40`, true},
		{`last_time("Order Completed") > timestamp("2025-05-01T00:00:00Z")`, true},
		{`first_time("Order Completed", {"category": "bags"}) < timestamp("2025-05-01T00:00:00Z")`, true},
		// Calls with no value make their comparison an error, which || and
		// && absorb when the other side decides.
		{`count("Order Completed", {"category": "hats"}) == 0 || avg("Order Completed", "revenue", {"category": "hats"}) > 10.0`, true},
		{`days_since_last("Review Submitted") > 30 || count("Review Submitted") == 0`, true},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			c, err := condition.Compile(tt.condition)
			require.NoError(t, err)
			got, err := c.Eval(shop(), now)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEvalWithoutValueIsAnError(t *testing.T) {
	for _, src := range []string{
		`avg("Order Completed", "revenue", "1d") > 0.0`,
		`min("Order Completed", "missing") > 0.0`,
		`days_since_last("Never") > 3`,
		`first_time("Never") > timestamp("2025-01-01T00:00:00Z")`,
	} {
		c, err := condition.Compile(src)
		require.NoError(t, err, src)
		_, err = c.Eval(shop(), now)
		require.ErrorContains(t, err, "no \"", src)
	}
}

func TestNextChange(t *testing.T) {
	const d = 24 * time.Hour
	tests := []struct {
		condition string
		want      time.Time
	}{
		{`count("Order Completed") >= 1`, time.Time{}},
		{`traits.city == "London"`, time.Time{}},
		{`last_time("Order Completed") > timestamp("2025-01-01T00:00:00Z")`, time.Time{}},
		{`count("Order Completed", "90d") >= 1`, now.Add(20 * d)},
		{`count("Order Completed", "45d") >= 1`, now.Add(5 * d)},
		{`count("Order Completed", "45d", {"category": "shoes"}) >= 1`, now.Add(43 * d)},
		{`count("Order Completed", "3d..90d") >= 1`, now.Add(d)},
		{`count("Order Completed", "80d..90d") >= 1`, now.Add(10 * d)},
		{`days_since_last("Order Completed") > 60`, now.Add(d)},
		{`count("Order Completed", "1w") > 0 && days_since_first("Order Completed") > 60`, now.Add(d)},
		{`count("Never", "1d") == 0`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			c, err := condition.Compile(tt.condition)
			require.NoError(t, err)
			require.Equal(t, tt.want, c.NextChange(shop(), now))
		})
	}
}

// TestNextChangeIsExact checks, for a range of conditions and instants, that
// no call value changes before NextChange and that one does at it.
func TestNextChangeIsExact(t *testing.T) {
	srcs := []string{
		`count("Order Completed", "45d") >= 2`,
		`count("Order Completed", "30d..60d") == 1`,
		`sum("Order Completed", "revenue", "3d..41d") >= 100.0`,
		`days_since_last("Order Completed") == 5`,
		`days_since_first("Order Completed", {"category": "shoes"}) == 75`,
	}
	for _, src := range srcs {
		c, err := condition.Compile(src)
		require.NoError(t, err)
		f := shop()
		at := now.Add(-90 * 24 * time.Hour)
		for range 200 {
			next := c.NextChange(f, at)
			if next.IsZero() {
				break
			}
			require.True(t, next.After(at), src)
			before, err := c.Eval(f, at)
			require.NoError(t, err, src)
			// Just before the change the value is the same.
			justBefore, err := c.Eval(f, next.Add(-time.Microsecond))
			require.NoError(t, err, src)
			require.Equal(t, before, justBefore, "%s at %s (next %s)", src, at, next)
			at = next
		}
	}
}

func TestCompileLanguageErrors(t *testing.T) {
	tests := []struct {
		condition string
		want      string
	}{
		{`count("a", {}) > 0`, `1:12: count: the property filter must not be empty`},
		{`count("a", {"x": traits.y}) > 0`, `1:24: count: the value of "x" must be a string, number or bool literal`},
		{`count("a", {"x": [1]}) > 0`, `the value of "x" must be a string, number or bool literal`},
		{`count("a", {traits.k: 1}) > 0`, `count: the property filter's keys must be string literals`},
		{`count("a", {"": 1}) > 0`, `count: the property filter's keys must not be empty`},
		{`count("a", "1d", traits.f) > 0`, `1:24: count: the property filter must be a map literal`},
		{`count("a", "90d..30d") > 0`, `1:12: count: window "90d..30d": the start must be more recent than the end`},
		{`count("a", "30d..9x") > 0`, `count: window "30d..9x": end: want a positive number`},
		{`avg("a") > 0.0`, `found no matching overload for 'avg'`},
		{`days_since_last("a", "1d") > 0`, `found no matching overload for 'days_since_last'`},
		{`days_since_last("a") > 0.5`, ``},
		{`count("a", traits.w) > 0`, `1:18: count: argument 2 must be a literal`},
		{`first_time("a") > 3`, `found no matching overload for '_>_'`},
		{`count("a", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9}) > 0`, `tests 9 properties; the limit is 8`},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			_, err := condition.Compile(tt.condition)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			var cerr *condition.Error
			require.True(t, errors.As(err, &cerr), "got %v", err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestFunctionsAreDocumented(t *testing.T) {
	docs := condition.Functions()
	require.Len(t, docs, 13)
	for _, d := range docs {
		require.NotEmpty(t, d.Doc, d.Signature)
		name, _, ok := strings.Cut(d.Signature, "(")
		require.True(t, ok, d.Signature)
		// The documented name is a declared function: calling it without
		// arguments is a wrong call, not an unknown name.
		_, err := condition.Compile(name + "() == 0")
		require.ErrorContains(t, err, "found no matching overload for '"+name+"'")
	}
}
