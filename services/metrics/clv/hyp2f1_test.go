package clv

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mathext"
)

// TestHyp2F1MatchesCephes compares the series with gonum's port of Cephes
// over the parameters the BG/NBD expectation uses.
func TestHyp2F1MatchesCephes(t *testing.T) {
	for _, a := range []float64{-0.9, 0.243, 2.5, 30.2} {
		for _, b := range []float64{-0.2, 0.793, 12.4} {
			for _, c := range []float64{0.6, 2.2, 40.5} {
				for _, z := range []float64{0.01, 0.3, 0.7, 0.95} {
					got, err := hyp2f1(a, b, c, z)
					require.NoError(t, err)
					require.InEpsilon(t, mathext.Hypergeo(a, b, c, z), got, 1e-9, "2F1(%v, %v; %v; %v)", a, b, c, z)
				}
			}
		}
	}
}

func TestHyp2F1ClosedForms(t *testing.T) {
	for _, z := range []float64{0, 0.1, 0.5, 0.9, 0.99} {
		// 2F1(1, 1; 2; z) = -ln(1-z)/z.
		got, err := hyp2f1(1, 1, 2, z)
		require.NoError(t, err)
		want := 1.0
		if z > 0 {
			want = -math.Log1p(-z) / z
		}
		require.InEpsilon(t, want, got, 1e-12, "z=%v", z)

		// 2F1(a, b; b; z) = (1-z)^-a.
		got, err = hyp2f1(0.7, 3.2, 3.2, z)
		require.NoError(t, err)
		require.InEpsilon(t, math.Pow(1-z, -0.7), got, 1e-12, "z=%v", z)

		// 2F1(1/2, 1/2; 3/2; s²) = asin(s)/s.
		s := math.Sqrt(z)
		got, err = hyp2f1(0.5, 0.5, 1.5, z)
		require.NoError(t, err)
		want = 1.0
		if s > 0 {
			want = math.Asin(s) / s
		}
		require.InEpsilon(t, want, got, 1e-12, "z=%v", z)

		// A negative, non-integer c with an alternating a: 2F1(-0.3, b; b; z) = (1-z)^0.3.
		got, err = hyp2f1(-0.3, -0.4, -0.4, z)
		require.NoError(t, err)
		require.InEpsilon(t, math.Pow(1-z, 0.3), got, 1e-12, "z=%v", z)
	}
}

func TestHyp2F1Rejects(t *testing.T) {
	for _, tc := range [][4]float64{{1, 1, 2, 1}, {1, 1, 2, -0.1}, {1, 1, 0, 0.5}, {1, 1, -2, 0.5}, {math.NaN(), 1, 2, 0.5}} {
		_, err := hyp2f1(tc[0], tc[1], tc[2], tc[3])
		require.Error(t, err, "%v", tc)
	}
	// So many growing terms before they decay that the series is cut off.
	_, err := hyp2f1(1e6, 1e6, 1, 0.999999)
	require.ErrorIs(t, err, ErrNoConvergence)
}

// TestExpectedPurchasesMatchesTheUntransformedFormula checks the Euler
// transformation in ExpectedPurchases against equation 10 of the BG/NBD
// paper evaluated literally, where the latter converges.
func TestExpectedPurchasesMatchesTheUntransformedFormula(t *testing.T) {
	m := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	for _, c := range []Customer{
		{Frequency: 0, T: 38.86},
		{Frequency: 1, Recency: 1.71, T: 38.86},
		{Frequency: 2, Recency: 30.43, T: 38.86},
		{Frequency: 14, Recency: 35, T: 36},
	} {
		for _, horizon := range []float64{1, 39, 104} {
			x := float64(c.Frequency)
			z := horizon / (m.Alpha + c.T + horizon)
			f, err := hyp2f1(m.R+x, m.B+x, m.A+m.B+x-1, z)
			require.NoError(t, err)
			want := (m.A + m.B + x - 1) / (m.A - 1) * (1 - math.Pow(1-z, m.R+x)*f)
			if c.Frequency > 0 {
				want /= 1 + m.A/(m.B+x-1)*math.Pow((m.Alpha+c.T)/(m.Alpha+c.Recency), m.R+x)
			}
			got, err := m.ExpectedPurchases(c, horizon)
			require.NoError(t, err)
			require.InEpsilon(t, want, got, 1e-9, "%+v over %v", c, horizon)
		}
	}
}

// TestExpectedPurchasesWithoutHeterogeneity evaluates the expectation where
// a fit on homogeneous customers ends: every parameter huge, so that all
// customers buy at rate λ = r/α and drop out with probability p = a/(a+b).
// The limit is then E[min(N, G)] for N ~ Poisson(λt) purchase opportunities
// and G ~ Geometric(p) purchases until dropout: Σ_k P(N ≥ k)·(1-p)^(k-1).
func TestExpectedPurchasesWithoutHeterogeneity(t *testing.T) {
	const lambda, p, scale, horizon = 0.5, 0.3, 1e8, 10.0
	m := BGNBD{R: lambda * scale, Alpha: scale, A: p * scale, B: (1 - p) * scale}
	var want float64
	atLeast := 1.0 // P(N >= k), starting at k = 0
	pmf := math.Exp(-lambda * horizon)
	for k := 1; k < 200; k++ {
		atLeast -= pmf // now P(N >= k)
		pmf *= lambda * horizon / float64(k)
		want += atLeast * math.Pow(1-p, float64(k-1))
	}
	got, err := m.ExpectedPurchases(Customer{T: 5}, horizon)
	require.NoError(t, err)
	require.InEpsilon(t, want, got, 1e-5)
}
