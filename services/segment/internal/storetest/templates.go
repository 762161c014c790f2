package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// stream builds the events of one profile, each ago[i] before now.
type stream struct {
	events []segment.Event
	ago    []time.Duration
}

// props are the properties of an event, by type.
type props struct {
	numbers map[string]float64
	strings map[string]string
	flags   map[string]bool
}

func (s *stream) add(n int, name string, ago time.Duration, p props) *stream {
	for i := range n {
		s.events = append(s.events, segment.Event{Name: name, Numbers: p.numbers, Strings: p.strings, Flags: p.flags})
		s.ago = append(s.ago, ago+time.Duration(i)*time.Minute)
	}
	return s
}

func (s *stream) traits(traits map[string]any) *stream {
	s.events = append(s.events, segment.Event{Identify: true, Traits: traits})
	s.ago = append(s.ago, 0)
	return s
}

// plainOrder is an order without a discount.
func plainOrder(revenue float64) props {
	return props{numbers: map[string]float64{"revenue": revenue, "quantity": 1}, flags: map[string]bool{"discount_used": false}}
}

const tday = 24 * time.Hour

// templateStreams are, for each template, the events that make a profile
// enter its segment.
func templateStreams() map[string]*stream {
	s := func() *stream { return &stream{} }
	discounted := props{numbers: map[string]float64{"revenue": 30}, flags: map[string]bool{"discount_used": true}}
	return map[string]*stream{
		"vip":                       s().add(5, "Order Completed", 10*tday, plainOrder(250)),
		"loyal":                     s().add(3, "Order Completed", tday, plainOrder(20)),
		"at-risk":                   s().add(2, "Order Completed", 90*tday, plainOrder(20)),
		"first-time-buyers":         s().add(1, "Order Completed", 2*tday, plainOrder(20)),
		"one-time-buyers":           s().add(1, "Order Completed", 40*tday, plainOrder(20)),
		"new-visitors":              s().add(1, "Product Viewed", tday, props{}),
		"window-shoppers":           s().add(5, "Product Viewed", 2*tday, props{}),
		"engaged-visitors":          s().add(10, "Product Viewed", time.Hour, props{}),
		"cart-abandoners":           s().add(1, "Product Viewed", 6*time.Hour, props{}).add(1, "Product Added", 5*time.Hour+30*time.Minute, props{}),
		"researchers":               s().add(5, "Products Searched", tday, props{}).add(10, "Product Viewed", tday, props{}),
		"browse-heavy-low-purchase": s().add(30, "Product Viewed", 3*tday, props{}).add(1, "Order Completed", tday, plainOrder(20)),
		"mobile-first": s().add(6, "Product Viewed", tday, props{strings: map[string]string{"device": "mobile"}}).
			add(1, "Product Viewed", tday, props{strings: map[string]string{"device": "desktop"}}),
		"interest-shoes":    s().add(3, "Product Viewed", tday, props{strings: map[string]string{"category": "shoes"}}),
		"deal-seekers":      s().add(2, "Order Completed", 10*tday, discounted),
		"full-price-buyers": s().add(2, "Order Completed", 10*tday, plainOrder(40)),
		"bargain-hunters":   s().add(5, "Product Viewed", tday, props{flags: map[string]bool{"on_sale": true}}).add(1, "Order Completed", 20*tday, discounted),
		"bulk-buyers":       s().add(1, "Order Completed", 100*tday, props{numbers: map[string]float64{"revenue": 90, "quantity": 12}}),
		"high-value-repeat": s().add(2, "Order Completed", 50*tday, plainOrder(200)),
		"seasonal-buyers":   s().add(1, "Order Completed", 360*tday, plainOrder(80)),
		"advocates": s().add(1, "Product Reviewed", 5*tday, props{numbers: map[string]float64{"rating": 5}}).
			add(1, "Product Reviewed", 9*tday, props{numbers: map[string]float64{"rating": 4}}),
		"neutral-reviewers": s().add(1, "Product Reviewed", 5*tday, props{numbers: map[string]float64{"rating": 3}}).
			add(1, "Product Reviewed", 9*tday, props{numbers: map[string]float64{"rating": 4}}),
		"dissatisfied": s().add(1, "Product Reviewed", 5*tday, props{numbers: map[string]float64{"rating": 1}}).
			add(1, "Product Reviewed", 9*tday, props{numbers: map[string]float64{"rating": 2}}),
		"rfm-champions":           s().add(5, "Order Completed", tday, plainOrder(120)),
		"rfm-hibernating":         s().add(1, "Order Completed", 200*tday, plainOrder(20)),
		"rfm-loyal":               s().add(4, "Order Completed", 60*tday, plainOrder(20)),
		"rfm-new-customers":       s().add(1, "Order Completed", tday, plainOrder(20)),
		"rfm-at-risk":             s().add(3, "Order Completed", 150*tday, plainOrder(20)),
		"clicked-no-order":        s().add(1, "Email Clicked", time.Hour, props{}),
		"high-ltv-not-subscribed": s().add(1, "Order Completed", 300*tday, plainOrder(1500)).traits(map[string]any{"email_subscribed": false}),
		"bought-and-reviewed": s().add(1, "Order Completed", 20*tday, props{strings: map[string]string{"product_id": "p-7"}}).
			add(1, "Product Reviewed", 5*tday, props{strings: map[string]string{"product_id": "p-7"}, numbers: map[string]float64{"rating": 5}}),
		"loyal-londoners": s().traits(map[string]any{"city": "London"}).add(3, "Order Completed", tday, plainOrder(20)),
	}
}

// testEngineTemplates installs every template, in the order Templates
// returns them, and checks that each one's stream of events makes its
// profile enter it.
func testEngineTemplates(t *testing.T, s segment.Store) {
	ctx := context.Background()
	now := t0.Add(400 * tday)
	e := segment.NewEngine(s, segment.Options{Now: func() time.Time { return now }})
	streams := templateStreams()
	templates := segment.Templates()
	require.Len(t, streams, len(templates), "every template has a stream")
	for _, tpl := range templates {
		_, err := e.CreateSegment(ctx, tpl.Segment)
		require.NoError(t, err, tpl.Segment.ID)
	}
	var events []segment.Event
	for _, tpl := range templates {
		st, ok := streams[tpl.Segment.ID]
		require.True(t, ok, "no stream for %s", tpl.Segment.ID)
		for i, ev := range st.events {
			ev.Seq = int64(len(events) + 1)
			ev.Resource = fmt.Sprintf("events/%d", ev.Seq)
			ev.Profile = "profiles/" + tpl.Segment.ID
			ev.Time = now.Add(-st.ago[i])
			events = append(events, ev)
		}
	}
	require.NoError(t, e.ApplyEvents(ctx, events))
	_, err := e.ApplyScores(ctx, templateScores())
	require.NoError(t, err)
	for _, tpl := range templates {
		require.Contains(t, members(t, e, "profiles/"+tpl.Segment.ID), tpl.Segment.ID, "%s: %s", tpl.Segment.ID, tpl.Segment.Condition)
	}
}
