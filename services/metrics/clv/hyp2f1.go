package clv

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoConvergence reports a numerical procedure that did not converge.
var ErrNoConvergence = errors.New("no convergence")

// hyp2f1MaxTerms bounds the series; near z = 1 with large parameters the
// terms first grow and then decay slowly, so the bound is generous.
const hyp2f1MaxTerms = 1_000_000

// hyp2f1 is the Gaussian hypergeometric function 2F1(a, b; c; z); see
// logHyp2F1. It fails where the value overflows.
func hyp2f1(a, b, c, z float64) (float64, error) {
	logAbs, sign, err := logHyp2F1(a, b, c, z)
	if err != nil {
		return math.NaN(), err
	}
	v := sign * math.Exp(logAbs)
	if math.IsInf(v, 0) {
		return math.NaN(), fmt.Errorf("hyp2f1(%g, %g; %g; %g): %w: the value overflows", a, b, c, z, ErrNoConvergence)
	}
	return v, nil
}

// logHyp2F1 returns log|2F1(a, b; c; z)| and the sign of 2F1 for 0 <= z < 1
// and c not a non-positive integer, summing the power series
//
//	Σ_n (a)_n (b)_n / ((c)_n n!) z^n
//
// until the remaining tail can no longer change the sum in double precision.
// The BG/NBD conditional expectation only needs z = t/(α+T+t) in [0, 1),
// where the series converges absolutely. With large parameters (a fit on
// data without heterogeneity drives them towards infinity) the terms grow
// far beyond the range of float64 before they decay, so the sum is kept
// scaled and its scale is carried as a logarithm.
func logHyp2F1(a, b, c, z float64) (logAbs, sign float64, err error) {
	if !(z >= 0 && z < 1) || (c <= 0 && c == math.Trunc(c)) || math.IsNaN(a+b+c) {
		return math.NaN(), 0, fmt.Errorf("hyp2f1(%g, %g; %g; %g): need 0 <= z < 1 and c not a non-positive integer", a, b, c, z)
	}
	const rescaleAbove = 1e200
	sum, term, logScale := 1.0, 1.0, 0.0
	done := func() (float64, float64, error) {
		if sum == 0 {
			return math.Inf(-1), 0, nil
		}
		return math.Log(math.Abs(sum)) + logScale, math.Copysign(1, sum), nil
	}
	for n := 0; n < hyp2f1MaxTerms; n++ {
		nf := float64(n)
		term *= (a + nf) * (b + nf) / ((c + nf) * (nf + 1)) * z
		sum += term
		if math.IsInf(term, 0) || math.IsNaN(sum) {
			return math.NaN(), 0, fmt.Errorf("hyp2f1(%g, %g; %g; %g): %w: a term overflows", a, b, c, z, ErrNoConvergence)
		}
		if f := max(math.Abs(term), math.Abs(sum)); f > rescaleAbove {
			term, sum, logScale = term/f, sum/f, logScale+math.Log(f)
		}
		// The ratio of consecutive terms tends to z; once it is below 1 the
		// tail is bounded by a geometric series with the larger of the
		// current ratio and z (past any pole of a negative c). Stop when that
		// bound is negligible.
		ratio := max(math.Abs((a+nf+1)*(b+nf+1)/((c+nf+1)*(nf+2)))*z, z)
		if nf+1 > -c && ratio < 1 && math.Abs(term)*ratio/(1-ratio) <= 1e-15*math.Abs(sum) {
			return done()
		}
		if term == 0 {
			return done()
		}
	}
	return math.NaN(), 0, fmt.Errorf("hyp2f1(%g, %g; %g; %g): %w after %d terms", a, b, c, z, ErrNoConvergence, hyp2f1MaxTerms)
}
