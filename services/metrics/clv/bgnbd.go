package clv

import (
	"fmt"
	"math"
)

// BGNBD is the beta-geometric/negative binomial distribution model of repeat
// purchases (Fader, Hardie & Lee 2005): while alive a customer buys at a
// Poisson rate λ ~ Gamma(R, Alpha), and after each purchase drops out with
// probability p ~ Beta(A, B).
type BGNBD struct {
	// R is the shape of the purchase-rate distribution.
	R float64
	// Alpha is the scale of the purchase-rate distribution, in units of time.
	Alpha float64
	// A is the first shape of the dropout-probability distribution.
	A float64
	// B is the second shape of the dropout-probability distribution.
	B float64
}

// FitBGNBD estimates the BG/NBD parameters by maximum likelihood. It returns
// ErrNotEnoughData when fewer than MinRepeatCustomers customers have a repeat
// purchase.
func FitBGNBD(customers []Customer) (BGNBD, error) {
	repeat := 0
	for _, c := range customers {
		if err := c.check(); err != nil {
			return BGNBD{}, err
		}
		if c.Frequency > 0 {
			repeat++
		}
	}
	if repeat < MinRepeatCustomers {
		return BGNBD{}, fmt.Errorf("%w: BG/NBD needs at least %d customers with repeat purchases, got %d of %d customers",
			ErrNotEnoughData, MinRepeatCustomers, repeat, len(customers))
	}
	objective := func(x []float64) float64 {
		p := expAll(x)
		return negMean(BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}.LogLikelihood(customers), len(customers))
	}
	// Start from r = a = b = 1 and α at the mean age, a scale on which the
	// rate distribution covers the observed purchase rates.
	var meanT float64
	for _, c := range customers {
		meanT += c.T / float64(len(customers))
	}
	x, err := minimize(objective, []float64{0, math.Log(max(meanT, 1e-3)), 0, 0})
	if err != nil {
		return BGNBD{}, fmt.Errorf("fit BG/NBD: %w", err)
	}
	p := expAll(x)
	return BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}, nil
}

// LogLikelihood is the log-likelihood of the customers' summaries under m
// (equation 6 of the BG/NBD paper, summed over customers).
func (m BGNBD) LogLikelihood(customers []Customer) float64 {
	var ll float64
	for _, c := range customers {
		ll += m.customerLogLikelihood(c)
	}
	return ll
}

func (m BGNBD) customerLogLikelihood(c Customer) float64 {
	x := float64(c.Frequency)
	lgRX, _ := math.Lgamma(m.R + x)
	lgR, _ := math.Lgamma(m.R)
	lgAB, _ := math.Lgamma(m.A + m.B)
	lgBX, _ := math.Lgamma(m.B + x)
	lgB, _ := math.Lgamma(m.B)
	lgABX, _ := math.Lgamma(m.A + m.B + x)
	a1 := lgRX - lgR + m.R*math.Log(m.Alpha)
	a2 := lgAB + lgBX - lgB - lgABX
	a3 := -(m.R + x) * math.Log(m.Alpha+c.T)
	if c.Frequency == 0 {
		return a1 + a2 + a3
	}
	a4 := math.Log(m.A) - math.Log(m.B+x-1) - (m.R+x)*math.Log(m.Alpha+c.Recency)
	return a1 + a2 + logAddExp(a3, a4)
}

// ProbAlive is the probability that the customer is still active at the end
// of the calibration period. A customer without repeat purchases cannot have
// dropped out under BG/NBD (dropout follows a purchase), so it is 1 for them.
func (m BGNBD) ProbAlive(c Customer) float64 {
	if c.Frequency == 0 {
		return 1
	}
	return 1 / (1 + math.Exp(m.logDeadOdds(c)))
}

// logDeadOdds is log(a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)), the log odds of
// having dropped out, for a customer with repeat purchases.
func (m BGNBD) logDeadOdds(c Customer) float64 {
	x := float64(c.Frequency)
	return math.Log(m.A) - math.Log(m.B+x-1) + (m.R+x)*(math.Log(m.Alpha+c.T)-math.Log(m.Alpha+c.Recency))
}

// ExpectedPurchases is the expected number of purchases of the customer in
// the t units of time after the calibration end, given their history
// (equation 10 of the BG/NBD paper).
func (m BGNBD) ExpectedPurchases(c Customer, t float64) (float64, error) {
	if t < 0 || math.IsNaN(t) || math.IsInf(t, 0) {
		return math.NaN(), fmt.Errorf("horizon %v: must be a finite number >= 0", t)
	}
	if t == 0 {
		return 0, nil
	}
	x := float64(c.Frequency)
	z := t / (m.Alpha + c.T + t)
	// 1 - ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z), evaluated after
	// Euler's transformation 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z):
	// the powers of (1-z) combine into (1-z)^(a-1), which neither overflows
	// for frequent buyers nor needs the slowly converging original series.
	logF, sign, err := logHyp2F1(m.A+m.B-1-m.R, m.A-1, m.A+m.B+x-1, z)
	if err != nil {
		return math.NaN(), err
	}
	logProduct := (m.A-1)*math.Log1p(-z) + logF
	bracket := -math.Expm1(logProduct)
	if sign < 0 {
		bracket = 1 + math.Exp(logProduct)
	}
	num := (m.A + m.B + x - 1) / (m.A - 1) * bracket
	if c.Frequency == 0 {
		return num, nil
	}
	return num / (1 + math.Exp(m.logDeadOdds(c))), nil
}

// MedianTimeToNextPurchase is the time after the calibration end by which the
// customer is more likely than not to have bought again. Under BG/NBD an
// active customer stays active until their next purchase, and their rate is
// Gamma(r+x, α+T) given the history, so P(next purchase within t) is
// P(alive)·(1 - ((α+T)/(α+T+t))^(r+x)). The second result is false when that
// never reaches one half, i.e. when P(alive) <= 0.5.
func (m BGNBD) MedianTimeToNextPurchase(c Customer) (float64, bool) {
	alive := m.ProbAlive(c)
	if alive <= 0.5 {
		return 0, false
	}
	// Solve P(alive)·(1 - u) = 1/2 for u = ((α+T)/(α+T+t))^(r+x).
	u := 1 - 0.5/alive
	return (m.Alpha + c.T) * math.Expm1(-math.Log(u)/(m.R+float64(c.Frequency))), true
}

// logAddExp is log(exp(a) + exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	hi, lo := max(a, b), min(a, b)
	if math.IsInf(hi, -1) {
		return hi
	}
	return hi + math.Log1p(math.Exp(lo-hi))
}

// check rejects summaries that no purchase history can produce.
func (c Customer) check() error {
	switch {
	case c.Frequency < 0:
		return fmt.Errorf("%w: customer %q: frequency %d < 0", ErrInvalidInput, c.ID, c.Frequency)
	case !(c.Recency >= 0) || !(c.T >= c.Recency) || math.IsInf(c.T, 0):
		return fmt.Errorf("%w: customer %q: need 0 <= recency (%v) <= T (%v)", ErrInvalidInput, c.ID, c.Recency, c.T)
	case !(c.Monetary >= 0) || math.IsInf(c.Monetary, 0):
		return fmt.Errorf("%w: customer %q: monetary value %v is not a finite number >= 0", ErrInvalidInput, c.ID, c.Monetary)
	}
	return nil
}
