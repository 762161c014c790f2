package clv_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/metrics/clv"
	"github.com/barista-cdp/barista/services/metrics/clv/clvtest"
)

// cdnowCustomers summarizes the CDNOW sample over the published calibration
// period, in weeks.
func cdnowCustomers(t *testing.T) []clv.Customer {
	t.Helper()
	customers, err := clv.Summarize(clvtest.Transactions(t), clvtest.CalibrationEnd, clv.Week)
	require.NoError(t, err)
	return customers
}

// TestCDNOWSummary checks the RFM conventions against the published summary
// of every CDNOW customer.
func TestCDNOWSummary(t *testing.T) {
	customers := cdnowCustomers(t)
	require.Len(t, customers, clvtest.Customers)
	published := clvtest.Summaries(t)
	repeat := 0
	for _, c := range customers {
		p, ok := published[c.ID]
		require.True(t, ok, "customer %s is not in the published summary", c.ID)
		require.Equal(t, p.X, c.Frequency, "customer %s: frequency", c.ID)
		// The published values are rounded to two decimals.
		require.InDelta(t, p.TX, c.Recency, 0.0051, "customer %s: recency", c.ID)
		require.InDelta(t, p.T, c.T, 0.0051, "customer %s: T", c.ID)
		require.InDelta(t, p.ZBar, c.Monetary, 0.0051, "customer %s: monetary value", c.ID)
		if c.Frequency > 0 {
			repeat++
		}
	}
	require.Len(t, published, clvtest.Customers)
	require.Equal(t, 946, repeat, "the Gamma-Gamma paper fits 946 customers with repeat purchases")
}

// TestCDNOWReproducesPublishedEstimates fits both models to the CDNOW sample
// and compares them with Fader, Hardie & Lee (2005) to the published
// precision.
func TestCDNOWReproducesPublishedEstimates(t *testing.T) {
	customers := cdnowCustomers(t)

	bg, err := clv.FitBGNBD(customers)
	require.NoError(t, err)
	t.Logf("BG/NBD: %+v, log-likelihood %.4f", bg, bg.LogLikelihood(customers))
	require.InDelta(t, 0.243, bg.R, 0.0005, "r")
	require.InDelta(t, 4.414, bg.Alpha, 0.0005, "alpha")
	require.InDelta(t, 0.793, bg.A, 0.0005, "a")
	require.InDelta(t, 2.426, bg.B, 0.0005, "b")
	require.InDelta(t, -9582.4, bg.LogLikelihood(customers), 0.05, "log-likelihood")

	gg, err := clv.FitGammaGamma(customers)
	require.NoError(t, err)
	t.Logf("Gamma-Gamma: %+v, log-likelihood %.4f", gg, gg.LogLikelihood(customers))
	require.InDelta(t, 6.25, gg.P, 0.005, "p")
	require.InDelta(t, 3.74, gg.Q, 0.005, "q")
	require.InDelta(t, 15.44, gg.V, 0.005, "gamma")

	// The paper's worked example: a customer with x = 2, t_x = 30.43 and
	// T = 38.86 is expected to make 1.226 purchases in weeks 40 to 78.
	e, err := bg.ExpectedPurchases(clv.Customer{Frequency: 2, Recency: 30.43, T: 38.86}, 39)
	require.NoError(t, err)
	require.InDelta(t, 1.226, e, 0.0005)
}
