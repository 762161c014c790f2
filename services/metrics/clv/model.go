package clv

import (
	"fmt"
	"math"
)

// Model combines the purchase and spend models into customer value.
type Model struct {
	// Purchases predicts how many purchases a customer makes.
	Purchases BGNBD
	// Spend predicts how much a customer spends per purchase.
	Spend GammaGamma
}

// Fit fits both models to the same customers.
func Fit(customers []Customer) (Model, error) {
	bg, err := FitBGNBD(customers)
	if err != nil {
		return Model{}, err
	}
	gg, err := FitGammaGamma(customers)
	if err != nil {
		return Model{}, err
	}
	return Model{Purchases: bg, Spend: gg}, nil
}

// Prediction is what a customer is expected to be worth after the
// calibration end.
type Prediction struct {
	Customer
	// ProbAlive is the probability that the customer is still active.
	ProbAlive float64
	// ExpectedPurchases is the expected number of purchases over the horizon.
	ExpectedPurchases float64
	// ExpectedAvgSpend is the expected amount of each future purchase.
	ExpectedAvgSpend float64
	// CLV is the discounted value of the purchases over the horizon.
	CLV float64
}

// Predict values c over the next horizon periods of the model's time unit,
// discounting each period's value at discountRate per period. The CLV is the
// standard discounted sum (as in lifetimes' customer_lifetime_value):
//
//	Σ_{i=1..horizon} spend · (E[X(i)] - E[X(i-1)]) / (1+discountRate)^i
//
// where E[X(i)] is the expected number of purchases in the first i periods.
func (m Model) Predict(c Customer, horizon int, discountRate float64) (Prediction, error) {
	if horizon < 0 {
		return Prediction{}, fmt.Errorf("horizon %d: must be >= 0", horizon)
	}
	if !(discountRate > -1) || math.IsInf(discountRate, 0) {
		return Prediction{}, fmt.Errorf("discount rate %v: must be a finite number > -1", discountRate)
	}
	p := Prediction{
		Customer:         c,
		ProbAlive:        m.Purchases.ProbAlive(c),
		ExpectedAvgSpend: m.Spend.ExpectedAverageSpend(c),
	}
	var previous float64
	for i := 1; i <= horizon; i++ {
		e, err := m.Purchases.ExpectedPurchases(c, float64(i))
		if err != nil {
			return Prediction{}, fmt.Errorf("customer %q: %w", c.ID, err)
		}
		p.CLV += p.ExpectedAvgSpend * (e - previous) / math.Pow(1+discountRate, float64(i))
		previous = e
	}
	p.ExpectedPurchases = previous
	return p, nil
}
