package storegen_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/pkg/storegen"
)

var end = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func config(customers, days int, seed uint64) storegen.Config {
	return storegen.Config{Customers: customers, Start: end.Add(-time.Duration(days) * 24 * time.Hour), End: end, Seed: seed}
}

// customer is one customer's events and truth.
type customer struct {
	events []*eventv1.Event
	truth  storegen.Truth
}

// generate returns every customer's events and truth.
func generate(t *testing.T, cfg storegen.Config) ([]customer, storegen.Summary) {
	t.Helper()
	var out []customer
	var cur []*eventv1.Event
	s, err := storegen.Generate(cfg, func(ev *eventv1.Event) error {
		cur = append(cur, ev)
		return nil
	}, func(tr storegen.Truth) error {
		out = append(out, customer{cur, tr})
		cur = nil
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, cur, "events after the last truth")
	return out, s
}

// digest hashes the deterministic wire form of every event and the truth.
func digest(t *testing.T, cfg storegen.Config) [32]byte {
	t.Helper()
	h := sha256.New()
	_, err := storegen.Generate(cfg, func(ev *eventv1.Event) error {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev)
		h.Write(b)
		return err
	}, func(tr storegen.Truth) error { return storegen.WriteTruth(h, tr) })
	require.NoError(t, err)
	return [32]byte(h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	cfg := config(300, 120, 42)
	first := digest(t, cfg)
	require.Equal(t, first, digest(t, cfg), "same config, different output")
	other := cfg
	other.Seed = 43
	require.NotEqual(t, first, digest(t, other), "another seed, same output")

	// A customer generated alone is the customer generated in the stream.
	all, _ := generate(t, cfg)
	g, err := storegen.New(cfg)
	require.NoError(t, err)
	for _, i := range []int{0, 17, 299} {
		var evs []*eventv1.Event
		tr, err := g.Customer(i, func(ev *eventv1.Event) error { evs = append(evs, ev); return nil })
		require.NoError(t, err)
		require.Equal(t, all[i].truth, tr)
		require.Len(t, evs, len(all[i].events))
		for k := range evs {
			require.True(t, proto.Equal(all[i].events[k], evs[k]), "customer %d event %d", i, k)
		}
	}
	_, err = g.Customer(300, func(*eventv1.Event) error { return nil })
	require.ErrorContains(t, err, "out of range")
}

func TestMessageIDsStableAcrossEndTimes(t *testing.T) {
	// A store regenerated later (same seed and length) has the same message
	// ids, so loading it again stores nothing twice.
	ids := func(cfg storegen.Config) []string {
		var out []string
		_, err := storegen.Generate(cfg, func(ev *eventv1.Event) error {
			out = append(out, ev.GetMessageId())
			return nil
		}, nil)
		require.NoError(t, err)
		return out
	}
	cfg := config(50, 90, 1)
	later := cfg
	later.Start, later.End = cfg.Start.Add(3*time.Hour), cfg.End.Add(3*time.Hour)
	a, b := ids(cfg), ids(later)
	common := 0
	set := map[string]bool{}
	for _, id := range a {
		set[id] = true
	}
	for _, id := range b {
		if set[id] {
			common++
		}
	}
	// Events near the ends of the span may fall in or out of it.
	require.Greater(t, float64(common)/float64(len(a)), 0.95)
	longer := cfg
	longer.Start = cfg.Start.Add(-24 * time.Hour)
	require.NotEqual(t, a[0], ids(longer)[0], "a different span must not reuse message ids")
}

func TestSizeSpanAndValidity(t *testing.T) {
	cfg := config(400, 120, 7)
	all, s := generate(t, cfg)
	require.Len(t, all, 400)
	require.Equal(t, 400, s.Customers)
	ids := map[string]bool{}
	events := 0
	for i, c := range all {
		require.Equal(t, i, c.truth.Index)
		require.Len(t, c.events, c.truth.Events)
		events += len(c.events)
		var prev time.Time
		for _, ev := range c.events {
			requireValid(t, cfg, ev)
			at := ev.GetTimestamp().AsTime()
			require.False(t, at.Before(prev), "customer %d: events out of time order", i)
			prev = at
			require.False(t, ids[ev.GetMessageId()], "message id %s repeated", ev.GetMessageId())
			ids[ev.GetMessageId()] = true
		}
	}
	require.Equal(t, s.Events, events)
	total := 0
	for _, n := range s.EventsBy {
		total += n
	}
	require.Equal(t, events, total)
}

// requireValid checks what the event service checks, and the shape of the
// events the segment templates and metrics read.
func requireValid(t *testing.T, cfg storegen.Config, ev *eventv1.Event) {
	t.Helper()
	require.NotEmpty(t, ev.GetMessageId())
	require.LessOrEqual(t, len(ev.GetMessageId()), 200)
	require.LessOrEqual(t, proto.Size(ev), 32<<10)
	require.NotEmpty(t, ev.GetIdentifiers(), ev.GetMessageId())
	for _, id := range ev.GetIdentifiers() {
		n, err := ident.Normalize(id)
		require.NoError(t, err, ev.GetMessageId())
		require.Equal(t, ident.String(id), ident.String(n), "identifiers are sent normalized")
	}
	at := ev.GetTimestamp().AsTime()
	require.NoError(t, ev.GetTimestamp().CheckValid())
	require.False(t, at.Before(cfg.Start) || at.After(cfg.End), "%s outside the span", at)
	switch ev.GetType() {
	case eventv1.EventType_EVENT_TYPE_TRACK:
		require.NotEmpty(t, ev.GetEvent())
	case eventv1.EventType_EVENT_TYPE_IDENTIFY:
		require.NotEmpty(t, ev.GetTraits().GetFields())
	case eventv1.EventType_EVENT_TYPE_PAGE:
		require.NotEmpty(t, ev.GetProperties().GetFields()["path"].GetStringValue())
	case eventv1.EventType_EVENT_TYPE_SCREEN:
		require.NotEmpty(t, ev.GetEvent())
	default:
		t.Fatalf("unexpected event type %s", ev.GetType())
	}
	p := ev.GetProperties().GetFields()
	switch ev.GetEvent() {
	case "Order Completed":
		for _, k := range []string{"order_id", "revenue", "total", "discount", "currency", "products", "discount_used", "quantity", "product_id", "category"} {
			require.Contains(t, p, k)
		}
		currency := cfg.Currency
		if currency == "" {
			currency = "USD"
		}
		require.Equal(t, currency, p["currency"].GetStringValue())
		require.Equal(t, p["discount"].GetNumberValue() > 0, p["discount_used"].GetBoolValue())
		require.Equal(t, p["discount"].GetNumberValue() > 0, p["coupon"].GetStringValue() != "")
		items := p["products"].GetListValue().GetValues()
		require.NotEmpty(t, items)
		sum, qty := 0.0, 0.0
		for _, it := range items {
			f := it.GetStructValue().GetFields()
			for _, k := range []string{"product_id", "category", "price", "quantity"} {
				require.Contains(t, f, k)
			}
			sum += f["price"].GetNumberValue() * f["quantity"].GetNumberValue()
			qty += f["quantity"].GetNumberValue()
		}
		require.InDelta(t, sum, p["subtotal"].GetNumberValue(), 0.005)
		require.InDelta(t, p["subtotal"].GetNumberValue()-p["discount"].GetNumberValue(), p["revenue"].GetNumberValue(), 0.005)
		require.Equal(t, qty, p["quantity"].GetNumberValue())
		require.Greater(t, p["revenue"].GetNumberValue(), 0.0)
	case "Product Viewed":
		for _, k := range []string{"product_id", "category", "price", "on_sale", "device"} {
			require.Contains(t, p, k)
		}
	case "Product Reviewed":
		r := p["rating"].GetNumberValue()
		require.True(t, r >= 1 && r <= 5 && r == math.Trunc(r), "rating %v", r)
	}
}

func TestTemplateVocabulary(t *testing.T) {
	// The segment templates read these events and properties; a default
	// store must have them all.
	_, s := generate(t, config(1000, 180, 3))
	for _, name := range []string{"Product Viewed", "Product Added", "Product Removed", "Cart Viewed", "Checkout Started",
		"Order Completed", "Order Refunded", "Products Searched", "Product Reviewed", "Email Opened", "Email Clicked",
		"Email Unsubscribed", "Support Ticket Created", "Referral Sent", "Application Opened", "Signed Up", "(identify)", "(page)", "(screen)"} {
		require.Positive(t, s.EventsBy[name], name)
	}
}

func TestMix(t *testing.T) {
	_, s := generate(t, config(5000, 30, 11))
	for b, want := range storegen.DefaultMix() {
		got := float64(s.Behaviors[b]) / 5000
		// Four standard deviations of a binomial share.
		require.InDelta(t, want, got, 4*math.Sqrt(want*(1-want)/5000), b)
	}

	cfg := config(300, 60, 11)
	cfg.Mix = map[storegen.Behavior]float64{storegen.VIP: 3, storegen.WindowShopper: 1, storegen.AtRisk: 0}
	all, s := generate(t, cfg)
	require.Zero(t, s.Behaviors[storegen.AtRisk])
	require.Equal(t, 300, s.Behaviors[storegen.VIP]+s.Behaviors[storegen.WindowShopper])
	require.InDelta(t, 0.75, float64(s.Behaviors[storegen.VIP])/300, 0.1)
	for _, c := range all {
		if c.truth.Behavior == storegen.WindowShopper {
			for _, ev := range c.events {
				require.NotContains(t, []string{"Product Added", "Order Completed"}, ev.GetEvent(), "window shoppers neither add nor buy")
			}
		}
	}
}

func TestBehaviors(t *testing.T) {
	all, s := generate(t, config(2000, 365, 5))
	orders := map[storegen.Behavior][]int{}
	discounted := map[storegen.Behavior][2]int{}
	ratings := map[storegen.Behavior][]float64{}
	for _, c := range all {
		b := c.truth.Behavior
		orders[b] = append(orders[b], c.truth.Orders)
		for _, ev := range c.events {
			p := ev.GetProperties().GetFields()
			switch ev.GetEvent() {
			case "Order Completed":
				d := discounted[b]
				if p["discount_used"].GetBoolValue() {
					d[0]++
				}
				d[1]++
				discounted[b] = d
			case "Product Reviewed":
				ratings[b] = append(ratings[b], p["rating"].GetNumberValue())
			}
		}
		if b == storegen.OneTimeBuyer {
			require.LessOrEqual(t, c.truth.Orders, 1)
		}
		if c.truth.Orders > 0 {
			require.NotEmpty(t, c.truth.UserID, "every buyer signs up")
		}
	}
	mean := func(xs []int) float64 {
		sum := 0
		for _, x := range xs {
			sum += x
		}
		return float64(sum) / float64(len(xs))
	}
	avg := func(xs []float64) float64 {
		sum := 0.0
		for _, x := range xs {
			sum += x
		}
		return sum / float64(len(xs))
	}
	require.Greater(t, mean(orders[storegen.VIP]), 2*mean(orders[storegen.FullPriceLoyalist]))
	require.Greater(t, mean(orders[storegen.FullPriceLoyalist]), 3*mean(orders[storegen.CartAbandoner]))
	require.Zero(t, discounted[storegen.FullPriceLoyalist][0], "full-price loyalists never use a coupon")
	require.Greater(t, float64(discounted[storegen.BargainHunter][0])/float64(discounted[storegen.BargainHunter][1]), 0.8)
	require.Less(t, avg(ratings[storegen.AtRisk]), 2.5)
	require.Greater(t, avg(ratings[storegen.VIP]), 4.0)

	// Purchases: a repeat-buying population that also churns, as BG/NBD
	// assumes.
	buyers, repeat, churned := 0, 0, 0
	for _, c := range all {
		if c.truth.Orders > 0 {
			buyers++
		}
		if c.truth.Orders > 1 {
			repeat++
		}
		if c.truth.ChurnTime != nil {
			churned++
		}
	}
	require.Greater(t, repeat, buyers/4)
	require.Greater(t, churned, buyers/4)
	require.Less(t, churned, buyers)
	require.Equal(t, s.Orders, func() int {
		n := 0
		for _, c := range all {
			n += c.truth.Orders
		}
		return n
	}())
}

func TestTruthMatchesEvents(t *testing.T) {
	all, _ := generate(t, config(500, 180, 9))
	owner := map[string]int{}
	for i, c := range all {
		orders, revenue, refunds := 0, 0.0, 0
		seen := map[string]bool{}
		together := map[[2]string]bool{}
		for _, ev := range c.events {
			var ids []string
			for _, id := range ev.GetIdentifiers() {
				ids = append(ids, ident.String(id))
			}
			for _, a := range ids {
				seen[a] = true
				for _, b := range ids {
					together[[2]string{a, b}] = true
				}
			}
			switch ev.GetEvent() {
			case "Order Completed":
				orders++
				revenue += ev.GetProperties().GetFields()["revenue"].GetNumberValue()
			case "Order Refunded":
				refunds++
			}
		}
		tr := c.truth
		require.Equal(t, orders, tr.Orders, "customer %d", i)
		require.InDelta(t, revenue, tr.Revenue, 0.005, "customer %d", i)
		require.Equal(t, refunds, tr.Refunds)
		var want []string
		for id := range seen {
			want = append(want, id)
		}
		slices.Sort(want)
		require.Equal(t, want, tr.Identifiers)
		require.Equal(t, c.events[0].GetTimestamp().AsTime(), tr.FirstSeen)
		require.Equal(t, c.events[len(c.events)-1].GetTimestamp().AsTime(), tr.LastSeen)
		for _, l := range tr.Links {
			require.True(t, seen[l.A] && seen[l.B], "customer %d: link %v names an identifier never sent", i, l)
			if l.Kind == storegen.Deterministic {
				require.True(t, together[[2]string{l.A, l.B}], "customer %d: deterministic link %v never sent together", i, l)
			}
		}
		// No identifier belongs to two people.
		for id := range seen {
			prev, ok := owner[id]
			require.False(t, ok, "%s sent by customers %d and %d", id, prev, i)
			owner[id] = i
		}
		if tr.UserID != "" {
			require.True(t, seen["user_id:"+tr.UserID] && seen["email:"+tr.Email])
		}
	}
}

func TestProbabilisticLinks(t *testing.T) {
	all, s := generate(t, config(1500, 180, 13))
	require.Positive(t, s.Linked[storegen.Probabilistic])
	kinds := map[string]int{}
	for i, c := range all {
		// Hard links: identifiers sent together, transitively.
		parent := map[string]string{}
		var find func(string) string
		find = func(x string) string {
			if p, ok := parent[x]; ok && p != x {
				r := find(p)
				parent[x] = r
				return r
			}
			parent[x] = x
			return x
		}
		type seenAt struct{ ip, ua string }
		where := map[string]map[seenAt]bool{}
		traits := map[string]map[string]string{}
		for _, ev := range c.events {
			ids := ev.GetIdentifiers()
			for _, id := range ids[1:] {
				parent[find(ident.String(id))] = find(ident.String(ids[0]))
			}
			ctx := ev.GetContext().GetFields()
			for _, id := range ids {
				k := ident.String(id)
				if ip := ctx["ip"].GetStringValue(); ip != "" {
					if where[k] == nil {
						where[k] = map[seenAt]bool{}
					}
					where[k][seenAt{ip, ctx["userAgent"].GetStringValue()}] = true
				}
				if ev.GetType() == eventv1.EventType_EVENT_TYPE_IDENTIFY {
					for f, v := range ev.GetTraits().GetFields() {
						if f == "name" || f == "postcode" {
							if traits[k] == nil {
								traits[k] = map[string]string{}
							}
							traits[k][f] = v.GetStringValue()
						}
					}
				}
			}
		}
		for _, l := range c.truth.Links {
			if l.Kind != storegen.Probabilistic {
				require.Equal(t, find(l.A), find(l.B), "customer %d: deterministic link %v not connected by events", i, l)
				continue
			}
			require.NotEqual(t, find(l.A), find(l.B), "customer %d: probabilistic link %v is connected by hard identifiers", i, l)
			require.Len(t, l.Evidence, 1)
			kinds[l.Evidence[0]]++
			switch l.Evidence[0] {
			case storegen.EvidenceIPUserAgent:
				shared := false
				for at := range where[l.A] {
					shared = shared || where[l.B][at]
				}
				require.True(t, shared, "customer %d: %v without a shared IP and user agent", i, l)
			case storegen.EvidenceNamePostcode:
				require.NotEmpty(t, traits[l.B]["name"])
				require.Equal(t, traits[l.A], traits[l.B], "customer %d: %v without the same name and postcode", i, l)
			default:
				t.Fatalf("unknown evidence %q", l.Evidence[0])
			}
		}
	}
	require.Positive(t, kinds[storegen.EvidenceIPUserAgent])
	require.Positive(t, kinds[storegen.EvidenceNamePostcode])

	cfg := config(300, 180, 13)
	cfg.ProbabilisticShare = -1
	_, s = generate(t, cfg)
	require.Zero(t, s.Linked[storegen.Probabilistic])
}

func TestGenerateOrdered(t *testing.T) {
	cfg := config(200, 60, 21)
	var streamed []string
	_, err := storegen.Generate(cfg, func(ev *eventv1.Event) error {
		streamed = append(streamed, ev.GetMessageId())
		return nil
	}, nil)
	require.NoError(t, err)
	var ordered []string
	var prev time.Time
	truths := 0
	_, err = storegen.GenerateOrdered(cfg, func(ev *eventv1.Event) error {
		at := ev.GetTimestamp().AsTime()
		require.False(t, at.Before(prev))
		prev = at
		ordered = append(ordered, ev.GetMessageId())
		return nil
	}, func(storegen.Truth) error { truths++; return nil })
	require.NoError(t, err)
	require.Equal(t, 200, truths)
	require.ElementsMatch(t, streamed, ordered)
	require.NotEqual(t, streamed, ordered)
}

func TestTruthRoundTrip(t *testing.T) {
	all, _ := generate(t, config(50, 90, 2))
	var buf bytes.Buffer
	for _, c := range all {
		require.NoError(t, storegen.WriteTruth(&buf, c.truth))
	}
	require.Equal(t, 50, bytes.Count(buf.Bytes(), []byte("\n")))
	back, err := storegen.ReadTruth(&buf)
	require.NoError(t, err)
	require.Len(t, back, 50)
	for k := range back {
		a, _ := json.Marshal(all[k].truth)
		b, _ := json.Marshal(back[k])
		require.JSONEq(t, string(a), string(b))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  storegen.Config
		want string
	}{
		{storegen.Config{Start: end.Add(-time.Hour), End: end}, "customers: want at least 1, got 0"},
		{storegen.Config{Customers: 1, Start: end, End: end}, "must be after start"},
		{storegen.Config{Customers: 1, Start: end.Add(-time.Hour), End: end, Currency: "usd"}, `currency "usd"`},
		{storegen.Config{Customers: 1, Start: end.Add(-time.Hour), End: end, Mix: map[storegen.Behavior]float64{"shopaholic": 1}}, `unknown behavior "shopaholic"`},
		{storegen.Config{Customers: 1, Start: end.Add(-time.Hour), End: end, Mix: map[storegen.Behavior]float64{storegen.VIP: -1}}, "vip has weight -1"},
		{storegen.Config{Customers: 1, Start: end.Add(-time.Hour), End: end, Mix: map[storegen.Behavior]float64{storegen.VIP: 0}}, "the weights sum to 0"},
		{storegen.Config{Customers: 1, Start: end.Add(-time.Hour), End: end, ProbabilisticShare: 2}, "probabilistic share 2"},
		{storegen.Config{Customers: 1, Start: end.Add(-time.Hour), End: end, Namespace: "Bad NS"}, `namespace "Bad NS"`},
	} {
		_, err := storegen.New(tt.cfg)
		require.ErrorContains(t, err, tt.want)
	}
}

func TestNamespaceAndCurrency(t *testing.T) {
	cfg := config(30, 60, 4)
	cfg.Namespace, cfg.Currency = "shop2", "EUR"
	all, _ := generate(t, cfg)
	for _, c := range all {
		require.Contains(t, c.truth.Person, "shop2-")
		for _, ev := range c.events {
			require.Regexp(t, `^shop2-`, ev.GetMessageId())
			requireValid(t, cfg, ev)
			for _, id := range ev.GetIdentifiers() {
				if id.GetType() == "user_id" || id.GetType() == "email" {
					require.Contains(t, id.GetValue(), "shop2")
				}
			}
		}
	}
}

// BenchmarkGenerate reports events generated per second.
func BenchmarkGenerate(b *testing.B) {
	cfg := config(1000, 180, 1)
	events := 0
	b.ReportAllocs()
	for b.Loop() {
		s, err := storegen.Generate(cfg, func(*eventv1.Event) error { return nil }, nil)
		if err != nil {
			b.Fatal(err)
		}
		events += s.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}
