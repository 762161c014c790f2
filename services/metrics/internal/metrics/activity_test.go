package metrics

import "testing"

func TestActionOf(t *testing.T) {
	for name, want := range map[string]Action{
		"Order Completed":    Order,
		"Email Opened":       Open,
		"Email Clicked":      Click,
		"Email Unsubscribed": Unsubscribe,
		"Unsubscribed":       Unsubscribe,
		"Product Viewed":     Other,
		"order completed":    Other,
	} {
		if got := ActionOf(name); got != want {
			t.Errorf("ActionOf(%q) = %v, want %v", name, got, want)
		}
	}
}
