package condition_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// journey is a profile that viewed a product 5h ago, viewed again 3h ago,
// added it to the cart 2h ago and completed no order.
func journey() *condition.Facts {
	f := &condition.Facts{}
	f.Add(
		condition.Event{Name: "Product Viewed", Time: ago(5 * time.Hour)},
		condition.Event{Name: "Product Viewed", Time: ago(3 * time.Hour)},
		condition.Event{Name: "Product Added", Time: ago(2 * time.Hour)},
	)
	return f
}

func TestSequence(t *testing.T) {
	tests := []struct {
		condition string
		want      bool
	}{
		{`sequence(["Product Viewed", "Product Added"], "1h")`, true},
		{`sequence(["Product Viewed", "Product Added"], "59m")`, false},
		{`sequence(["Product Added", "Product Viewed"], "1d")`, false},
		{`sequence(["Product Viewed", "Product Viewed"], "2h")`, true},
		{`sequence(["Product Viewed", "Product Viewed"], "1h")`, false},
		{`sequence(["Product Viewed", "Product Viewed", "Product Added"], "2h")`, true},
		{`sequence(["Product Viewed", "Product Viewed", "Product Viewed"], "1d")`, false},
		{`sequence(["Product Viewed", "Product Added", "Order Completed"], "4h")`, false},
		{`sequence(["Product Viewed", "Product Added"], "1h", "4h")`, true},
		{`sequence(["Product Viewed", "Product Added"], "1h", "150m")`, false},
		{`sequence(["Product Viewed", "Product Added"], "4h", "90m..6h")`, true},
		{`sequence(["Product Viewed", "Product Added"], "4h", "150m..6h")`, false},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			c, err := condition.Compile(tt.condition)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"Product Viewed", "Product Added", "Order Completed"}[:len(c.EventNames())], c.EventNames())
			got, err := c.Eval(journey(), now)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSequenceSameInstantCountsAsInOrder(t *testing.T) {
	f := &condition.Facts{}
	f.Add(condition.Event{Name: "A", Time: now}, condition.Event{Name: "B", Time: now})
	c, err := condition.Compile(`sequence(["A", "B"], "1s")`)
	require.NoError(t, err)
	got, err := c.Eval(f, now)
	require.NoError(t, err)
	require.True(t, got)
	// One event is never two steps.
	c, err = condition.Compile(`sequence(["A", "A"], "1s")`)
	require.NoError(t, err)
	got, err = c.Eval(f, now)
	require.NoError(t, err)
	require.False(t, got)
}

func TestAbandoned(t *testing.T) {
	tests := []struct {
		condition string
		at        time.Time
		want      bool
	}{
		{`abandoned("Product Added", "Order Completed", "4h")`, now, false},
		{`abandoned("Product Added", "Order Completed", "4h")`, now.Add(2*time.Hour - time.Second), false},
		{`abandoned("Product Added", "Order Completed", "4h")`, now.Add(2 * time.Hour), true},
		{`abandoned("Product Added", "Order Completed", "2h")`, now, true},
		{`abandoned("Product Added", "Order Completed", "1h", "1d")`, now.Add(21 * time.Hour), true},
		{`abandoned("Product Added", "Order Completed", "1h", "1d")`, now.Add(22 * time.Hour), false},
		{`abandoned("Product Viewed", "Product Added", "1h")`, now, false},
		{`abandoned("Never Happened", "Order Completed", "1h")`, now, false},
		{`sequence(["Product Viewed", "Product Added"], "1h") && abandoned("Product Added", "Order Completed", "2h")`, now, true},
	}
	for _, tt := range tests {
		t.Run(tt.condition+" at "+tt.at.String(), func(t *testing.T) {
			c, err := condition.Compile(tt.condition)
			require.NoError(t, err)
			got, err := c.Eval(journey(), tt.at)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestAbandonedEndsWithAnOrder(t *testing.T) {
	c, err := condition.Compile(`abandoned("Product Added", "Order Completed", "4h")`)
	require.NoError(t, err)
	f := journey()
	f.Add(condition.Event{Name: "Order Completed", Time: ago(2 * time.Hour)})
	got, err := c.Eval(f, now.Add(3*time.Hour))
	require.NoError(t, err)
	require.False(t, got, "an order at the instant of the add closes the cart")
	// A later add opens a new cart.
	f.Add(condition.Event{Name: "Product Added", Time: ago(time.Hour)})
	got, err = c.Eval(f, now.Add(3*time.Hour))
	require.NoError(t, err)
	require.True(t, got)
}

func TestSequenceNextChange(t *testing.T) {
	tests := []struct {
		condition string
		want      time.Time
	}{
		{`sequence(["Product Viewed", "Product Added"], "1h")`, time.Time{}},
		{`sequence(["Product Viewed", "Product Added"], "1h", "4h")`, now.Add(time.Hour)},
		{`sequence(["Product Viewed", "Product Added"], "1h", "1h..8h")`, now.Add(3 * time.Hour)},
		{`abandoned("Product Added", "Order Completed", "4h")`, now.Add(2 * time.Hour)},
		{`abandoned("Product Added", "Order Completed", "1h", "1d")`, now.Add(22 * time.Hour)},
		{`abandoned("Product Added", "Order Completed", "4h", "3h")`, now.Add(time.Hour)},
		{`abandoned("Product Viewed", "Product Added", "1h")`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			c, err := condition.Compile(tt.condition)
			require.NoError(t, err)
			require.Equal(t, tt.want, c.NextChange(journey(), now))
		})
	}
}

// TestSequenceNextChangeIsExact walks the clock from change to change and
// checks that the value holds until each one.
func TestSequenceNextChangeIsExact(t *testing.T) {
	srcs := []string{
		`sequence(["Product Viewed", "Product Added"], "1h", "6h")`,
		`sequence(["Product Viewed", "Product Added"], "3h", "1h..4h")`,
		`abandoned("Product Added", "Order Completed", "4h")`,
		`abandoned("Product Added", "Order Completed", "30m", "3h")`,
	}
	for _, src := range srcs {
		c, err := condition.Compile(src)
		require.NoError(t, err)
		f := journey()
		at := now.Add(-6 * time.Hour)
		changes := 0
		for range 50 {
			next := c.NextChange(f, at)
			if next.IsZero() {
				break
			}
			require.True(t, next.After(at), src)
			before, err := c.Eval(f, at)
			require.NoError(t, err)
			justBefore, err := c.Eval(f, next.Add(-time.Microsecond))
			require.NoError(t, err)
			require.Equal(t, before, justBefore, "%s at %s (next %s)", src, at, next)
			after, err := c.Eval(f, next)
			require.NoError(t, err)
			if after != before {
				changes++
			}
			at = next
		}
		require.Positive(t, changes, "%s flips at least once as time passes", src)
	}
}

func TestSequenceCompileErrors(t *testing.T) {
	tests := []struct {
		condition string
		want      string
	}{
		{`sequence(["A"], "1h")`, `1:10: sequence: a sequence has 2 to 8 steps, this one 1`},
		{`sequence(["A", "B", "C", "D", "E", "F", "G", "H", "I"], "1h")`, `a sequence has 2 to 8 steps, this one 9`},
		{`sequence(["A", traits.x], "1h")`, `1:22: sequence: each step must be an event name`},
		{`sequence(["A", ""], "1h")`, `1:16: sequence: an event name must not be empty`},
		{`sequence(["A", "B"], "1x")`, `1:22: sequence: duration "1x": want a positive number`},
		{`sequence(["A", "B"], "1h", "9d..1d")`, `sequence: window "9d..1d": the start must be more recent`},
		{`sequence(["A", "B"], "1h", {"a": 1})`, `found no matching overload for 'sequence'`},
		{`sequence(["A", "B"], traits.gap)`, `1:28: sequence: the duration must be a string literal, such as "4h"`},
		{`abandoned("A", "", "4h")`, `1:16: abandoned: the event name must not be empty`},
		{`abandoned("A", "B", "0h")`, `abandoned: duration "0h": want more than zero`},
		{`abandoned("A", "B") `, `found no matching overload for 'abandoned'`},
		{`sequence(["A", "B"], "1h") > 1`, `found no matching overload for '_>_'`},
	}
	for _, tt := range tests {
		t.Run(tt.condition, func(t *testing.T) {
			_, err := condition.Compile(tt.condition)
			var cerr *condition.Error
			require.True(t, errors.As(err, &cerr), "got %v", err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSequenceCalls(t *testing.T) {
	c, err := condition.Compile(`sequence(["Product Viewed", "Product Added"], "1h", "7d") && abandoned("Product Added", "Order Completed", "4h")`)
	require.NoError(t, err)
	require.Equal(t, []string{"Product Viewed", "Product Added", "Order Completed"}, c.EventNames())
	calls := c.Calls()
	require.Len(t, calls, 2)
	require.Equal(t, []string{"Product Viewed", "Product Added"}, calls[0].Steps)
	require.Equal(t, time.Hour, calls[0].Gap)
	require.Equal(t, condition.Window{To: 7 * 24 * time.Hour}, calls[0].Window)
	require.Equal(t, []string{"Product Added", "Order Completed"}, calls[1].Steps)
	require.Equal(t, 4*time.Hour, calls[1].Gap)
}
