package clv

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// ErrNotEnoughData reports a purchase history too thin to fit a model: too
// few customers, or too few of them with repeat purchases.
var ErrNotEnoughData = errors.New("not enough data")

// MinRepeatCustomers is the number of customers with at least one repeat
// purchase below which the models are not fitted: with fewer, the maximum
// likelihood estimates are dominated by noise or do not exist.
const MinRepeatCustomers = 10

// maxRounds bounds the Nelder-Mead restarts in minimize.
const maxRounds = 10

// maxLogParam bounds the log-parameters the fits explore. On data without
// heterogeneity (every customer buying at the same rate, say) the likelihood
// keeps rising as the parameters grow together towards infinity; the bound
// stops them at about 1e13, where the models already behave as their limits.
const maxLogParam = 30

// minimize finds the minimum of f starting at x0 with Nelder-Mead, restarting
// from the best point until a restart no longer improves it: a fresh simplex
// undoes the premature collapse Nelder-Mead is prone to on the long, flat
// valleys of these likelihoods.
func minimize(f func(x []float64) float64, x0 []float64) ([]float64, error) {
	problem := optimize.Problem{Func: func(x []float64) float64 {
		for _, v := range x {
			if math.Abs(v) > maxLogParam {
				return math.Inf(1)
			}
		}
		return f(x)
	}}
	x := append([]float64(nil), x0...)
	best := f(x)
	if math.IsInf(best, 0) || math.IsNaN(best) {
		return nil, fmt.Errorf("%w: the likelihood is not finite at the starting point", ErrNoConvergence)
	}
	for range maxRounds {
		settings := &optimize.Settings{
			Converger:       &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 200},
			MajorIterations: 20_000,
		}
		res, err := optimize.Minimize(problem, x, settings, &optimize.NelderMead{SimplexSize: 0.5})
		if res == nil {
			return nil, fmt.Errorf("%w: %w", ErrNoConvergence, err)
		}
		if res.F >= best-1e-12*math.Abs(best) {
			if res.F < best {
				copy(x, res.X)
			}
			return x, nil
		}
		best = res.F
		copy(x, res.X)
	}
	return nil, fmt.Errorf("%w: the likelihood kept improving after %d restarts", ErrNoConvergence, maxRounds)
}

// expAll maps log-parameters back to parameters.
func expAll(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Exp(v)
	}
	return out
}

// negMean turns a total log-likelihood into the minimization objective: the
// negated mean, with non-finite values (parameters far outside any sensible
// range) mapped to +Inf so the simplex moves away from them.
func negMean(ll float64, n int) float64 {
	if math.IsNaN(ll) || math.IsInf(ll, 0) {
		return math.Inf(1)
	}
	return -ll / float64(n)
}
