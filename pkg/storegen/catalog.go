package storegen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// category is a product category with a typical price.
type category struct {
	name   string
	weight float64
	median float64 // median price
	nouns  []string
}

var categories = []category{
	{"shoes", 0.15, 85, []string{"Sneakers", "Boots", "Loafers", "Sandals", "Running Shoes", "Trainers"}},
	{"apparel", 0.25, 40, []string{"T-Shirt", "Hoodie", "Jeans", "Jacket", "Dress", "Sweater", "Shorts"}},
	{"accessories", 0.10, 28, []string{"Cap", "Scarf", "Belt", "Sunglasses", "Socks", "Gloves"}},
	{"bags", 0.08, 110, []string{"Backpack", "Tote", "Duffel", "Crossbody Bag", "Wallet"}},
	{"beauty", 0.10, 24, []string{"Serum", "Lip Balm", "Face Cream", "Shampoo", "Perfume"}},
	{"home", 0.12, 50, []string{"Candle", "Mug", "Throw Blanket", "Cushion", "Vase", "Lamp"}},
	{"electronics", 0.08, 160, []string{"Headphones", "Speaker", "Charger", "Smartwatch", "Keyboard"}},
	{"sports", 0.07, 55, []string{"Yoga Mat", "Water Bottle", "Dumbbells", "Cycling Jersey", "Tennis Racket"}},
	{"kids", 0.05, 26, []string{"Puzzle", "Plush Toy", "Kids Sneakers", "Building Set", "Picture Book"}},
}

var adjectives = []string{"Classic", "Urban", "Everyday", "Premium", "Eco", "Vintage", "Sport", "Cozy", "Slim",
	"Bold", "Soft", "Trail", "Studio", "Coastal", "Alpine"}

// product is one item of the catalog.
type product struct {
	id       string
	name     string
	category int
	price    float64
	sale     bool // on sale all year
	values   struct{ id, sku, name, category, price, salePrice *structpb.Value }
}

// catalog is the store's products with their popularity.
type catalog struct {
	products []product
	cum      []float64   // cumulative popularity, over all products
	byCat    [][]int     // product indexes per category, most popular first
	catCum   [][]float64 // cumulative popularity within each category
	catPick  []float64   // cumulative category weights
}

const catalogSize = 400

// newCatalog builds the catalog of a seed. Products are numbered by
// popularity: p-1 is the best seller.
func newCatalog(seed uint64) *catalog {
	rng := rand.New(rand.NewPCG(seed, 0xCA7A1006))
	c := &catalog{byCat: make([][]int, len(categories)), catCum: make([][]float64, len(categories))}
	sum := 0.0
	for _, cat := range categories {
		sum += cat.weight
		c.catPick = append(c.catPick, sum)
	}
	total := 0.0
	for k := range catalogSize {
		ci := pickCum(rng, c.catPick)
		cat := categories[ci]
		price := cat.median * math.Exp(0.45*rng.NormFloat64())
		p := product{
			id:       fmt.Sprintf("p-%d", k+1),
			name:     adjectives[rng.IntN(len(adjectives))] + " " + cat.nouns[rng.IntN(len(cat.nouns))],
			category: ci,
			price:    math.Round(price) - 0.01,
			sale:     rng.Float64() < 0.2,
		}
		if p.price < 4.99 {
			p.price = 4.99
		}
		p.values.id, p.values.sku = structpb.NewStringValue(p.id), structpb.NewStringValue(fmt.Sprintf("SKU-%d", k+1))
		p.values.name, p.values.category = structpb.NewStringValue(p.name), structpb.NewStringValue(cat.name)
		p.values.price, p.values.salePrice = structpb.NewNumberValue(p.price), structpb.NewNumberValue(salePrice(p.price))
		c.products = append(c.products, p)
		w := 1 / math.Pow(float64(k+1), 0.8)
		total += w
		c.cum = append(c.cum, total)
		c.byCat[ci] = append(c.byCat[ci], k)
		prev := 0.0
		if n := len(c.catCum[ci]); n > 0 {
			prev = c.catCum[ci][n-1]
		}
		c.catCum[ci] = append(c.catCum[ci], prev+w)
	}
	return c
}

// pick returns a product index: from cat (when >= 0) or the whole catalog,
// by popularity.
func (c *catalog) pick(rng *rand.Rand, cat int) int {
	if cat >= 0 && len(c.byCat[cat]) > 0 {
		return c.byCat[cat][pickCum(rng, c.catCum[cat])]
	}
	return pickCum(rng, c.cum)
}

// pickCum returns an index drawn with the weights whose running sums are
// cum.
func pickCum(rng *rand.Rand, cum []float64) int {
	x := rng.Float64() * cum[len(cum)-1]
	i := sort.SearchFloat64s(cum, x)
	if i >= len(cum) {
		i = len(cum) - 1
	}
	return i
}

// onSale reports whether a product is discounted at t: all year for some,
// and during the store's sales for many.
func (p *product) onSale(t time.Time, rng *rand.Rand) bool {
	if p.sale {
		return true
	}
	return salesPeriod(t) && rng.Float64() < 0.6
}

// salesPeriod reports whether t falls in Black Friday week or the January
// sales.
func salesPeriod(t time.Time) bool {
	m, d := t.Month(), t.Day()
	return (m == time.November && d >= 24) || (m == time.December && d <= 1) || (m == time.January && d <= 15)
}

// seasonFactor scales purchase and visit rates by the time of year; it is at
// most maxSeason.
func seasonFactor(t time.Time) float64 {
	m, d := t.Month(), t.Day()
	switch {
	case (m == time.November && d >= 24) || (m == time.December && d <= 1):
		return 2.0
	case m == time.December && d <= 22:
		return 1.5
	case m == time.January && d <= 15:
		return 1.3
	case m == time.July || m == time.August:
		return 0.85
	}
	return 1
}

const maxSeason = 2.0

// occasion reports whether t falls in a gift-giving season, when seasonal
// shoppers buy.
func occasion(t time.Time) bool {
	m, d := t.Month(), t.Day()
	switch {
	case (m == time.January && d >= 28) || (m == time.February && d <= 13): // Valentine's Day
		return true
	case (m == time.April && d >= 25) || (m == time.May && d <= 10): // Mother's Day
		return true
	case m == time.August && d >= 10: // back to school
		return true
	case (m == time.November && d >= 20) || (m == time.December && d <= 22): // Black Friday to Christmas
		return true
	}
	return false
}

// campaign is one marketing email sent to every subscriber.
type campaign struct {
	id      string
	name    string
	subject string
	at      time.Time
}

var campaignThemes = []struct{ name, subject string }{
	{"new-arrivals", "New in: this week's arrivals"},
	{"weekly-picks", "Picked for you"},
	{"sale", "Up to 40% off, this weekend only"},
	{"restock", "Back in stock: your favorites"},
	{"guide", "How to style it: the season's guide"},
}

// newCampaigns schedules a campaign every seven days from two days after
// start, at 10:00 UTC.
func newCampaigns(start, end time.Time) []campaign {
	var out []campaign
	first := start.UTC().Truncate(24 * time.Hour).Add(48*time.Hour + 10*time.Hour)
	for k, at := 0, first; at.Before(end); k, at = k+1, at.Add(7*24*time.Hour) {
		theme := campaignThemes[k%len(campaignThemes)]
		if salesPeriod(at) {
			theme = campaignThemes[2]
		}
		out = append(out, campaign{
			id:      fmt.Sprintf("cmp-%s-%s", at.Format("20060102"), theme.name),
			name:    theme.name,
			subject: theme.subject,
			at:      at,
		})
	}
	return out
}

var firstNames = []string{"Ana", "Ben", "Chloe", "Daniel", "Emma", "Felix", "Grace", "Hugo", "Isla", "Jack",
	"Kara", "Liam", "Maya", "Noah", "Olivia", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
	"Wei", "Ximena", "Yusuf", "Zoe", "Amir", "Bea", "Carlos", "Dara", "Elena", "Finn", "Hana", "Ivan",
	"Jonas", "Leila", "Marco", "Nina", "Oscar", "Sofia", "Theo", "Aisha", "Mateo", "Lucy", "Omar", "Ruby"}

var lastNames = []string{"Smith", "Jones", "Patel", "Garcia", "Brown", "Taylor", "Wilson", "Khan", "Nguyen",
	"Müller", "Rossi", "Silva", "Kowalski", "Martin", "Evans", "Walker", "Hughes", "Chen", "Okafor",
	"Murphy", "Clarke", "Lopez", "Novak", "Ahmed", "Fischer", "Dubois", "Kim", "Wright", "Hall", "Ward"}

// city is where customers live, with a postcode format.
type city struct {
	name, country string
	weight        float64
	postcode      func(rng *rand.Rand) string
}

func ukPostcode(areas ...string) func(rng *rand.Rand) string {
	return func(rng *rand.Rand) string {
		return fmt.Sprintf("%s%d %d%c%c", areas[rng.IntN(len(areas))], 1+rng.IntN(20), rng.IntN(10),
			'A'+rune(rng.IntN(26)), 'A'+rune(rng.IntN(26)))
	}
}

func usZip(prefix int) func(rng *rand.Rand) string {
	return func(rng *rand.Rand) string { return fmt.Sprintf("%03d%02d", prefix, rng.IntN(100)) }
}

var cities = []city{
	{"London", "GB", 0.22, ukPostcode("SW", "SE", "N", "E", "W", "NW", "EC")},
	{"Manchester", "GB", 0.08, ukPostcode("M")},
	{"Birmingham", "GB", 0.07, ukPostcode("B")},
	{"Leeds", "GB", 0.05, ukPostcode("LS")},
	{"Bristol", "GB", 0.05, ukPostcode("BS")},
	{"Edinburgh", "GB", 0.05, ukPostcode("EH")},
	{"New York", "US", 0.14, usZip(100)},
	{"Chicago", "US", 0.08, usZip(606)},
	{"Austin", "US", 0.06, usZip(787)},
	{"Seattle", "US", 0.06, usZip(981)},
	{"Boston", "US", 0.06, usZip(21)},
	{"Denver", "US", 0.08, usZip(802)},
}

var cityCum = func() []float64 {
	var cum []float64
	sum := 0.0
	for _, c := range cities {
		sum += c.weight
		cum = append(cum, sum)
	}
	return cum
}()

var emailDomains = []string{"example.com", "example.net", "example.org"}

// agent is a browser or app on a kind of device.
type agent struct {
	kind, os, osVersion, manufacturer, model string
	app                                      bool
	ua                                       string
}

var desktopAgents = []agent{
	{"desktop", "Windows", "10", "", "", false, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	{"desktop", "Windows", "10", "", "", false, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"},
	{"desktop", "Mac OS X", "14.6", "Apple", "", false, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15"},
	{"desktop", "Mac OS X", "14.6", "Apple", "", false, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	{"desktop", "Linux", "", "", "", false, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"},
}

var tabletAgents = []agent{
	{"tablet", "iPadOS", "17.6", "Apple", "iPad13,18", false, "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"},
	{"tablet", "Android", "14", "Samsung", "SM-X710", false, "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
}

var mobileAgents = []agent{
	{"mobile", "iOS", "17.6", "Apple", "iPhone15,2", false, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"},
	{"mobile", "iOS", "18.1", "Apple", "iPhone16,1", false, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"},
	{"mobile", "Android", "14", "Google", "Pixel 8", false, "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"},
	{"mobile", "Android", "13", "Samsung", "SM-S911B", false, "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"},
}

var appAgents = []agent{
	{"mobile", "iOS", "17.6", "Apple", "iPhone15,2", true, "Barista Store/4.12.0 (iPhone; iOS 17.6; Scale/3.00)"},
	{"mobile", "iOS", "18.1", "Apple", "iPhone16,1", true, "Barista Store/4.12.0 (iPhone; iOS 18.1; Scale/3.00)"},
	{"mobile", "Android", "14", "Google", "Pixel 8", true, "Barista Store/4.11.2 (Android 14; Pixel 8)"},
	{"mobile", "Android", "13", "Samsung", "SM-S911B", true, "Barista Store/4.11.2 (Android 13; SM-S911B)"},
}

// Random variates.

// gamma draws from Gamma(shape, scale) (Marsaglia and Tsang).
func gamma(rng *rand.Rand, shape, scale float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		return gamma(rng, 1+shape, scale) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v * scale
		}
	}
}

// beta draws from a Beta distribution with the given mean and concentration
// (alpha + beta).
func beta(rng *rand.Rand, mean, concentration float64) float64 {
	if mean <= 0 {
		return 0
	}
	if mean >= 1 {
		return 1
	}
	x := gamma(rng, mean*concentration, 1)
	y := gamma(rng, (1-mean)*concentration, 1)
	return x / (x + y)
}

// poisson draws a Poisson count with the given mean (small means only).
func poisson(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// expDur draws an exponential duration with the given mean.
func expDur(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(mean))
}

// uuid4 returns a random UUID (version 4 form) from rng.
func uuid4(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

// hourWeights is the share of sessions starting in each hour of the day.
var hourCum = func() []float64 {
	w := []float64{1, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3, 3.4, 3.2, 3, 3, 3.2, 3.6, 4.2, 5, 5.4, 5, 3.8, 2}
	var cum []float64
	sum := 0.0
	for _, x := range w {
		sum += x
		cum = append(cum, sum)
	}
	return cum
}()
