package storegen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/barista-cdp/barista/pkg/gen/barista/event/v1"
	typev1 "github.com/barista-cdp/barista/pkg/gen/barista/type/v1"
)

const day = 24 * time.Hour

// role is what a device (or browser) is to its owner.
type role int8

const (
	// rolePrimary is the device of the first visit; sign-up happens on it.
	rolePrimary role = iota
	// roleSecond is another device, logged in on its first use.
	roleSecond
	// roleIPUA is a second browser on the primary computer that never
	// logs in: same IP address and user agent, new anonymous id.
	roleIPUA
	// roleForm is a device that never logs in but sends the person's name
	// and postcode in a form.
	roleForm
)

// device is one browser or app install of a customer.
type device struct {
	agent
	kindValue *structpb.Value
	// anonIDs and knownIDs are the identifiers sent before and after login.
	anonIDs, knownIDs []*typev1.Identifier
	role              role
	anon              string
	deviceID          string // apps only
	from              time.Time
	loginAt           time.Time // zero until it logs in
	used              bool
}

// session is one visit.
type session struct {
	at       time.Time
	order    bool
	signUp   bool
	campaign *campaign
	dev      *device
}

// pending is an event with its time, before sorting.
type pending struct {
	at time.Time
	ev *eventv1.Event
}

// sim is the state of one customer's simulation.
type sim struct {
	g   *Generator
	rng *rand.Rand
	i   int
	tr  *traits
	b   Behavior

	first, last, name, city, country, postcode, email, userID, phone string
	homeIP                                                           string
	// anons and deviceIDs are drawn before anything that depends on the
	// calendar, so a store regenerated over a shifted span keeps its
	// identifiers even where its events differ.
	anons, deviceIDs [3]string

	userIDList, emailIDList []*typev1.Identifier
	favorites               [2]int
	subscribed              bool

	devices []*device
	events  []pending
	truth   Truth
	nOrder  int
	nCart   int
	nTicket int
	churnAt time.Time
}

func (g *Generator) behaviorOf(rng *rand.Rand) Behavior {
	x := rng.Float64()
	for k, c := range g.cumMix {
		if x < c {
			return Behaviors()[k]
		}
	}
	return Behaviors()[len(g.cumMix)-1]
}

// simulate generates customer i: its events, sorted by time and stamped
// with message ids, and its truth.
func (g *Generator) simulate(i int) *sim {
	s := &sim{g: g, i: i, rng: rand.New(rand.NewPCG(g.cfg.Seed, 0x9E3779B97F4A7C15^uint64(i)))}
	rng := s.rng
	s.b = g.behaviorOf(rng)
	s.tr = behaviorTraits[s.b]
	s.person()

	start, end := g.cfg.Start, g.cfg.End
	span := end.Sub(start)
	// About a third of the customers are already around when the span
	// starts; the others arrive over it.
	var t0 time.Time
	if rng.Float64() < 0.35 {
		t0 = start.Add(time.Duration(rng.Float64() * float64(min(span, 3*day))))
	} else {
		t0 = start.Add(time.Duration(rng.Float64() * float64(span)))
	}

	// Latent rates: gamma heterogeneity across customers of a type, and a
	// beta-distributed dropout probability, as BG/NBD assumes.
	var rateWeek, dropout float64
	if s.tr.orders > 0 {
		rateWeek = gamma(rng, 1.5, s.tr.orders/1.5)
		dropout = beta(rng, s.tr.dropout, 8)
		if s.tr.maxOrders == 1 {
			dropout = 1
		}
	}
	visitWeek := gamma(rng, 2, s.tr.visits/2)
	s.truth.PurchaseRate, s.truth.Dropout = round(rateWeek, 4), round(dropout, 4)

	orders := s.orderTimes(t0, end, rateWeek, dropout)
	activeEnd := end
	switch {
	case !s.churnAt.IsZero():
		activeEnd = s.churnAt.Add(expDur(rng, 14*day))
	case len(orders) == 0:
		activeEnd = t0.Add(expDur(rng, time.Duration(s.tr.lifetime*float64(day))))
	}
	if activeEnd.After(end) {
		activeEnd = end
	}

	sessions := []*session{{at: t0}}
	perDay := visitWeek / 7
	upper := perDay * maxSeason
	if s.tr.seasonal {
		upper = perDay * 5
	}
	for t := t0; upper > 0; {
		var ok bool
		if t, ok = advance(t, rng.ExpFloat64()/upper, activeEnd); !ok {
			break
		}
		f := seasonFactor(t) / maxSeason
		if s.tr.seasonal {
			f = 0.2
			if occasion(t) {
				f = 1
			}
		}
		if rng.Float64() < f {
			sessions = append(sessions, &session{at: s.timeOfDay(t, t0, end)})
		}
	}
	for _, t := range orders {
		sessions = append(sessions, &session{at: t, order: true})
	}
	sort.SliceStable(sessions, func(a, b int) bool { return sessions[a].at.Before(sessions[b].at) })

	// Sign-up: every buyer signs up, at the latest in the session of the
	// first order; some non-buyers sign up for the newsletter.
	signUpAt := -1
	firstOrder := slices.IndexFunc(sessions, func(x *session) bool { return x.order })
	switch {
	case firstOrder > 0 && rng.Float64() < 0.4:
		signUpAt = rng.IntN(firstOrder)
	case firstOrder >= 0:
		signUpAt = firstOrder
	case rng.Float64() < s.tr.signUp:
		signUpAt = int(math.Pow(rng.Float64(), 2) * float64(len(sessions)))
	}

	s.devices = []*device{s.newDevice(rolePrimary, s.tr.mobile, t0)}
	if signUpAt >= 0 {
		sessions[signUpAt].signUp = true
		signedUp := sessions[signUpAt].at
		s.subscribed = rng.Float64() < 0.75
		secondP := 0.45
		if s.b == VIP || s.b == MobileFirst {
			secondP = 0.6
		}
		primary := s.devices[0]
		if rng.Float64() < secondP {
			mobile := 1.0
			if primary.kind == "mobile" {
				mobile = 0
			}
			s.devices = append(s.devices, s.newDevice(roleSecond, mobile, signedUp.Add(expDur(rng, 20*day))))
		}
		if rng.Float64() < g.cfg.ProbabilisticShare {
			from := signedUp.Add(expDur(rng, 15*day))
			if !primary.app && primary.kind != "mobile" && rng.Float64() < 0.6 {
				d := s.newDevice(roleIPUA, 0, from)
				d.agent = primary.agent
				s.devices = append(s.devices, d)
			} else {
				mobile := 1.0
				if primary.kind == "mobile" {
					mobile = 0
				}
				s.devices = append(s.devices, s.newDevice(roleForm, mobile, from))
			}
		}
		sessions = append(sessions, s.emails(signedUp, end)...)
		sort.SliceStable(sessions, func(a, b int) bool { return sessions[a].at.Before(sessions[b].at) })
	}

	for _, ss := range sessions {
		ss.dev = s.pickDevice(ss)
		s.session(ss)
	}
	s.finish()
	return s
}

// orderTimes draws the customer's order times from t0: a Poisson process
// (thinned by the season) that stops, after each order, with probability
// dropout.
func (s *sim) orderTimes(t0, end time.Time, rateWeek, dropout float64) []time.Time {
	if rateWeek <= 0 {
		return nil
	}
	rng := s.rng
	perDay := rateWeek / 7
	upper := perDay * maxSeason
	if s.tr.seasonal {
		upper = perDay
	}
	var out []time.Time
	for t := t0; ; {
		var ok bool
		if t, ok = advance(t, rng.ExpFloat64()/upper, end); !ok {
			return out
		}
		f := seasonFactor(t) / maxSeason
		if s.tr.seasonal {
			f = 0.01
			if occasion(t) {
				f = 1
			}
		}
		if rng.Float64() >= f {
			continue
		}
		at := s.timeOfDay(t, t0, end)
		out = append(out, at)
		if (s.tr.maxOrders > 0 && len(out) >= s.tr.maxOrders) || rng.Float64() < dropout {
			s.churnAt = slices.MaxFunc(out, func(a, b time.Time) int { return a.Compare(b) })
			return out
		}
	}
}

// advance returns t plus gap days, and whether that is before end. Gaps
// of customers with tiny rates overflow a Duration; they end the process.
func advance(t time.Time, gap float64, end time.Time) (time.Time, bool) {
	if gap >= end.Sub(t).Hours()/24 {
		return end, false
	}
	return t.Add(time.Duration(gap * float64(day))), true
}

// timeOfDay moves t to a likely hour of its day (evenings are busy), unless
// that leaves [lo, hi).
func (s *sim) timeOfDay(t, lo, hi time.Time) time.Time {
	d := t.UTC().Truncate(day)
	h := pickCum(s.rng, hourCum)
	nt := d.Add(time.Duration(h)*time.Hour + time.Duration(s.rng.IntN(3600))*time.Second)
	if nt.Before(lo) || !nt.Before(hi) {
		return t
	}
	return nt
}

// person draws who the customer is.
func (s *sim) person() {
	rng, ns := s.rng, s.g.cfg.Namespace
	s.first = firstNames[rng.IntN(len(firstNames))]
	s.last = lastNames[rng.IntN(len(lastNames))]
	s.name = s.first + " " + s.last
	c := cities[pickCum(rng, cityCum)]
	s.city, s.country, s.postcode = c.name, c.country, c.postcode(rng)
	local := strings.ToLower(s.first + "." + strings.ReplaceAll(s.last, "ü", "u"))
	if ns != "" {
		local += "." + ns
	}
	s.email = fmt.Sprintf("%s%d@%s", local, s.i, emailDomains[rng.IntN(len(emailDomains))])
	s.userID = fmt.Sprintf("%su%d", prefix(ns), s.i)
	if rng.Float64() < 0.3 {
		if c.country == "GB" {
			s.phone = fmt.Sprintf("+447700%06d", rng.IntN(1000000))
		} else {
			s.phone = fmt.Sprintf("+1%03d555%04d", 201+rng.IntN(700), rng.IntN(10000))
		}
	}
	for k := range s.anons {
		s.anons[k], s.deviceIDs[k] = uuid4(rng), strings.ToUpper(uuid4(rng))
	}
	s.homeIP = fmt.Sprintf("%d.%d.%d.%d", 81+rng.IntN(100), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	s.favorites = [2]int{pickCum(rng, s.g.catalog.catPick), pickCum(rng, s.g.catalog.catPick)}
	s.truth.Person = fmt.Sprintf("%sperson-%d", prefix(ns), s.i)
	s.truth.Index = s.i
	s.truth.Behavior = s.b
	s.truth.Name, s.truth.City = s.name, s.city
}

func prefix(ns string) string {
	if ns == "" {
		return ""
	}
	return ns + "-"
}

// newDevice returns a device of the role: a phone with probability mobile
// (the app with the type's app probability), else a computer or tablet.
func (s *sim) newDevice(r role, mobile float64, from time.Time) *device {
	rng := s.rng
	n := len(s.devices)
	d := &device{role: r, from: from, anon: s.anons[n]}
	switch {
	case rng.Float64() < mobile && r != roleForm && rng.Float64() < s.tr.app:
		d.agent = appAgents[rng.IntN(len(appAgents))]
		d.deviceID = s.deviceIDs[n]
	case mobile == 1 || (mobile > 0 && rng.Float64() < mobile):
		d.agent = mobileAgents[rng.IntN(len(mobileAgents))]
	case rng.Float64() < 0.12 && r != roleIPUA:
		d.agent = tabletAgents[rng.IntN(len(tabletAgents))]
	default:
		d.agent = desktopAgents[rng.IntN(len(desktopAgents))]
	}
	d.kindValue = str(d.kind)
	return d
}

// pickDevice chooses the device of a session: the primary until sign-up,
// then by the customer's phone share; orders only on devices that log in.
func (s *sim) pickDevice(ss *session) *device {
	rng := s.rng
	var weak *device
	var cands []*device
	for _, d := range s.devices {
		if d.from.After(ss.at) {
			continue
		}
		if d.role == roleIPUA || d.role == roleForm {
			weak = d
			continue
		}
		cands = append(cands, d)
	}
	if weak != nil && !ss.order && !ss.signUp && rng.Float64() < 0.35 {
		return weak
	}
	if len(cands) == 1 || ss.signUp {
		return s.devices[0]
	}
	wantMobile := rng.Float64() < s.tr.mobile
	for _, d := range cands {
		if (d.kind == "mobile") == wantMobile {
			return d
		}
	}
	return cands[0]
}

// ids returns the identifiers a device sends at t. The slices are shared
// by the device's events (events are read-only); append to them only
// through slices.Clip.
func (s *sim) ids(d *device, t time.Time) []*typev1.Identifier {
	if d.anonIDs == nil {
		d.anonIDs = []*typev1.Identifier{{Type: "anonymous_id", Value: d.anon}}
		if d.deviceID != "" {
			d.anonIDs = append(d.anonIDs, &typev1.Identifier{Type: "device_id", Value: d.deviceID})
		}
		d.anonIDs = slices.Clip(d.anonIDs)
		d.knownIDs = slices.Clip(append(slices.Clone(d.anonIDs), s.userIDs()[0]))
	}
	if !d.loginAt.IsZero() && !t.Before(d.loginAt) {
		return d.knownIDs
	}
	return d.anonIDs
}

func (s *sim) userIDs() []*typev1.Identifier {
	if s.userIDList == nil {
		s.userIDList = []*typev1.Identifier{{Type: "user_id", Value: s.userID}}
	}
	return s.userIDList
}

func (s *sim) emailIDs() []*typev1.Identifier {
	if s.emailIDList == nil {
		s.emailIDList = []*typev1.Identifier{{Type: "email", Value: s.email}}
	}
	return s.emailIDList
}

// add queues an event.
func (s *sim) add(at time.Time, typ eventv1.EventType, name string, ids []*typev1.Identifier, props, traits map[string]*structpb.Value, ctx *structpb.Struct) {
	// Segment's libraries send milliseconds.
	at = at.Truncate(time.Millisecond)
	ev := &eventv1.Event{Type: typ, Event: name, Identifiers: ids, Timestamp: timestamppb.New(at), Context: ctx}
	if props != nil {
		ev.Properties = &structpb.Struct{Fields: props}
	}
	if traits != nil {
		ev.Traits = &structpb.Struct{Fields: traits}
	}
	s.events = append(s.events, pending{at, ev})
}

// sessionContext is the Segment context of a session's events.
func (s *sim) sessionContext(d *device, c *campaign) *structpb.Struct {
	ip := s.homeIP
	if d.kind == "mobile" && d.role != roleIPUA && s.rng.Float64() < 0.5 {
		// Carrier-grade NAT: many customers share these addresses.
		ip = fmt.Sprintf("172.56.%d.%d", s.rng.IntN(4), 1+s.rng.IntN(254))
	}
	dev := map[string]*structpb.Value{"type": str(d.kind)}
	if d.manufacturer != "" {
		dev["manufacturer"] = str(d.manufacturer)
	}
	if d.model != "" {
		dev["model"] = str(d.model)
	}
	lib := "analytics.js"
	if d.app {
		dev["id"] = str(d.deviceID)
		lib = "analytics-ios"
		if d.os == "Android" {
			lib = "analytics-android"
		}
	}
	locale := "en-US"
	if s.country == "GB" {
		locale = "en-GB"
	}
	f := map[string]*structpb.Value{
		"ip":        str(ip),
		"userAgent": str(d.ua),
		"locale":    str(locale),
		"device":    obj(dev),
		"os":        obj(map[string]*structpb.Value{"name": str(d.os), "version": str(d.osVersion)}),
		"library":   obj(map[string]*structpb.Value{"name": str(lib)}),
	}
	if c != nil {
		f["campaign"] = obj(map[string]*structpb.Value{"name": str(c.name), "source": str("newsletter"),
			"medium": str("email"), "content": str(c.id)})
	}
	return &structpb.Struct{Fields: f}
}

// clock hands out the times of a session's events, a few seconds to a
// couple of minutes apart.
type clock struct {
	t   time.Time
	rng *rand.Rand
}

func (c *clock) next() time.Time {
	c.t = c.t.Add(time.Duration(5+c.rng.IntN(110)) * time.Second)
	return c.t
}

// session emits one visit.
func (s *sim) session(ss *session) {
	rng, d := s.rng, ss.dev
	ctx := s.sessionContext(d, ss.campaign)
	c := &clock{t: ss.at, rng: rng}
	first := !d.used
	d.used = true

	s.landing(d, ss, c.t, ctx)
	if d.role == roleSecond && d.loginAt.IsZero() {
		t := c.next()
		d.loginAt = t
		s.add(t, eventv1.EventType_EVENT_TYPE_IDENTIFY, "", append(s.ids(d, t), &typev1.Identifier{Type: "email", Value: s.email}),
			nil, map[string]*structpb.Value{"email": str(s.email)}, ctx)
		t = c.next()
		s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Signed In", s.ids(d, t), map[string]*structpb.Value{"method": str("password")}, nil, ctx)
	}
	if ss.signUp {
		t := c.next()
		d.loginAt = t
		s.signUp(d, t, ctx)
		t = c.next()
		s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Signed Up", s.ids(d, t), map[string]*structpb.Value{"method": str("email")}, nil, ctx)
	}
	if d.role == roleForm && first {
		t := c.next()
		s.add(t, eventv1.EventType_EVENT_TYPE_IDENTIFY, "", s.ids(d, t), nil,
			map[string]*structpb.Value{"name": str(s.name), "postcode": str(s.postcode)}, ctx)
	}
	if ss.order {
		s.purchase(d, c, ctx)
		return
	}
	s.browse(d, c, ctx)
}

// landing emits the first page or screen of a session.
func (s *sim) landing(d *device, ss *session, t time.Time, ctx *structpb.Struct) {
	if d.app {
		s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Application Opened", s.ids(d, t),
			map[string]*structpb.Value{"from_background": boolean(s.rng.Float64() < 0.5), "version": str("4.12.0")}, nil, ctx)
		s.add(t.Add(time.Second), eventv1.EventType_EVENT_TYPE_SCREEN, "Home", s.ids(d, t), nil, nil, ctx)
		return
	}
	ref := []string{"https://www.google.com/", "", "https://www.instagram.com/", "https://www.bing.com/"}[s.rng.IntN(4)]
	path := "/"
	if ss.campaign != nil {
		ref = ""
		path = "/collections/" + ss.campaign.name
	}
	s.add(t, eventv1.EventType_EVENT_TYPE_PAGE, "Home", s.ids(d, t), map[string]*structpb.Value{
		"path": str(path), "url": str("https://shop.example.com" + path), "title": str("Barista Store"), "referrer": str(ref),
	}, nil, ctx)
}

// signUp emits the identify call that creates the customer's account.
func (s *sim) signUp(d *device, t time.Time, ctx *structpb.Struct) {
	ids := append(s.ids(d, t), &typev1.Identifier{Type: "email", Value: s.email})
	tr := map[string]*structpb.Value{
		"name": str(s.name), "first_name": str(s.first), "last_name": str(s.last), "email": str(s.email),
		"city": str(s.city), "postcode": str(s.postcode), "country": str(s.country),
		"email_subscribed": boolean(s.subscribed), "created_at": str(t.UTC().Format(time.RFC3339)),
	}
	if s.phone != "" {
		ids = append(ids, &typev1.Identifier{Type: "phone", Value: s.phone})
		tr["phone"] = str(s.phone)
	}
	s.add(t, eventv1.EventType_EVENT_TYPE_IDENTIFY, "", ids, nil, tr, ctx)
}

// pickProduct chooses a product to view: mostly from the favorite
// categories, on sale as often as the type likes.
func (s *sim) pickProduct(t time.Time) (*product, bool) {
	rng, cat := s.rng, s.g.catalog
	c := -1
	if rng.Float64() < 0.65 {
		c = s.favorites[rng.IntN(2)]
	}
	wantSale := rng.Float64() < s.tr.onSale
	var p *product
	var sale bool
	for range 6 {
		p = &cat.products[cat.pick(rng, c)]
		if s.tr.price > 1 && p.price < cat.products[cat.pick(rng, c)].price && rng.Float64() < s.tr.price-1 {
			continue
		}
		sale = p.onSale(t, rng)
		if !wantSale || sale {
			break
		}
	}
	return p, sale
}

func (s *sim) price(p *product, sale bool) float64 {
	if sale {
		return salePrice(p.price)
	}
	return p.price
}

func salePrice(price float64) float64 { return round(price*0.7, 2) }

// productFields returns a product's properties. The values are shared by
// every event of the product (events are read-only), which spares most of
// the allocations of a view.
func (s *sim) productFields(p *product, sale bool) map[string]*structpb.Value {
	price := p.values.price
	if sale {
		price = p.values.salePrice
	}
	return map[string]*structpb.Value{
		"product_id": p.values.id, "sku": p.values.sku, "name": p.values.name, "category": p.values.category, "price": price,
	}
}

// view emits a product view.
func (s *sim) view(d *device, c *clock, ctx *structpb.Struct) (*product, bool) {
	t := c.next()
	p, sale := s.pickProduct(t)
	f := s.productFields(p, sale)
	f["currency"] = s.g.currency
	f["on_sale"] = boolean(sale)
	f["device"] = d.kindValue
	s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Product Viewed", s.ids(d, t), f, nil, ctx)
	return p, sale
}

func (s *sim) search(d *device, c *clock, ctx *structpb.Struct) {
	cat := categories[s.favorites[s.rng.IntN(2)]].name
	terms := searchTerms[cat]
	t := c.next()
	s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Products Searched", s.ids(d, t),
		map[string]*structpb.Value{"query": str(terms[s.rng.IntN(len(terms))])}, nil, ctx)
}

// line is a product in a cart.
type line struct {
	p    *product
	sale bool
	qty  int
}

func (s *sim) lineValue(l line) *structpb.Value {
	f := s.productFields(l.p, l.sale)
	f["quantity"] = num(float64(l.qty))
	return obj(f)
}

func (s *sim) addToCart(d *device, c *clock, ctx *structpb.Struct, cart string, l line) {
	t := c.next()
	f := s.productFields(l.p, l.sale)
	f["cart_id"] = str(cart)
	f["quantity"] = num(float64(l.qty))
	f["currency"] = s.g.currency
	s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Product Added", s.ids(d, t), f, nil, ctx)
}

func (s *sim) cartValue(lines []line) (*structpb.Value, float64) {
	vals := make([]*structpb.Value, len(lines))
	sum := 0.0
	for k, l := range lines {
		vals[k] = s.lineValue(l)
		sum += s.price(l.p, l.sale) * float64(l.qty)
	}
	return structpb.NewListValue(&structpb.ListValue{Values: vals}), round(sum, 2)
}

// browse emits a visit without an order: views, maybe a search, maybe a
// cart left behind.
func (s *sim) browse(d *device, c *clock, ctx *structpb.Struct) {
	rng := s.rng
	if rng.Float64() < s.tr.search {
		s.search(d, c, ctx)
	}
	n := 1 + poisson(rng, math.Max(0, s.tr.views-1))
	var viewed []line
	for range n {
		p, sale := s.view(d, c, ctx)
		viewed = append(viewed, line{p, sale, 1})
	}
	if rng.Float64() >= s.tr.add {
		return
	}
	s.nCart++
	cart := fmt.Sprintf("%scart-%d-%d", prefix(s.g.cfg.Namespace), s.i, s.nCart)
	lines := viewed[:1+rng.IntN(min(2, len(viewed)))]
	for _, l := range lines {
		s.addToCart(d, c, ctx, cart, l)
	}
	if len(lines) > 1 && rng.Float64() < 0.3 {
		t := c.next()
		f := s.productFields(lines[1].p, lines[1].sale)
		f["cart_id"] = str(cart)
		f["quantity"] = num(1)
		s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Product Removed", s.ids(d, t), f, nil, ctx)
		lines = lines[:1]
	}
	if rng.Float64() < 0.5 {
		products, _ := s.cartValue(lines)
		t := c.next()
		s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Cart Viewed", s.ids(d, t),
			map[string]*structpb.Value{"cart_id": str(cart), "products": products}, nil, ctx)
	}
	if rng.Float64() < s.tr.checkout {
		products, value := s.cartValue(lines)
		t := c.next()
		s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Checkout Started", s.ids(d, t), map[string]*structpb.Value{
			"cart_id": str(cart), "value": num(value), "revenue": num(value), "currency": str(s.g.cfg.Currency), "products": products,
		}, nil, ctx)
	}
}

// purchase emits a visit that ends in an order, and what follows the order:
// a review, a support ticket, a refund, a referral.
func (s *sim) purchase(d *device, c *clock, ctx *structpb.Struct) {
	rng, cur := s.rng, s.g.cfg.Currency
	n := 1 + rng.IntN(3)
	var lines []line
	for k := range n {
		p, sale := s.view(d, c, ctx)
		if k == 0 || rng.Float64() < 0.3 {
			lines = append(lines, line{p, sale, 1})
		}
	}
	for range poisson(rng, s.tr.items) {
		p, sale := s.pickProduct(c.t)
		if !slices.ContainsFunc(lines, func(l line) bool { return l.p == p }) {
			lines = append(lines, line{p, sale, 1})
		}
	}
	for k := range lines {
		if rng.Float64() < 0.15 {
			lines[k].qty = 2
		}
	}
	if rng.Float64() < s.tr.bulk {
		lines[0].qty = 10 + rng.IntN(15)
	}
	s.nOrder++
	s.nCart++
	cart := fmt.Sprintf("%scart-%d-%d", prefix(s.g.cfg.Namespace), s.i, s.nCart)
	orderID := fmt.Sprintf("%so-%d-%d", prefix(s.g.cfg.Namespace), s.i, s.nOrder)
	for _, l := range lines {
		s.addToCart(d, c, ctx, cart, l)
	}
	products, subtotal := s.cartValue(lines)
	t := c.next()
	s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Cart Viewed", s.ids(d, t),
		map[string]*structpb.Value{"cart_id": str(cart), "products": products}, nil, ctx)
	t = c.next()
	s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Checkout Started", s.ids(d, t), map[string]*structpb.Value{
		"order_id": str(orderID), "value": num(subtotal), "revenue": num(subtotal), "currency": str(cur), "products": products,
	}, nil, ctx)

	discount, coupon := 0.0, ""
	if rng.Float64() < s.tr.discount {
		cp := coupons[rng.IntN(len(coupons)-1)]
		if s.b == VIP && rng.Float64() < 0.5 {
			cp = coupons[len(coupons)-1]
		}
		if s.nOrder == 1 && rng.Float64() < 0.5 {
			cp = coupons[0]
		}
		coupon, discount = cp.code, round(subtotal*cp.pct, 2)
		t = c.next()
		s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Coupon Applied", s.ids(d, t), map[string]*structpb.Value{
			"order_id": str(orderID), "cart_id": str(cart), "coupon_id": str(coupon), "coupon_name": str(coupon), "discount": num(discount),
		}, nil, ctx)
	}
	revenue := round(subtotal-discount, 2)
	shipping := 6.95
	if revenue >= 75 {
		shipping = 0
	}
	tax := round(revenue*0.08, 2)
	total := round(revenue+shipping+tax, 2)
	qty := 0
	for _, l := range lines {
		qty += l.qty
	}
	props := map[string]*structpb.Value{
		"order_id": str(orderID), "checkout_id": str(cart), "revenue": num(revenue), "total": num(total),
		"subtotal": num(subtotal), "discount": num(discount), "shipping": num(shipping), "tax": num(tax),
		"currency": str(cur), "discount_used": boolean(discount > 0), "quantity": num(float64(qty)),
		"product_id": str(lines[0].p.id), "category": str(categories[lines[0].p.category].name),
		"products": products,
	}
	if coupon != "" {
		props["coupon"] = str(coupon)
	}
	at := c.next()
	s.add(at, eventv1.EventType_EVENT_TYPE_TRACK, "Order Completed", s.ids(d, at), props, nil, ctx)
	if s.b == VIP || s.b == FullPriceLoyalist {
		s.add(at.Add(time.Minute), eventv1.EventType_EVENT_TYPE_TRACK, "Loyalty Points Earned", s.userIDs(), map[string]*structpb.Value{
			"order_id": str(orderID), "points": num(math.Floor(revenue)),
		}, nil, nil)
	}
	s.afterOrder(at, orderID, lines, revenue, total)
}

// afterOrder emits what may follow an order, days later, from the store's
// back office (no device context).
func (s *sim) afterOrder(at time.Time, orderID string, lines []line, revenue, total float64) {
	rng, cur, ns := s.rng, s.g.cfg.Currency, prefix(s.g.cfg.Namespace)
	later := func(minDays, maxDays float64) time.Time {
		return at.Add(time.Duration((minDays + rng.Float64()*(maxDays-minDays)) * float64(day)))
	}
	if rng.Float64() < s.tr.review {
		rating := 1 + pickCum(rng, cumOf(s.tr.rating[:]))
		l := lines[rng.IntN(len(lines))]
		bodies := reviewBodies[rating-1]
		s.add(later(3, 14), eventv1.EventType_EVENT_TYPE_TRACK, "Product Reviewed", s.userIDs(), map[string]*structpb.Value{
			"product_id": str(l.p.id), "review_id": str(fmt.Sprintf("%sr-%s", ns, strings.TrimPrefix(orderID, ns))),
			"rating": num(float64(rating)), "review_body": str(bodies[rng.IntN(len(bodies))]), "order_id": str(orderID),
		}, nil, nil)
	}
	refundP := s.tr.refund
	if rng.Float64() < s.tr.ticket {
		s.nTicket++
		ticket := fmt.Sprintf("%st-%d-%d", ns, s.i, s.nTicket)
		opened := later(1, 10)
		s.add(opened, eventv1.EventType_EVENT_TYPE_TRACK, "Support Ticket Created", s.emailIDs(), map[string]*structpb.Value{
			"ticket_id": str(ticket), "order_id": str(orderID), "topic": str(ticketTopics[rng.IntN(len(ticketTopics))]),
			"channel": str([]string{"email", "chat", "phone"}[rng.IntN(3)]),
		}, nil, nil)
		satisfaction := 4 + rng.IntN(2)
		if s.b == AtRisk {
			satisfaction = 1 + rng.IntN(2)
		}
		s.add(opened.Add(time.Duration(4+rng.IntN(68))*time.Hour), eventv1.EventType_EVENT_TYPE_TRACK, "Support Ticket Resolved", s.emailIDs(),
			map[string]*structpb.Value{"ticket_id": str(ticket), "satisfaction": num(float64(satisfaction))}, nil, nil)
		refundP = math.Max(refundP, 0.5)
	}
	if rng.Float64() < refundP {
		s.add(later(5, 20), eventv1.EventType_EVENT_TYPE_TRACK, "Order Refunded", s.userIDs(), map[string]*structpb.Value{
			"order_id": str(orderID), "revenue": num(revenue), "total": num(total), "currency": str(cur),
			"reason": str([]string{"damaged", "not as described", "changed mind", "late delivery"}[rng.IntN(4)]),
		}, nil, nil)
	}
	if rng.Float64() < s.tr.referral {
		s.add(later(1, 20), eventv1.EventType_EVENT_TYPE_TRACK, "Referral Sent", s.userIDs(), map[string]*structpb.Value{
			"referral_code": str(fmt.Sprintf("%sREF-%d", strings.ToUpper(ns), s.i)), "channel": str([]string{"email", "whatsapp", "link"}[rng.IntN(3)]),
		}, nil, nil)
	}
}

// emails emits the customer's reactions to campaigns sent from signedUp on,
// and returns the visits that clicks lead to.
func (s *sim) emails(signedUp, end time.Time) []*session {
	rng := s.rng
	var visits []*session
	for k := range s.g.campaigns {
		c := &s.g.campaigns[k]
		if !s.subscribed {
			break
		}
		if c.at.Before(signedUp.Add(time.Hour)) {
			continue
		}
		churned := !s.churnAt.IsZero() && s.churnAt.Before(c.at)
		openP := s.tr.open
		if churned {
			openP *= 0.4
		}
		if rng.Float64() >= openP {
			continue
		}
		opened := c.at.Add(expDur(rng, 8*time.Hour))
		if !opened.Before(end) {
			continue
		}
		props := func() map[string]*structpb.Value {
			return map[string]*structpb.Value{"email_id": str(fmt.Sprintf("%s-%d", c.id, s.i)), "campaign_id": str(c.id),
				"campaign_name": str(c.name), "email_subject": str(c.subject)}
		}
		s.add(opened, eventv1.EventType_EVENT_TYPE_TRACK, "Email Opened", s.emailIDs(), props(), nil, nil)
		if rng.Float64() < s.tr.click {
			clicked := opened.Add(time.Duration(5+rng.IntN(180)) * time.Second)
			p := props()
			p["link_url"] = str("https://shop.example.com/collections/" + c.name)
			s.add(clicked, eventv1.EventType_EVENT_TYPE_TRACK, "Email Clicked", s.emailIDs(), p, nil, nil)
			if !churned || rng.Float64() < 0.3 {
				visits = append(visits, &session{at: clicked.Add(20 * time.Second), campaign: c})
			}
		}
		if rng.Float64() < s.tr.unsub {
			t := opened.Add(time.Duration(30+rng.IntN(300)) * time.Second)
			s.add(t, eventv1.EventType_EVENT_TYPE_TRACK, "Email Unsubscribed", s.emailIDs(), props(), nil, nil)
			s.add(t.Add(time.Second), eventv1.EventType_EVENT_TYPE_IDENTIFY, "", s.emailIDs(), nil,
				map[string]*structpb.Value{"email_subscribed": boolean(false)}, nil)
			s.subscribed = false
		}
	}
	return visits
}

// finish sorts the events, drops those outside the span, stamps message ids
// and builds the truth from what is emitted.
func (s *sim) finish() {
	sort.SliceStable(s.events, func(a, b int) bool { return s.events[a].at.Before(s.events[b].at) })
	start, end := s.g.cfg.Start, s.g.cfg.End
	kept := s.events[:0]
	for _, pe := range s.events {
		if !pe.at.Before(start) && !pe.at.After(end) {
			kept = append(kept, pe)
		}
	}
	s.events = kept
	t := &s.truth
	seen := map[string]bool{}
	for k, pe := range s.events {
		pe.ev.MessageId = fmt.Sprintf("%s%s-%d-%d", prefix(s.g.cfg.Namespace), s.g.tag, s.i, k)
		for _, id := range pe.ev.Identifiers {
			seen[id.Type+":"+id.Value] = true
		}
		switch pe.ev.Event {
		case "Order Completed":
			t.Orders++
			t.Revenue += pe.ev.Properties.Fields["revenue"].GetNumberValue()
		case "Order Refunded":
			t.Refunds++
		}
	}
	t.Revenue = round(t.Revenue, 2)
	t.Events = len(s.events)
	if n := len(s.events); n > 0 {
		t.FirstSeen, t.LastSeen = s.events[0].at.UTC(), s.events[n-1].at.UTC()
	}
	t.Identifiers = make([]string, 0, len(seen))
	for id := range seen {
		t.Identifiers = append(t.Identifiers, id)
	}
	sort.Strings(t.Identifiers)
	if !s.churnAt.IsZero() && !s.churnAt.After(end) {
		c := s.churnAt.UTC()
		t.ChurnTime = &c
	}
	t.Subscribed = s.subscribed
	user, email := "user_id:"+s.userID, "email:"+s.email
	if seen[user] {
		t.UserID, t.Email = s.userID, s.email
		t.Links = append(t.Links, Link{A: user, B: email, Kind: Deterministic})
		if s.phone != "" {
			t.Links = append(t.Links, Link{A: user, B: "phone:" + s.phone, Kind: Deterministic})
		}
	}
	primary := "anonymous_id:" + s.devices[0].anon
	for _, d := range s.devices {
		anon := "anonymous_id:" + d.anon
		if !seen[anon] {
			continue
		}
		if d.deviceID != "" {
			t.Links = append(t.Links, Link{A: anon, B: "device_id:" + d.deviceID, Kind: Deterministic})
		}
		switch d.role {
		case rolePrimary, roleSecond:
			if seen[user] && !d.loginAt.IsZero() && !d.loginAt.After(end) {
				t.Links = append(t.Links, Link{A: user, B: anon, Kind: Deterministic})
			}
		case roleIPUA:
			t.Links = append(t.Links, Link{A: primary, B: anon, Kind: Probabilistic, Evidence: []string{EvidenceIPUserAgent}})
		case roleForm:
			t.Links = append(t.Links, Link{A: user, B: anon, Kind: Probabilistic, Evidence: []string{EvidenceNamePostcode}})
		}
	}
}

func cumOf(w []float64) []float64 {
	out := make([]float64, len(w))
	sum := 0.0
	for k, x := range w {
		sum += x
		out[k] = sum
	}
	return out
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

func str(s string) *structpb.Value  { return structpb.NewStringValue(s) }
func num(x float64) *structpb.Value { return structpb.NewNumberValue(x) }

// boolean returns a shared value: events are read-only.
func boolean(b bool) *structpb.Value {
	if b {
		return trueValue
	}
	return falseValue
}

var trueValue, falseValue = structpb.NewBoolValue(true), structpb.NewBoolValue(false)

func obj(m map[string]*structpb.Value) *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: m})
}
