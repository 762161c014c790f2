package clv

import (
	"fmt"
	"math"
)

// GammaGamma is the Gamma-Gamma model of spend per purchase (Fader, Hardie &
// Lee 2005, "RFM and CLV"; Colombo & Jiang 1999): the amounts of a customer's
// purchases are Gamma(P, ν) with ν ~ Gamma(Q, V) across customers, independent
// of how often they buy.
type GammaGamma struct {
	// P is the shape of the spend distribution of one customer.
	P float64
	// Q is the shape of the distribution of ν across customers.
	Q float64
	// V is the scale (γ in the paper) of the distribution of ν across customers.
	V float64
}

// FitGammaGamma estimates the Gamma-Gamma parameters by maximum likelihood
// on the customers with repeat purchases of positive value (the model's
// monetary value is the mean of the repeat purchases, so the others carry
// no information). It returns ErrNotEnoughData when there are fewer than
// MinRepeatCustomers of them.
func FitGammaGamma(customers []Customer) (GammaGamma, error) {
	var fitted []Customer
	for _, c := range customers {
		if err := c.check(); err != nil {
			return GammaGamma{}, err
		}
		if c.Frequency > 0 && c.Monetary > 0 {
			fitted = append(fitted, c)
		}
	}
	if len(fitted) < MinRepeatCustomers {
		return GammaGamma{}, fmt.Errorf("%w: Gamma-Gamma needs at least %d customers with repeat purchases of positive value, got %d",
			ErrNotEnoughData, MinRepeatCustomers, len(fitted))
	}
	objective := func(x []float64) float64 {
		p := expAll(x)
		return negMean(GammaGamma{P: p[0], Q: p[1], V: p[2]}.LogLikelihood(fitted), len(fitted))
	}
	// Start with p = q = 1 and ν's scale at the mean spend, where the
	// implied mean spend p·V/(q-1) is of the right order.
	var mean float64
	for _, c := range fitted {
		mean += c.Monetary / float64(len(fitted))
	}
	x, err := minimize(objective, []float64{0, 0, math.Log(mean)})
	if err != nil {
		return GammaGamma{}, fmt.Errorf("fit Gamma-Gamma: %w", err)
	}
	p := expAll(x)
	return GammaGamma{P: p[0], Q: p[1], V: p[2]}, nil
}

// LogLikelihood is the log-likelihood of the mean repeat spend of the
// customers with repeat purchases of positive value; the others are skipped.
// It omits the terms that do not depend on the parameters, like lifetimes.
func (m GammaGamma) LogLikelihood(customers []Customer) float64 {
	var ll float64
	for _, c := range customers {
		if c.Frequency == 0 || c.Monetary <= 0 {
			continue
		}
		x, z := float64(c.Frequency), c.Monetary
		px := m.P * x
		lgPXQ, _ := math.Lgamma(px + m.Q)
		lgPX, _ := math.Lgamma(px)
		lgQ, _ := math.Lgamma(m.Q)
		ll += lgPXQ - lgPX - lgQ + m.Q*math.Log(m.V) + (px-1)*math.Log(z) + px*math.Log(x) - (px+m.Q)*math.Log(x*z+m.V)
	}
	return ll
}

// ExpectedAverageSpend is the expected amount of the customer's future
// purchases given their history: a weighted mean of the population mean
// p·V/(q-1) and their own mean repeat spend. For customers without repeat
// purchases it is the population mean. It is +Inf when q <= 1, where the
// population mean does not exist.
func (m GammaGamma) ExpectedAverageSpend(c Customer) float64 {
	x := float64(c.Frequency)
	if c.Frequency > 0 && c.Monetary <= 0 {
		x = 0
	}
	if m.P*x+m.Q-1 <= 0 {
		return math.Inf(1)
	}
	return m.P * (m.V + x*c.Monetary) / (m.P*x + m.Q - 1)
}
