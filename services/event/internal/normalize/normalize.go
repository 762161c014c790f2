// Package normalize makes events from different sources comparable before
// they are stored: event names are mapped to canonical names (order_completed
// and purchase become "Order Completed"), category labels to the store's
// labels, and money amounts to the store currency with configured rates.
//
// Rules come from built-in defaults (the Segment E-commerce v2 names and the
// GA4 names for the same actions) extended by a JSON or YAML file.
package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/barista-cdp/barista/services/event/internal/event"
)

// Rules is the normalization configuration, as written in a rules file.
type Rules struct {
	// EventAliases maps event names as sources send them to canonical
	// names. Matching ignores case and treats "_", "-", "." and runs of
	// spaces alike, so "order_completed" also matches "Order-Completed".
	EventAliases map[string]string `json:"event_aliases,omitempty"`
	// CategoryLabels maps category labels to the store's labels, matched
	// like event names, in properties.category and properties.products[].category.
	CategoryLabels map[string]string `json:"category_labels,omitempty"`
	// StoreCurrency is the ISO 4217 code that money amounts are converted to.
	StoreCurrency string `json:"store_currency,omitempty"`
	// CurrencyRates gives, per ISO 4217 code, how much one unit of that
	// currency is worth in the store currency.
	CurrencyRates map[string]float64 `json:"currency_rates,omitempty"`
	// MoneyProperties names the properties (of the event and of each of its
	// products) that hold amounts in properties.currency.
	MoneyProperties []string `json:"money_properties,omitempty"`
}

// canonicalEvents are the Segment spec names; each also matches its own
// snake_case or lower-case spelling.
var canonicalEvents = []string{
	"Products Searched", "Product List Viewed", "Product List Filtered", "Product Clicked", "Product Viewed",
	"Product Added", "Product Removed", "Cart Viewed", "Checkout Started", "Checkout Step Viewed",
	"Checkout Step Completed", "Payment Info Entered", "Order Updated", "Order Completed", "Order Refunded",
	"Order Cancelled", "Coupon Entered", "Coupon Applied", "Coupon Denied", "Coupon Removed",
	"Product Added to Wishlist", "Product Removed from Wishlist", "Wishlist Product Added to Cart",
	"Product Shared", "Cart Shared", "Product Reviewed", "Email Opened", "Email Clicked", "Email Unsubscribed",
	"Email Subscribed", "Application Opened", "Application Backgrounded", "Signed Up", "Signed In",
}

// Defaults returns the built-in rules: the Segment spec names, the GA4 and
// common synonyms for them, store currency USD and no rates (rates go stale;
// configure them).
func Defaults() Rules {
	r := Rules{
		EventAliases: map[string]string{
			"purchase":           "Order Completed",
			"order":              "Order Completed",
			"checkout_completed": "Order Completed",
			"refund":             "Order Refunded",
			"view_item":          "Product Viewed",
			"view_item_list":     "Product List Viewed",
			"select_item":        "Product Clicked",
			"add_to_cart":        "Product Added",
			"remove_from_cart":   "Product Removed",
			"view_cart":          "Cart Viewed",
			"begin_checkout":     "Checkout Started",
			"add_payment_info":   "Payment Info Entered",
			"add_to_wishlist":    "Product Added to Wishlist",
			"search":             "Products Searched",
			"sign_up":            "Signed Up",
			"login":              "Signed In",
		},
		CategoryLabels:  map[string]string{},
		StoreCurrency:   "USD",
		CurrencyRates:   map[string]float64{},
		MoneyProperties: []string{"revenue", "total", "subtotal", "value", "price", "discount", "shipping", "tax"},
	}
	for _, name := range canonicalEvents {
		r.EventAliases[name] = name
	}
	return r
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// Load reads a rules file (JSON or YAML) and returns the defaults extended
// by it: its aliases and labels are added to the built-in ones (and win),
// and its store currency, rates and money properties replace the defaults
// when set. Unknown keys are errors, so a typo does not silently do nothing.
func Load(path string) (Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Rules{}, fmt.Errorf("normalization rules: %w", err)
	}
	var file Rules
	if err := yaml.UnmarshalStrict(b, &file); err != nil {
		return Rules{}, fmt.Errorf("normalization rules %s: %w", path, err)
	}
	r := Defaults()
	maps.Copy(r.EventAliases, file.EventAliases)
	maps.Copy(r.CategoryLabels, file.CategoryLabels)
	if file.StoreCurrency != "" {
		r.StoreCurrency = file.StoreCurrency
	}
	if file.CurrencyRates != nil {
		r.CurrencyRates = file.CurrencyRates
	}
	if file.MoneyProperties != nil {
		r.MoneyProperties = file.MoneyProperties
	}
	if _, err := New(r); err != nil {
		return Rules{}, fmt.Errorf("normalization rules %s: %w", path, err)
	}
	return r, nil
}

// Normalizer applies Rules to events; it implements event.Normalizer.
type Normalizer struct {
	rules      Rules
	events     map[string]string
	categories map[string]string
	money      map[string]bool
	// spelled maps the names of the rules as written (aliases and the
	// names they map to) to the alias of their matching form, if any, so
	// that names sent as the rules spell them, as most are, are looked up
	// without computing their matching form.
	spelled map[string]eventAlias
}

// eventAlias is the name an event name maps to, if it does.
type eventAlias struct {
	to string
	ok bool
}

var _ event.Normalizer = (*Normalizer)(nil)

// New checks rules and returns their Normalizer.
func New(rules Rules) (*Normalizer, error) {
	n := &Normalizer{rules: rules, events: map[string]string{}, categories: map[string]string{}, money: map[string]bool{}}
	var errs []error
	for _, m := range []struct {
		what string
		from map[string]string
		to   map[string]string
	}{{"event_aliases", rules.EventAliases, n.events}, {"category_labels", rules.CategoryLabels, n.categories}} {
		for _, from := range slices.Sorted(maps.Keys(m.from)) {
			to := m.from[from]
			k := key(from)
			switch prev, dup := m.to[k]; {
			case k == "" || strings.TrimSpace(to) == "":
				errs = append(errs, fmt.Errorf("%s: %q → %q: both sides must be non-empty", m.what, from, to))
			case dup && prev != to:
				errs = append(errs, fmt.Errorf("%s: %q maps to both %q and %q (spellings that differ only in case or separators match alike)", m.what, from, prev, to))
			default:
				m.to[k] = to
			}
		}
	}
	if !currencyCode.MatchString(rules.StoreCurrency) {
		errs = append(errs, fmt.Errorf("store_currency %q: want an ISO 4217 code such as USD", rules.StoreCurrency))
	}
	for _, code := range slices.Sorted(maps.Keys(rules.CurrencyRates)) {
		rate := rules.CurrencyRates[code]
		if !currencyCode.MatchString(code) {
			errs = append(errs, fmt.Errorf("currency_rates: %q is not an ISO 4217 code such as EUR", code))
		}
		if !(rate > 0) || math.IsInf(rate, 0) {
			errs = append(errs, fmt.Errorf("currency_rates: %s has rate %v; want a positive number", code, rate))
		}
	}
	for _, p := range rules.MoneyProperties {
		n.money[p] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	n.spelled = map[string]eventAlias{}
	for from, to := range rules.EventAliases {
		for _, name := range []string{from, to} {
			alias, ok := n.events[key(name)]
			n.spelled[name] = eventAlias{alias, ok}
		}
	}
	return n, nil
}

// eventAlias returns what the event name maps to, if it does.
func (n *Normalizer) eventAlias(name string) (string, bool) {
	if a, known := n.spelled[name]; known {
		return a.to, a.ok
	}
	to, ok := n.events[key(name)]
	return to, ok
}

// Rules returns the active rules.
func (n *Normalizer) Rules() Rules { return n.rules }

// EventAliases returns the event-name mapping in force, keyed by matching
// form ("order completed").
func (n *Normalizer) EventAliases() map[string]string { return maps.Clone(n.events) }

// CategoryLabels returns the category mapping in force, keyed by matching
// form.
func (n *Normalizer) CategoryLabels() map[string]string { return maps.Clone(n.categories) }

// key is the matching form of a name: lower case, with "_", "-", "." and
// runs of white space turned into one space.
func key(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' || unicode.IsSpace(r) {
			return ' '
		}
		return unicode.ToLower(r)
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// Normalize implements event.Normalizer. It renames the event, relabels
// categories and converts money to the store currency, recording the
// original currency and the rate used as properties.original_currency and
// properties.exchange_rate. Amounts in a currency without a configured rate
// are left as sent, with their currency, so nothing is lost or guessed.
func (n *Normalizer) Normalize(ev *event.Event) error {
	if to, ok := n.eventAlias(ev.Name); ok && ev.Type == event.TypeTrack {
		ev.Name = to
	}
	// Most events need no change: decode properties only when they may.
	relabel := len(n.categories) > 0 && bytes.Contains(ev.Properties, []byte(`"category"`))
	if !relabel && !bytes.Contains(ev.Properties, []byte(`"currency"`)) {
		return nil
	}
	props, err := decode(ev.Properties)
	if err != nil {
		return err
	}
	changed := n.relabel(props)
	if products, ok := props["products"].([]any); ok {
		for _, p := range products {
			if m, ok := p.(map[string]any); ok && n.relabel(m) {
				changed = true
			}
		}
	}
	if n.convert(props) {
		changed = true
	}
	if !changed {
		return nil
	}
	b, err := json.Marshal(props)
	if err != nil {
		return fmt.Errorf("encode normalized properties: %w", err)
	}
	ev.Properties = b
	return nil
}

func (n *Normalizer) relabel(m map[string]any) bool {
	c, ok := m["category"].(string)
	if !ok {
		return false
	}
	to, ok := n.categories[key(c)]
	if !ok || to == c {
		return false
	}
	m["category"] = to
	return true
}

// convert converts the money properties of props and of its products from
// props.currency to the store currency.
func (n *Normalizer) convert(props map[string]any) bool {
	cur, ok := props["currency"].(string)
	if !ok {
		return false
	}
	code := strings.ToUpper(strings.TrimSpace(cur))
	if code == n.rules.StoreCurrency {
		if code != cur {
			props["currency"] = code
			return true
		}
		return false
	}
	rate, ok := n.rules.CurrencyRates[code]
	if !ok {
		return false
	}
	n.scale(props, rate)
	if products, ok := props["products"].([]any); ok {
		for _, p := range products {
			if m, ok := p.(map[string]any); ok {
				n.scale(m, rate)
			}
		}
	}
	props["currency"] = n.rules.StoreCurrency
	props["original_currency"] = code
	props["exchange_rate"] = rate
	return true
}

func (n *Normalizer) scale(m map[string]any, rate float64) {
	for k, v := range m {
		if !n.money[k] {
			continue
		}
		num, ok := v.(json.Number)
		if !ok {
			continue
		}
		f, err := num.Float64()
		if err != nil {
			continue
		}
		// Four decimals keep every currency's minor unit and drop the
		// binary noise of the multiplication (0.1 × 3 = 0.30000000000000004).
		m[k] = math.Round(f*rate*1e4) / 1e4
	}
}

// decode reads properties keeping numbers as written, so that the ones
// normalization does not touch are stored exactly as sent.
func decode(raw json.RawMessage) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode properties: %w", err)
	}
	return m, nil
}
