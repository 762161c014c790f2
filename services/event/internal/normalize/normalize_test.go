package normalize_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/event/internal/event"
	"github.com/barista-cdp/barista/services/event/internal/normalize"
)

func rules() normalize.Rules {
	r := normalize.Defaults()
	r.CategoryLabels = map[string]string{"footwear": "Shoes", "shoes": "Shoes", "Damen Schuhe": "Shoes"}
	r.StoreCurrency = "EUR"
	r.CurrencyRates = map[string]float64{"USD": 0.9, "GBP": 1.15}
	return r
}

func TestNormalize(t *testing.T) {
	n, err := normalize.New(rules())
	require.NoError(t, err)
	tests := []struct {
		name      string
		typ       event.Type
		in        string
		props     string
		wantName  string
		wantProps string // empty: unchanged
	}{
		{"snake case spec name", event.TypeTrack, "order_completed", ``, "Order Completed", ""},
		{"GA4 name", event.TypeTrack, "purchase", ``, "Order Completed", ""},
		{"case and separators", event.TypeTrack, "  PRODUCT-viewed ", ``, "Product Viewed", ""},
		{"canonical stays", event.TypeTrack, "Order Completed", ``, "Order Completed", ""},
		{"unknown name stays", event.TypeTrack, "Loyalty Points Earned", ``, "Loyalty Points Earned", ""},
		{"page names are not event names", event.TypePage, "purchase", ``, "purchase", ""},
		{"category label", event.TypeTrack, "Product Viewed", `{"category":"FOOTWEAR","price":10}`, "Product Viewed", `{"category":"Shoes","price":10}`},
		{"category of products", event.TypeTrack, "Order Completed", `{"products":[{"category":"damen_schuhe"},{"category":"Hats"}]}`, "Order Completed",
			`{"products":[{"category":"Shoes"},{"category":"Hats"}]}`},
		{"currency converted", event.TypeTrack, "Order Completed",
			`{"currency":"usd","revenue":100,"discount":10.5,"order_id":"o-1","products":[{"price":20,"quantity":3}]}`, "Order Completed",
			`{"currency":"EUR","original_currency":"USD","exchange_rate":0.9,"revenue":90,"discount":9.45,"order_id":"o-1","products":[{"price":18,"quantity":3}]}`},
		{"no binary noise", event.TypeTrack, "Order Completed", `{"currency":"GBP","revenue":0.1}`, "Order Completed",
			`{"currency":"EUR","original_currency":"GBP","exchange_rate":1.15,"revenue":0.115}`},
		{"store currency only upper-cased", event.TypeTrack, "Order Completed", `{"currency":"eur","revenue":12.345678901234567890}`, "Order Completed",
			`{"currency":"EUR","revenue":12.345678901234567890}`},
		{"currency without a rate kept as sent", event.TypeTrack, "Order Completed", `{"currency":"JPY","revenue":1000}`, "Order Completed", ""},
		{"amount that is not a number kept", event.TypeTrack, "Order Completed", `{"currency":"USD","revenue":"a lot"}`, "Order Completed",
			`{"currency":"EUR","original_currency":"USD","exchange_rate":0.9,"revenue":"a lot"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := event.Event{Type: tc.typ, Name: tc.in}
			if tc.props != "" {
				ev.Properties = json.RawMessage(tc.props)
			}
			require.NoError(t, n.Normalize(&ev))
			require.Equal(t, tc.wantName, ev.Name)
			want := tc.wantProps
			if want == "" {
				want = tc.props
			}
			if want == "" {
				require.Empty(t, ev.Properties)
				return
			}
			require.JSONEq(t, want, string(ev.Properties))
		})
	}
}

func TestNewRejectsBadRules(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *normalize.Rules)
		err    string
	}{
		{"conflicting spellings", func(r *normalize.Rules) {
			r.EventAliases["Buy"] = "Order Completed"
			r.EventAliases["buy"] = "Product Added"
		}, `maps to both`},
		{"empty target", func(r *normalize.Rules) { r.CategoryLabels["x"] = " " }, "both sides must be non-empty"},
		{"bad store currency", func(r *normalize.Rules) { r.StoreCurrency = "euro" }, `store_currency "euro"`},
		{"bad rate", func(r *normalize.Rules) { r.CurrencyRates["USD"] = -1 }, "USD has rate -1"},
		{"bad code", func(r *normalize.Rules) { r.CurrencyRates["usd"] = 1 }, `"usd" is not an ISO 4217 code`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rules()
			tc.change(&r)
			_, err := normalize.New(r)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	yamlFile := write("rules.yaml", `
event_aliases:
  checkout_done: Order Completed
category_labels:
  footwear: Shoes
store_currency: EUR
currency_rates:
  USD: 0.9
`)
	r, err := normalize.Load(yamlFile)
	require.NoError(t, err)
	require.Equal(t, "Order Completed", r.EventAliases["checkout_done"])
	require.Equal(t, "Order Completed", r.EventAliases["purchase"], "the defaults stay")
	require.Equal(t, map[string]string{"footwear": "Shoes"}, r.CategoryLabels)
	require.Equal(t, "EUR", r.StoreCurrency)
	require.Equal(t, map[string]float64{"USD": 0.9}, r.CurrencyRates)
	require.Equal(t, normalize.Defaults().MoneyProperties, r.MoneyProperties)

	jsonFile := write("rules.json", `{"store_currency": "GBP", "currency_rates": {"EUR": 0.86}}`)
	r, err = normalize.Load(jsonFile)
	require.NoError(t, err)
	require.Equal(t, "GBP", r.StoreCurrency)

	_, err = normalize.Load(write("typo.yaml", "store_curency: EUR\n"))
	require.ErrorContains(t, err, `unknown field "store_curency"`)
	_, err = normalize.Load(write("bad.json", `{"currency_rates": {"USD": 0}}`))
	require.ErrorContains(t, err, "USD has rate 0")
	_, err = normalize.Load(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
