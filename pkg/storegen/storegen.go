// Package storegen generates a realistic online store as a stream of Barista
// events, with the ground truth behind it: who each customer really is, how
// they behave, and which of their identifiers can be linked only by weak
// evidence. Demos, tests and benchmarks load it to see meaningful segments
// and metrics, and to measure identity matching and ingest against known
// answers.
//
// Customers have a latent behavior type (window shoppers, cart abandoners,
// VIPs, ...), browse in sessions across devices (anonymous until they sign up
// or log in), buy as a Poisson process with gamma-distributed rates and drop
// out after a purchase with a beta-distributed probability (the BG/NBD
// story), use coupons, open and click emails, review products, open support
// tickets and ask for refunds. Event names and properties follow the Segment
// E-commerce v2 spec and the segment templates.
//
// Output is deterministic: the same Config yields byte-identical events. It
// is streamed customer by customer (each customer's events in time order), so
// a million customers never sit in memory at once.
package storegen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
)

// Behavior is a customer's latent behavior type.
type Behavior string

// The behavior types.
const (
	// WindowShopper views products and never adds any to a cart.
	WindowShopper Behavior = "window_shopper"
	// EngagedBrowser visits often, searches and views a lot, rarely buys.
	EngagedBrowser Behavior = "engaged_browser"
	// CartAbandoner adds to the cart and mostly leaves without ordering.
	CartAbandoner Behavior = "cart_abandoner"
	// BargainHunter views products on sale and orders with coupons.
	BargainHunter Behavior = "bargain_hunter"
	// FullPriceLoyalist orders regularly and never uses a discount.
	FullPriceLoyalist Behavior = "full_price_loyalist"
	// VIP orders often, spends much, and seldom churns.
	VIP Behavior = "vip"
	// OneTimeBuyer orders once and never again.
	OneTimeBuyer Behavior = "one_time_buyer"
	// SeasonalShopper buys around occasions (Valentine's, Mother's Day, back
	// to school, Black Friday to Christmas) and barely otherwise.
	SeasonalShopper Behavior = "seasonal_shopper"
	// MobileFirst does nearly everything on a phone, often in the app.
	MobileFirst Behavior = "mobile_first"
	// AtRisk is dissatisfied: low ratings, support tickets, refunds, then
	// churn.
	AtRisk Behavior = "at_risk"
)

// Behaviors returns every behavior type in a fixed order.
func Behaviors() []Behavior {
	return []Behavior{WindowShopper, EngagedBrowser, CartAbandoner, BargainHunter, FullPriceLoyalist,
		VIP, OneTimeBuyer, SeasonalShopper, MobileFirst, AtRisk}
}

// DefaultMix returns the default share of each behavior type.
func DefaultMix() map[Behavior]float64 {
	return map[Behavior]float64{
		WindowShopper:     0.20,
		EngagedBrowser:    0.12,
		CartAbandoner:     0.12,
		BargainHunter:     0.10,
		FullPriceLoyalist: 0.10,
		VIP:               0.03,
		OneTimeBuyer:      0.13,
		SeasonalShopper:   0.07,
		MobileFirst:       0.08,
		AtRisk:            0.05,
	}
}

// DefaultProbabilisticShare is the default share of signed-up customers with
// a browser linked to them only by weak evidence.
const DefaultProbabilisticShare = 0.2

// Config describes the store to generate.
type Config struct {
	// Customers is the number of people; required.
	Customers int
	// Start and End bound every event's timestamp; End must be after Start.
	Start, End time.Time
	// Seed selects the store; the same Config always yields the same events.
	Seed uint64
	// Currency is the ISO 4217 code of every amount; default "USD".
	Currency string
	// Mix weighs the behavior types; nil uses DefaultMix. Weights need not
	// sum to 1.
	Mix map[Behavior]float64
	// ProbabilisticShare is the share of signed-up customers who also
	// browse in a browser that never logs in and is linked to them only by
	// weak evidence (IP address and user agent, or name and postcode). Zero
	// uses DefaultProbabilisticShare; a negative value turns them off.
	ProbabilisticShare float64
	// Namespace prefixes every identifier, order id and message id, so that
	// several generated stores can share one suite; empty by default.
	Namespace string
}

var namespacePattern = regexp.MustCompile(`^[a-z0-9-]{0,32}$`)

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Customers <= 0 {
		errs = append(errs, fmt.Errorf("customers: want at least 1, got %d", c.Customers))
	}
	if !c.End.After(c.Start) {
		errs = append(errs, fmt.Errorf("end %s must be after start %s", c.End.Format(time.RFC3339), c.Start.Format(time.RFC3339)))
	}
	if c.Currency == "" {
		c.Currency = "USD"
	}
	if !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(c.Currency) {
		errs = append(errs, fmt.Errorf("currency %q: want an ISO 4217 code such as USD", c.Currency))
	}
	if c.Mix == nil {
		c.Mix = DefaultMix()
	}
	total := 0.0
	for _, b := range slices.Sorted(maps.Keys(c.Mix)) {
		w := c.Mix[b]
		if !slices.Contains(Behaviors(), b) {
			errs = append(errs, fmt.Errorf("mix: unknown behavior %q", b))
		}
		if !(w >= 0) || math.IsInf(w, 0) {
			errs = append(errs, fmt.Errorf("mix: %s has weight %v; want a finite number >= 0", b, w))
			continue
		}
		total += w
	}
	if total <= 0 && len(errs) == 0 {
		errs = append(errs, errors.New("mix: the weights sum to 0"))
	}
	switch {
	case c.ProbabilisticShare == 0:
		c.ProbabilisticShare = DefaultProbabilisticShare
	case c.ProbabilisticShare < 0:
		c.ProbabilisticShare = 0
	case c.ProbabilisticShare > 1:
		errs = append(errs, fmt.Errorf("probabilistic share %v: want at most 1", c.ProbabilisticShare))
	}
	if !namespacePattern.MatchString(c.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q: want at most 32 lowercase letters, digits and dashes", c.Namespace))
	}
	return c, errors.Join(errs...)
}

// Generator generates the customers of one store. It is safe for concurrent
// use: each customer is generated from its own random stream, so customers
// may be generated in any order or in parallel.
type Generator struct {
	cfg       Config
	cumMix    []float64 // cumulative weights, in Behaviors() order
	catalog   *catalog
	currency  *structpb.Value
	campaigns []campaign
	// tag distinguishes the message ids of stores generated with different
	// seeds, spans or mixes; it does not depend on where the span lies in
	// time, so a store regenerated to end later dedupes against the first.
	tag string
}

// New validates cfg and returns its generator.
func New(cfg Config) (*Generator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("storegen: %w", err)
	}
	g := &Generator{cfg: cfg}
	sum := 0.0
	for _, b := range Behaviors() {
		sum += cfg.Mix[b]
		g.cumMix = append(g.cumMix, sum)
	}
	for k := range g.cumMix {
		g.cumMix[k] /= sum
	}
	g.catalog = newCatalog(cfg.Seed)
	g.currency = structpb.NewStringValue(cfg.Currency)
	g.campaigns = newCampaigns(cfg.Start, cfg.End)
	h := fnv.New64a()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], cfg.Seed)
	h.Write(buf[:])
	binary.LittleEndian.PutUint64(buf[:], uint64(cfg.End.Sub(cfg.Start)))
	h.Write(buf[:])
	fmt.Fprintf(h, "%s|%s|%v", cfg.Currency, cfg.Namespace, cfg.ProbabilisticShare)
	for _, b := range Behaviors() {
		fmt.Fprintf(h, "|%v", cfg.Mix[b])
	}
	g.tag = fmt.Sprintf("%08x", uint32(h.Sum64()))
	return g, nil
}

// Config returns the configuration in use, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Customer generates customer i (0 <= i < Customers): it calls emit with each
// of the customer's events in time order and returns the customer's truth.
// Events are fresh for each call, but events of one session may share their
// context Struct: treat them as read-only.
func (g *Generator) Customer(i int, emit func(*eventv1.Event) error) (Truth, error) {
	if i < 0 || i >= g.cfg.Customers {
		return Truth{}, fmt.Errorf("storegen: customer %d out of range [0, %d)", i, g.cfg.Customers)
	}
	p := g.simulate(i)
	for _, pe := range p.events {
		if err := emit(pe.ev); err != nil {
			return Truth{}, err
		}
	}
	return p.truth, nil
}

// Summary counts what was generated.
type Summary struct {
	Customers int              `json:"customers"`
	Events    int              `json:"events"`
	Orders    int              `json:"orders"`
	Revenue   float64          `json:"revenue"`
	Behaviors map[Behavior]int `json:"behaviors"`
	EventsBy  map[string]int   `json:"events_by_name"`
	Linked    map[LinkKind]int `json:"links"`
}

// eventKey names an event for counting: its name, or its type for
// identify calls.
func eventKey(ev *eventv1.Event) string {
	switch ev.GetType() {
	case eventv1.EventType_EVENT_TYPE_IDENTIFY:
		return "(identify)"
	case eventv1.EventType_EVENT_TYPE_PAGE:
		return "(page)"
	case eventv1.EventType_EVENT_TYPE_SCREEN:
		return "(screen)"
	}
	return ev.GetEvent()
}

func (s *Summary) add(t Truth) {
	if s.Behaviors == nil {
		s.Behaviors, s.Linked = map[Behavior]int{}, map[LinkKind]int{}
	}
	s.Customers++
	s.Events += t.Events
	s.Orders += t.Orders
	s.Revenue += t.Revenue
	s.Behaviors[t.Behavior]++
	for _, l := range t.Links {
		s.Linked[l.Kind]++
	}
}

// Generate generates every customer of cfg in index order: emit gets each
// customer's events in time order, then truth (when not nil) gets the
// customer's truth. Events of different customers are not in time order;
// GenerateOrdered is.
func Generate(cfg Config, emit func(*eventv1.Event) error, truth func(Truth) error) (Summary, error) {
	g, err := New(cfg)
	if err != nil {
		return Summary{}, err
	}
	var s Summary
	counted := func(ev *eventv1.Event) error {
		if s.EventsBy == nil {
			s.EventsBy = map[string]int{}
		}
		s.EventsBy[eventKey(ev)]++
		return emit(ev)
	}
	for i := range g.cfg.Customers {
		t, err := g.Customer(i, counted)
		if err != nil {
			return s, err
		}
		s.add(t)
		if truth != nil {
			if err := truth(t); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

// GenerateOrdered is Generate with every event in global time order (ties
// by customer, then by the customer's order). It holds every event in
// memory before emitting the first, so it suits stores of up to a few
// million events; Generate streams any size.
func GenerateOrdered(cfg Config, emit func(*eventv1.Event) error, truth func(Truth) error) (Summary, error) {
	type item struct {
		at       int64
		customer int
		ev       *eventv1.Event
	}
	var all []item
	var truths []Truth
	i := 0
	s, err := Generate(cfg, func(ev *eventv1.Event) error {
		all = append(all, item{ev.GetTimestamp().AsTime().UnixNano(), i, ev})
		return nil
	}, func(t Truth) error {
		truths = append(truths, t)
		i++
		return nil
	})
	if err != nil {
		return s, err
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].at < all[b].at })
	for _, it := range all {
		if err := emit(it.ev); err != nil {
			return s, err
		}
	}
	if truth != nil {
		for _, t := range truths {
			if err := truth(t); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}
