package clv_test

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/barista-cdp/barista/services/metrics/clv"
)

// simple is a model whose quantities can be worked out by hand.
var simple = clv.Model{
	Purchases: clv.BGNBD{R: 1, Alpha: 1, A: 1.5, B: 2},
	Spend:     clv.GammaGamma{P: 2, Q: 3, V: 10},
}

func TestBGNBDByHand(t *testing.T) {
	bg := clv.BGNBD{R: 1, Alpha: 1, A: 1, B: 2}
	// A customer without repeats: P(no purchase in T | alive) = (α/(α+T))^r = 1/4,
	// and nobody drops out before a repeat purchase.
	newcomer := clv.Customer{T: 3}
	require.InDelta(t, math.Log(0.25), bg.LogLikelihood([]clv.Customer{newcomer}), 1e-12)
	require.Equal(t, 1.0, bg.ProbAlive(newcomer))

	// x = 1, t_x = 1, T = 3: odds of being dead a/(b+x-1)·((α+T)/(α+t_x))^(r+x) = 1/2·2² = 2.
	regular := clv.Customer{Frequency: 1, Recency: 1, T: 3}
	require.InDelta(t, 1.0/3, bg.ProbAlive(regular), 1e-12)

	// The median time to the next purchase of the newcomer solves 4/(4+t) = 1/2.
	wait, ok := bg.MedianTimeToNextPurchase(newcomer)
	require.True(t, ok)
	require.InDelta(t, 4, wait, 1e-12)
	// The regular is more likely dead than alive: no median.
	_, ok = bg.MedianTimeToNextPurchase(regular)
	require.False(t, ok)

	e, err := bg.ExpectedPurchases(regular, 0)
	require.NoError(t, err)
	require.Zero(t, e)
	_, err = bg.ExpectedPurchases(regular, -1)
	require.Error(t, err)
}

func TestGammaGammaByHand(t *testing.T) {
	gg := clv.GammaGamma{P: 2, Q: 3, V: 10}
	// Without repeats: the population mean p·V/(q-1).
	require.InDelta(t, 10, gg.ExpectedAverageSpend(clv.Customer{T: 5}), 1e-12)
	// x = 2, mean 20: p(V + x·m)/(p·x + q - 1) = 2·50/6.
	require.InDelta(t, 100.0/6, gg.ExpectedAverageSpend(clv.Customer{Frequency: 2, Recency: 3, T: 5, Monetary: 20}), 1e-12)
	require.True(t, math.IsInf(clv.GammaGamma{P: 2, Q: 0.5, V: 10}.ExpectedAverageSpend(clv.Customer{T: 5}), 1))
}

func TestPredict(t *testing.T) {
	c := clv.Customer{ID: "a", Frequency: 2, Recency: 3, T: 5, Monetary: 20}
	e1, err := simple.Purchases.ExpectedPurchases(c, 1)
	require.NoError(t, err)
	e2, err := simple.Purchases.ExpectedPurchases(c, 2)
	require.NoError(t, err)
	spend := 100.0 / 6

	undiscounted, err := simple.Predict(c, 2, 0)
	require.NoError(t, err)
	require.Equal(t, c, undiscounted.Customer)
	require.InDelta(t, simple.Purchases.ProbAlive(c), undiscounted.ProbAlive, 1e-12)
	require.InDelta(t, e2, undiscounted.ExpectedPurchases, 1e-12)
	require.InDelta(t, spend, undiscounted.ExpectedAvgSpend, 1e-12)
	require.InDelta(t, spend*e2, undiscounted.CLV, 1e-9)

	discounted, err := simple.Predict(c, 2, 0.1)
	require.NoError(t, err)
	require.InDelta(t, spend*(e1/1.1+(e2-e1)/(1.1*1.1)), discounted.CLV, 1e-9)
	require.Less(t, discounted.CLV, undiscounted.CLV)

	none, err := simple.Predict(c, 0, 0.1)
	require.NoError(t, err)
	require.Zero(t, none.CLV)
	require.Zero(t, none.ExpectedPurchases)

	_, err = simple.Predict(c, -1, 0)
	require.Error(t, err)
	_, err = simple.Predict(c, 1, -1)
	require.Error(t, err)
}

func TestFitNeedsRepeatCustomers(t *testing.T) {
	customers := make([]clv.Customer, 100)
	for i := range customers {
		customers[i] = clv.Customer{ID: strconv.Itoa(i), T: 10}
	}
	for i := range clv.MinRepeatCustomers - 1 {
		customers[i] = clv.Customer{ID: strconv.Itoa(i), Frequency: 1, Recency: 2, T: 10, Monetary: 5}
	}
	_, err := clv.Fit(customers)
	require.ErrorIs(t, err, clv.ErrNotEnoughData)
	require.ErrorContains(t, err, "at least 10 customers with repeat purchases, got 9 of 100")
	_, err = clv.FitGammaGamma(customers)
	require.ErrorIs(t, err, clv.ErrNotEnoughData)

	_, err = clv.FitBGNBD([]clv.Customer{{ID: "x", Recency: 5, T: 2}})
	require.ErrorIs(t, err, clv.ErrInvalidInput)
}

// TestFitRecoversSimulatedParameters simulates customers from known
// parameters and checks that the maximum likelihood estimates find them.
func TestFitRecoversSimulatedParameters(t *testing.T) {
	const n = 4000
	truth := clv.Model{
		Purchases: clv.BGNBD{R: 0.5, Alpha: 5, A: 1.2, B: 3},
		Spend:     clv.GammaGamma{P: 5, Q: 4, V: 20},
	}
	src := rand.NewPCG(1, 2)
	rate := distuv.Gamma{Alpha: truth.Purchases.R, Beta: truth.Purchases.Alpha, Src: src}
	dropout := distuv.Beta{Alpha: truth.Purchases.A, Beta: truth.Purchases.B, Src: src}
	nu := distuv.Gamma{Alpha: truth.Spend.Q, Beta: truth.Spend.V, Src: src}
	uniform := distuv.Uniform{Min: 0, Max: 1, Src: src}
	customers := make([]clv.Customer, n)
	for i := range customers {
		c := clv.Customer{ID: strconv.Itoa(i), T: 20 + 32*uniform.Rand()}
		lambda, p := rate.Rand(), dropout.Rand()
		spend := distuv.Gamma{Alpha: truth.Spend.P, Beta: nu.Rand(), Src: src}
		var total float64
		for at := 0.0; ; {
			at += distuv.Exponential{Rate: lambda, Src: src}.Rand()
			if at > c.T {
				break
			}
			c.Frequency++
			c.Recency = at
			total += spend.Rand()
			if uniform.Rand() < p {
				break
			}
		}
		if c.Frequency > 0 {
			c.Monetary = total / float64(c.Frequency)
		}
		customers[i] = c
	}

	got, err := clv.Fit(customers)
	require.NoError(t, err)
	t.Logf("fitted %+v", got)
	require.InEpsilon(t, truth.Purchases.R, got.Purchases.R, 0.1)
	require.InEpsilon(t, truth.Purchases.Alpha, got.Purchases.Alpha, 0.1)
	require.InEpsilon(t, truth.Purchases.A, got.Purchases.A, 0.2)
	require.InEpsilon(t, truth.Purchases.B, got.Purchases.B, 0.2)
	// p, q and V trade off against each other; the mean spend they imply is
	// what the data pins down.
	mean := func(g clv.GammaGamma) float64 { return g.P * g.V / (g.Q - 1) }
	require.InEpsilon(t, mean(truth.Spend), mean(got.Spend), 0.1)
	require.InEpsilon(t, truth.Spend.P, got.Spend.P, 0.1)

	// The fitted parameters explain the data at least as well as the truth.
	require.GreaterOrEqual(t, got.Purchases.LogLikelihood(customers), truth.Purchases.LogLikelihood(customers))
	require.GreaterOrEqual(t, got.Spend.LogLikelihood(customers), truth.Spend.LogLikelihood(customers))
}

// TestFitWithoutHeterogeneity fits customers who all buy at one rate and
// drop out with one probability: the likelihood rises as the parameters
// grow together, and the fit must still end, at the rate and probability
// of the data.
func TestFitWithoutHeterogeneity(t *testing.T) {
	const lambda, p = 0.5, 0.3
	src := rand.NewPCG(3, 4)
	uniform := distuv.Uniform{Min: 0, Max: 1, Src: src}
	wait := distuv.Exponential{Rate: lambda, Src: src}
	customers := make([]clv.Customer, 2000)
	for i := range customers {
		c := clv.Customer{ID: strconv.Itoa(i), T: 30}
		for at := wait.Rand(); at <= c.T; at += wait.Rand() {
			c.Frequency++
			c.Recency = at
			if uniform.Rand() < p {
				break
			}
		}
		customers[i] = c
	}
	bg, err := clv.FitBGNBD(customers)
	require.NoError(t, err)
	t.Logf("fitted %+v", bg)
	require.Greater(t, bg.R, 100.0, "no heterogeneity: the rate's shape grows large")
	require.InEpsilon(t, lambda, bg.R/bg.Alpha, 0.05)
	require.InEpsilon(t, p, bg.A/(bg.A+bg.B), 0.1)
	e, err := bg.ExpectedPurchases(customers[0], 52)
	require.NoError(t, err)
	require.False(t, math.IsNaN(e))
}
