package storegen

// traits are the latent parameters of a behavior type. Rates are per week;
// each customer's own rates are drawn around them.
type traits struct {
	visits    float64 // browsing sessions per week while active
	lifetime  float64 // mean days a non-buyer keeps visiting
	orders    float64 // orders per week while active (BG/NBD lambda, mean)
	dropout   float64 // probability of churning after an order (BG/NBD p, mean)
	maxOrders int     // 0: no limit
	signUp    float64 // probability a non-buyer signs up
	views     float64 // mean product views per browsing session
	search    float64 // probability a session searches
	add       float64 // probability a browsing session adds to the cart
	checkout  float64 // probability an abandoned cart reaches checkout
	discount  float64 // probability an order uses a coupon
	onSale    float64 // share of product views on products on sale
	mobile    float64 // share of sessions on a phone
	app       float64 // probability the phone is the app, not the browser
	items     float64 // mean extra items per order
	price     float64 // preference for expensive products, 1 = none
	bulk      float64 // probability of an order of 10+ units
	review    float64 // probability an order is reviewed
	rating    [5]float64
	ticket    float64 // probability an order gets a support ticket
	refund    float64 // probability an order is refunded
	open      float64 // probability of opening a campaign email
	click     float64 // probability of clicking an opened email
	unsub     float64 // probability of unsubscribing from an opened email
	referral  float64 // probability an order leads to a referral
	seasonal  bool    // buys around occasions only
}

var behaviorTraits = map[Behavior]*traits{
	WindowShopper: {visits: 0.8, lifetime: 50, signUp: 0.15, views: 4, search: 0.2, mobile: 0.4, app: 0.1,
		open: 0.15, click: 0.1, unsub: 0.03, rating: [5]float64{0.1, 0.1, 0.3, 0.3, 0.2}},
	EngagedBrowser: {visits: 1.3, lifetime: 60, orders: 0.015, dropout: 0.3, signUp: 0.5, views: 4, search: 0.6,
		add: 0.15, checkout: 0.2, discount: 0.3, onSale: 0.25, mobile: 0.45, app: 0.3, items: 0.3, price: 1,
		review: 0.2, rating: [5]float64{0, 0.05, 0.15, 0.4, 0.4}, open: 0.3, click: 0.3, unsub: 0.01},
	CartAbandoner: {visits: 0.7, lifetime: 70, orders: 0.02, dropout: 0.3, signUp: 0.6, views: 3, search: 0.3,
		add: 0.65, checkout: 0.35, discount: 0.3, onSale: 0.25, mobile: 0.5, app: 0.2, items: 0.3, price: 1,
		review: 0.1, rating: [5]float64{0.05, 0.1, 0.25, 0.35, 0.25}, open: 0.25, click: 0.25, unsub: 0.01},
	BargainHunter: {visits: 0.7, lifetime: 90, orders: 0.12, dropout: 0.1, signUp: 0.85, views: 4, search: 0.4,
		add: 0.3, checkout: 0.2, discount: 0.92, onSale: 0.75, mobile: 0.5, app: 0.3, items: 0.5, price: 0.7,
		review: 0.25, rating: [5]float64{0.05, 0.1, 0.25, 0.35, 0.25}, ticket: 0.03, refund: 0.03,
		open: 0.5, click: 0.35, unsub: 0.01, referral: 0.02},
	FullPriceLoyalist: {visits: 0.5, lifetime: 120, orders: 0.12, dropout: 0.04, signUp: 1, views: 3, search: 0.3,
		add: 0.2, checkout: 0.2, onSale: 0.1, mobile: 0.35, app: 0.3, items: 0.4, price: 1.2, bulk: 0.03,
		review: 0.3, rating: [5]float64{0.01, 0.02, 0.07, 0.4, 0.5}, ticket: 0.02, refund: 0.02,
		open: 0.45, click: 0.3, unsub: 0.005, referral: 0.08},
	VIP: {visits: 0.8, lifetime: 150, orders: 0.35, dropout: 0.02, signUp: 1, views: 3, search: 0.4, add: 0.3,
		checkout: 0.2, discount: 0.2, onSale: 0.2, mobile: 0.4, app: 0.5, items: 1.0, price: 1.5, bulk: 0.08,
		review: 0.35, rating: [5]float64{0.01, 0.02, 0.07, 0.3, 0.6}, ticket: 0.04, refund: 0.03,
		open: 0.6, click: 0.4, unsub: 0.002, referral: 0.15},
	OneTimeBuyer: {visits: 0.5, lifetime: 40, orders: 0.06, dropout: 1, maxOrders: 1, signUp: 0.9, views: 3,
		search: 0.3, add: 0.2, checkout: 0.2, discount: 0.4, onSale: 0.3, mobile: 0.45, app: 0.1, items: 0.3,
		price: 1, review: 0.2, rating: [5]float64{0.05, 0.1, 0.2, 0.35, 0.3}, ticket: 0.05, refund: 0.05,
		open: 0.2, click: 0.15, unsub: 0.03},
	SeasonalShopper: {visits: 0.3, lifetime: 200, orders: 0.5, dropout: 0.1, signUp: 0.9, views: 4, search: 0.4,
		add: 0.3, checkout: 0.2, discount: 0.5, onSale: 0.4, mobile: 0.45, app: 0.2, items: 0.6, price: 1.1,
		review: 0.15, rating: [5]float64{0.03, 0.07, 0.2, 0.4, 0.3}, ticket: 0.02, refund: 0.02,
		open: 0.2, click: 0.2, unsub: 0.01, seasonal: true},
	MobileFirst: {visits: 1.2, lifetime: 90, orders: 0.06, dropout: 0.15, signUp: 0.7, views: 3.5, search: 0.3,
		add: 0.25, checkout: 0.2, discount: 0.4, onSale: 0.3, mobile: 0.93, app: 0.6, items: 0.5, price: 1,
		review: 0.2, rating: [5]float64{0.03, 0.05, 0.2, 0.4, 0.32}, ticket: 0.02, refund: 0.02,
		open: 0.35, click: 0.3, unsub: 0.01},
	AtRisk: {visits: 0.7, lifetime: 45, orders: 0.12, dropout: 0.3, signUp: 1, views: 3, search: 0.3, add: 0.2,
		checkout: 0.2, discount: 0.3, onSale: 0.3, mobile: 0.4, app: 0.3, items: 0.5, price: 1,
		review: 0.6, rating: [5]float64{0.45, 0.3, 0.15, 0.07, 0.03}, ticket: 0.4, refund: 0.25,
		open: 0.3, click: 0.15, unsub: 0.08},
}

var coupons = []struct {
	code string
	pct  float64
}{{"WELCOME10", 0.10}, {"SAVE15", 0.15}, {"SALE20", 0.20}, {"FLASH25", 0.25}, {"VIP25", 0.25}}

var ticketTopics = []string{"delivery delayed", "damaged item", "wrong size", "refund status", "missing item", "billing question"}

var reviewBodies = [5][]string{
	{"Fell apart after a week.", "Not as described. Very disappointed.", "Poor quality, returning it."},
	{"Below expectations.", "Sizing is off and it feels cheap.", "Took ages to arrive."},
	{"It's okay for the price.", "Does the job, nothing special.", "Decent but not great."},
	{"Really nice, would buy again.", "Good quality and fast delivery.", "Happy with it."},
	{"Love it!", "Perfect, exactly what I wanted.", "Best purchase this year."},
}

var searchTerms = map[string][]string{
	"shoes":       {"running shoes", "white sneakers", "leather boots", "sandals"},
	"apparel":     {"hoodie", "black jeans", "summer dress", "rain jacket"},
	"accessories": {"sunglasses", "wool scarf", "belt"},
	"bags":        {"backpack", "tote bag", "laptop bag"},
	"beauty":      {"face serum", "perfume", "lip balm"},
	"home":        {"scented candle", "throw blanket", "ceramic mug"},
	"electronics": {"wireless headphones", "bluetooth speaker", "smartwatch"},
	"sports":      {"yoga mat", "dumbbells", "water bottle"},
	"kids":        {"puzzle", "plush toy", "kids sneakers"},
}
