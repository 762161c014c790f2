package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/barista-cdp/barista/services/metrics/clv"
)

// epoch is the first day of the order history read for customer value.
var epoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// StoreStatistics are the store's orders over a range of days.
type StoreStatistics struct {
	// From and To are the first and last days of the range.
	From, To time.Time
	// Orders and Revenue add up the orders of the range.
	Orders  int64
	Revenue float64
	// Customers counts the profiles with an order in the range.
	Customers int64
	// P25, P50, P75, P90 and P99 are percentiles of the order values.
	P25, P50, P75, P90, P99 float64
}

// AverageOrderValue is Revenue / Orders; 0 without orders.
func (s StoreStatistics) AverageOrderValue() float64 {
	if s.Orders == 0 {
		return 0
	}
	return s.Revenue / float64(s.Orders)
}

// Statistics adds up the orders of activity, the days of a range. Each
// order of a profile-day is valued at the day's mean order revenue.
func Statistics(activity []ProfileDay, from, to time.Time) StoreStatistics {
	s := StoreStatistics{From: from, To: to}
	var values []float64
	last := ""
	for _, d := range activity {
		if d.Orders == 0 {
			continue
		}
		s.Orders += d.Orders
		s.Revenue += d.Revenue
		if d.Profile != last {
			s.Customers++
			last = d.Profile
		}
		for range d.Orders {
			values = append(values, d.Revenue/float64(d.Orders))
		}
	}
	slices.Sort(values)
	s.P25 = Percentile(values, 25)
	s.P50 = Percentile(values, 50)
	s.P75 = Percentile(values, 75)
	s.P90 = Percentile(values, 90)
	s.P99 = Percentile(values, 99)
	return s
}

// Percentile returns the q-th percentile (0 to 100) of sorted values,
// interpolating linearly between the closest ranks; 0 when values is empty.
func Percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	h := q / 100 * float64(len(sorted)-1)
	i := int(math.Floor(h))
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

// RFM is a profile's recency, frequency and monetary value over a range of
// days, and its quintile scores among the customers of the range.
type RFM struct {
	// HasOrders tells whether the profile ordered in the range; when false,
	// every other field but Customers is zero.
	HasOrders bool
	// RecencyDays counts the days from the last day with an order to the
	// last day of the range.
	RecencyDays int64
	// Frequency counts the orders and Monetary adds up their revenue.
	Frequency int64
	Monetary  float64
	// RecencyScore, FrequencyScore and MonetaryScore are quintiles, 1 to 5.
	RecencyScore, FrequencyScore, MonetaryScore int
	// Customers counts the profiles with an order in the range.
	Customers int64
}

// ScoreRFM returns the RFM of every profile with an order in activity, the
// days of a range ending with to, keyed by profile. A profile's score on
// each dimension is 1 + ⌊5k/n⌋ where k counts the n customers with a
// strictly worse value, so ties score alike.
func ScoreRFM(activity []ProfileDay, to time.Time) map[string]RFM {
	byProfile := map[string]*RFM{}
	var order []string
	for _, d := range activity {
		if d.Orders == 0 {
			continue
		}
		r := byProfile[d.Profile]
		if r == nil {
			r = &RFM{HasOrders: true}
			byProfile[d.Profile] = r
			order = append(order, d.Profile)
		}
		r.Frequency += d.Orders
		r.Monetary += d.Revenue
		// Days come sorted by date: the last one sets the recency.
		r.RecencyDays = int64(to.Sub(d.Date) / day)
	}
	n := len(order)
	recency := make([]float64, n)
	frequency := make([]float64, n)
	monetary := make([]float64, n)
	for i, p := range order {
		r := byProfile[p]
		// Fewer days is better: negate so that higher is better throughout.
		recency[i] = -float64(r.RecencyDays)
		frequency[i] = float64(r.Frequency)
		monetary[i] = r.Monetary
	}
	slices.Sort(recency)
	slices.Sort(frequency)
	slices.Sort(monetary)
	score := func(sorted []float64, v float64) int {
		k, _ := slices.BinarySearch(sorted, v)
		return 1 + 5*k/n
	}
	out := make(map[string]RFM, n)
	for _, p := range order {
		r := byProfile[p]
		r.RecencyScore = score(recency, -float64(r.RecencyDays))
		r.FrequencyScore = score(frequency, float64(r.Frequency))
		r.MonetaryScore = score(monetary, r.Monetary)
		r.Customers = int64(n)
		out[p] = *r
	}
	return out
}

// ProfileValue is what one profile is worth.
type ProfileValue struct {
	// Profile is the profile's resource name.
	Profile string
	// From and To are the first and last days of the RFM range.
	From, To time.Time
	// RFM scores the profile over the range.
	RFM RFM
	// HistoricalCLV adds up the revenue of the profile's orders up to the
	// end of To, and OrdersToDate counts them.
	HistoricalCLV float64
	OrdersToDate  int64
	// HorizonDays is the length of the prediction.
	HorizonDays int
	// Prediction is the predicted value; nil when Unavailable says why not.
	Prediction *Prediction
	// Unavailable says why there is no prediction.
	Unavailable string
}

// Prediction is a profile's expected value after the end of a range.
type Prediction struct {
	// ProbAlive, ExpectedPurchases, ExpectedAvgSpend and CLV are clv's.
	ProbAlive, ExpectedPurchases, ExpectedAvgSpend, CLV float64
	// RepeatPurchases counts the profile's repeat purchase days.
	RepeatPurchases int64
	// FittedCustomers counts the customers the models were fitted on.
	FittedCustomers int64
}

// ValueOptions are the parameters of a profile's value.
type ValueOptions struct {
	// From and To are the first and last days of the RFM range; the models
	// are fitted on the orders up to the end of To.
	From, To time.Time
	// HorizonDays is the length of the prediction in days.
	HorizonDays int
	// MonthlyDiscountRate discounts the predicted value per 30 days.
	MonthlyDiscountRate float64
}

// fitted is the customer value model of the order history up to a day.
type fitted struct {
	to        time.Time
	customers map[string]clv.Customer
	// orders counts every profile's orders.
	orders map[string]int64
	model  clv.Model
	err    error
}

// modelCache keeps the latest fitted model: refitting on the whole order
// history is the expensive part of a profile's value, and one fit per day
// serves every profile.
type modelCache struct {
	mu     sync.Mutex
	latest *fitted
}

// Statistics returns the store's order statistics from from to to
// (midnights UTC, both included).
func (t *Tracker) Statistics(ctx context.Context, from, to time.Time) (StoreStatistics, error) {
	activity, err := t.store.Activity(ctx, from, to)
	if err != nil {
		return StoreStatistics{}, fmt.Errorf("read activity: %w", err)
	}
	return Statistics(activity, from, to), nil
}

// Value returns what profile is worth. The RFM scores read the store on
// every call; the customer value models are fitted on the whole order
// history up to the end of o.To once and cached until a request for
// another day, so a day's requests share one fit. The historical value and
// orders to date come from the same snapshot of the order history: orders
// applied after it count from the next day's fit.
func (t *Tracker) Value(ctx context.Context, profile string, o ValueOptions) (ProfileValue, error) {
	window, err := t.store.Activity(ctx, o.From, o.To)
	if err != nil {
		return ProfileValue{}, fmt.Errorf("read activity: %w", err)
	}
	v := ProfileValue{Profile: profile, From: o.From, To: o.To, HorizonDays: o.HorizonDays}
	scores := ScoreRFM(window, o.To)
	v.RFM = scores[profile]
	v.RFM.Customers = int64(len(scores))
	m, err := t.fit(ctx, o.To)
	if err != nil {
		return ProfileValue{}, err
	}
	c, ok := m.customers[profile]
	switch {
	case !ok:
		v.Unavailable = "the profile has no order up to " + o.To.Format(time.DateOnly)
	case m.err != nil:
		v.Unavailable = m.err.Error()
	}
	if ok {
		v.HistoricalCLV = c.Total
		v.OrdersToDate = m.orders[profile]
	}
	if v.Unavailable != "" {
		return v, nil
	}
	daily := math.Pow(1+o.MonthlyDiscountRate, 1.0/30) - 1
	p, err := m.model.Predict(c, o.HorizonDays, daily)
	if err != nil {
		v.Unavailable = "the models cannot value the profile: " + err.Error()
		return v, nil
	}
	v.Prediction = &Prediction{
		ProbAlive:         p.ProbAlive,
		ExpectedPurchases: p.ExpectedPurchases,
		ExpectedAvgSpend:  p.ExpectedAvgSpend,
		CLV:               p.CLV,
		RepeatPurchases:   int64(c.Frequency),
		FittedCustomers:   int64(len(m.customers)),
	}
	return v, nil
}

// fit returns the models of the order history up to the end of to, fitting
// them unless the cache holds them.
func (t *Tracker) fit(ctx context.Context, to time.Time) (*fitted, error) {
	t.models.mu.Lock()
	defer t.models.mu.Unlock()
	if f := t.models.latest; f != nil && f.to.Equal(to) {
		return f, nil
	}
	history, err := t.store.Activity(ctx, epoch, to)
	if err != nil {
		return nil, fmt.Errorf("read order history: %w", err)
	}
	f, err := fitHistory(history, to)
	if err != nil {
		return nil, err
	}
	t.models.latest = f
	return f, nil
}

// fitHistory fits the customer value models, in days, on the orders of
// history up to the end of to. A history too thin to fit is not an error:
// the returned models carry it, and profiles get no prediction.
func fitHistory(history []ProfileDay, to time.Time) (*fitted, error) {
	var txs []clv.Transaction
	for _, d := range history {
		if d.Orders > 0 && !d.Date.After(to) {
			txs = append(txs, clv.Transaction{CustomerID: d.Profile, Date: d.Date, Amount: max(d.Revenue, 0)})
		}
	}
	customers, err := clv.Summarize(txs, to, clv.Day)
	if err != nil {
		return nil, fmt.Errorf("summarize order history: %w", err)
	}
	f := &fitted{to: to, customers: make(map[string]clv.Customer, len(customers))}
	for _, c := range customers {
		f.customers[c.ID] = c
	}
	f.orders = map[string]int64{}
	for _, d := range history {
		if !d.Date.After(to) {
			f.orders[d.Profile] += d.Orders
		}
	}
	f.model, f.err = clv.Fit(customers)
	if f.err != nil && !errors.Is(f.err, clv.ErrNotEnoughData) {
		f.err = fmt.Errorf("the models could not be fitted on the order history: %w", f.err)
	}
	return f, nil
}
