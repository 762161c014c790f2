package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/metrics/clv"
)

func TestReadTransactionsFromStdin(t *testing.T) {
	in := "\ufeffAmount, Customer_ID ,date\n12.5,a,2024-01-02\n3,b,2024-01-03T23:30:00-05:00\n"
	txs, err := readTransactions(strings.NewReader(in), "-")
	require.NoError(t, err)
	require.Equal(t, []clv.Transaction{
		{CustomerID: "a", Date: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), Amount: 12.5},
		{CustomerID: "b", Date: time.Date(2024, 1, 3, 23, 30, 0, 0, time.FixedZone("", -5*3600)), Amount: 3},
	}, txs)

	_, err = readTransactions(strings.NewReader("customer_id,date,amount\na,\"2024-01-02,1\n"), "-")
	require.EqualError(t, err, `stdin:2: extraneous or missing " in quoted-field`)
}
