package cli_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/internal/cli"
	"github.com/barista-cdp/barista/services/metrics/clv/clvtest"
)

// runCLI runs barista with args and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Execute(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// writeFile writes content to a file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// smallShop is an order export: alice and bob are worked out by hand below,
// and twelve regulars give the models enough repeat customers to fit.
func smallShop() string {
	var b strings.Builder
	b.WriteString("order_id,customer_id,date,amount\n")
	// alice: first purchase on 2024-01-01 (two orders that day), repeats on
	// 2024-01-15 and 2024-02-12 (two orders that day), one order after the
	// calibration end.
	b.WriteString("1,alice,2024-01-01,10\n2,alice,2024-01-01T18:00:00Z,5\n3,alice,2024-01-15,20\n")
	b.WriteString("4,alice,2024-02-12,30\n5,alice,2024-02-12,10\n6,alice,2024-04-01,99\n")
	// bob: one purchase, no repeat.
	b.WriteString("7,bob,2024-02-26,40\n")
	// carol: first bought after the calibration end, so she is left out.
	b.WriteString("8,carol,2024-03-30,25\n")
	order := 9
	for i := range 12 {
		for k := range 2 + i%4 {
			date := time.Date(2024, 1, 1+i+9*k, 0, 0, 0, 0, time.UTC)
			fmt.Fprintf(&b, "%d,regular%02d,%s,%d\n", order, i, date.Format(time.DateOnly), 10+3*i+k)
			order++
		}
	}
	return b.String()
}

func TestCLVSmallShop(t *testing.T) {
	path := writeFile(t, "orders.csv", smallShop())
	code, stdout, stderr := runCLI(t, "clv", "--transactions", path, "--calibration-end", "2024-03-25")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "customers: 14 (13 with repeat purchases), calibration end 2024-03-25, unit week\n")
	require.Regexp(t, `BG/NBD: r=\S+ alpha=\S+ a=\S+ b=\S+ log-likelihood=-\d+\.\d{4}\n`, stderr)
	require.Regexp(t, `Gamma-Gamma: p=\S+ q=\S+ gamma=\S+ log-likelihood=-?\d+\.\d{4}\n`, stderr)
	require.Contains(t, stderr, "CLV: horizon 52 weeks, discount rate 0 a year")

	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"customer_id", "frequency", "recency", "T", "p_alive", "expected_purchases", "expected_avg_spend", "clv"}, rows[0])
	require.Len(t, rows, 1+14)

	// alice: repeats on two days, 2 and 6 weeks after her first purchase on
	// 2024-01-01, which is 12 weeks before the calibration end; she spent 20
	// and 40 on her repeat days.
	alice := rows[1]
	require.Equal(t, []string{"alice", "2", "6.0000", "12.0000"}, alice[:4])
	// bob: no repeats, 4 weeks old; nobody drops out before a repeat purchase.
	bob := rows[2]
	require.Equal(t, []string{"bob", "0", "0.0000", "4.0000", "1.0000"}, bob[:5])
	require.Equal(t, "regular00", rows[3][0])

	for _, row := range rows[1:] {
		alive, purchases, spend, value := number(t, row[4]), number(t, row[5]), number(t, row[6]), number(t, row[7])
		require.True(t, alive >= 0 && alive <= 1, "p_alive %v", row)
		require.Positive(t, purchases, "%v", row)
		require.Positive(t, spend, "%v", row)
		// Without discounting, the value is the expected purchases times the
		// expected spend (up to the rounding of the printed numbers).
		require.InDelta(t, purchases*spend, value, 0.001*value+0.01, "%v", row)
	}

	// Discounting lowers every value; a shorter horizon lowers it more.
	code, discounted, stderr := runCLI(t, "clv", "--transactions", path, "--calibration-end", "2024-03-25", "--discount-rate", "0.5", "--horizon", "26")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "CLV: horizon 26 weeks, discount rate 0.5 a year")
	drows, err := csv.NewReader(strings.NewReader(discounted)).ReadAll()
	require.NoError(t, err)
	require.Len(t, drows, len(rows))
	for i := 1; i < len(rows); i++ {
		require.Less(t, number(t, drows[i][7]), number(t, rows[i][7]), "%v", drows[i])
	}

	// In days, alice's recency and age are 42 and 84 days.
	code, days, stderr := runCLI(t, "clv", "--transactions", path, "--calibration-end", "2024-03-25", "--unit", "day")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "CLV: horizon 365 days")
	require.Contains(t, days, "\nalice,2,42.0000,84.0000,")
}

func TestCLVErrors(t *testing.T) {
	good := writeFile(t, "orders.csv", smallShop())
	for name, tc := range map[string]struct {
		csv  string
		args []string
		want string
	}{
		"empty file":          {csv: "", want: "orders.csv: empty: want a header customer_id,date,amount"},
		"missing column":      {csv: "customer_id,date,total\na,2024-01-01,1\n", want: "orders.csv:1: the header has no amount column"},
		"bad date":            {csv: "customer_id,date,amount\na,2024-01-01,1\nb,01/02/2024,2\n", want: `orders.csv:3: date "01/02/2024": want YYYY-MM-DD or an RFC 3339 timestamp`},
		"bad amount":          {csv: "customer_id,date,amount\na,2024-01-01,1\na,2024-01-02,2\nb,2024-01-03,ten\n", want: `orders.csv:4: amount "ten": want a number >= 0`},
		"negative amount":     {csv: "customer_id,date,amount\na,2024-01-01,-5\n", want: `orders.csv:2: amount "-5": want a number >= 0`},
		"empty customer":      {csv: "customer_id,date,amount\n,2024-01-01,5\n", want: "orders.csv:2: empty customer_id"},
		"wrong field count":   {csv: "customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02\n", want: "orders.csv:3: wrong number of fields"},
		"not enough data":     {csv: "customer_id,date,amount\na,2024-01-01,1\na,2024-01-09,2\n", want: "not enough data: BG/NBD needs at least 10 customers with repeat purchases, got 1 of 1 customers"},
		"nothing before end":  {csv: "customer_id,date,amount\na,2025-01-01,1\n", want: "not enough data: no transactions on or before the calibration end 2024-03-25"},
		"missing file":        {args: []string{"--transactions", filepath.Join(t.TempDir(), "nope.csv"), "--calibration-end", "2024-03-25"}, want: "no such file or directory"},
		"bad calibration end": {args: []string{"--transactions", good, "--calibration-end", "March"}, want: `--calibration-end "March": want a date as YYYY-MM-DD`},
		"bad unit":            {args: []string{"--transactions", good, "--calibration-end", "2024-03-25", "--unit", "month"}, want: `--unit: unit "month": use week or day`},
		"zero horizon":        {args: []string{"--transactions", good, "--calibration-end", "2024-03-25", "--horizon", "0"}, want: "--horizon 0: must be > 0"},
		"bad discount rate":   {args: []string{"--transactions", good, "--calibration-end", "2024-03-25", "--discount-rate", "-1"}, want: "--discount-rate -1: must be a number > -1"},
		"no transactions":     {args: []string{"--calibration-end", "2024-03-25"}, want: `required flag(s) "transactions" not set`},
	} {
		t.Run(name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = []string{"--transactions", writeFile(t, "orders.csv", tc.csv), "--calibration-end", "2024-03-25"}
			}
			code, stdout, stderr := runCLI(t, append([]string{"clv"}, args...)...)
			require.Equal(t, 1, code)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.want)
		})
	}
}

// TestCLVCDNOW runs the command on the CDNOW sample converted to the export
// format and checks the published estimates and the paper's worked example.
func TestCLVCDNOW(t *testing.T) {
	var b strings.Builder
	b.WriteString("customer_id,date,amount\n")
	for _, tx := range clvtest.Transactions(t) {
		fmt.Fprintf(&b, "%s,%s,%s\n", tx.CustomerID, tx.Date.Format(time.DateOnly), strconv.FormatFloat(tx.Amount, 'f', -1, 64))
	}
	path := writeFile(t, "cdnow.csv", b.String())
	code, stdout, stderr := runCLI(t, "clv", "--transactions", path, "--calibration-end", "1997-09-30", "--horizon", "39")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, fmt.Sprintf("customers: %d (946 with repeat purchases)", clvtest.Customers))
	require.Contains(t, stderr, "BG/NBD: r=0.2426 alpha=4.4136 a=0.7929 b=2.4259 log-likelihood=-9582.4")
	require.Regexp(t, `Gamma-Gamma: p=6\.2[45]\d* q=3\.74\d* gamma=15\.44\d* `, stderr)

	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+clvtest.Customers)
	// Customer 1 (x = 2, t_x = 30.43, T = 38.86) is expected to make 1.226
	// purchases in weeks 40 to 78 (Fader, Hardie & Lee 2005).
	require.Equal(t, []string{"1", "2", "30.4286", "38.8571"}, rows[1][:4])
	require.Equal(t, "1.2260", rows[1][5])

	// With --next-order: customer 1 is alive with probability 0.7266, so
	// P(bought again within w weeks) = 0.7266·(1 - (43.27/(43.27+w))^2.2426)
	// reaches one half after 29.47 weeks (207 days); customer 2 is more
	// likely gone than not, so has no date.
	code, stdout, stderr = runCLI(t, "clv", "--transactions", path, "--calibration-end", "1997-09-30", "--horizon", "39", "--next-order")
	require.Equal(t, 0, code, stderr)
	rows, err = csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "next_order_date", rows[0][8])
	require.Equal(t, "1998-04-25", rows[1][8])
	require.Equal(t, "0.2124", rows[2][4])
	require.Empty(t, rows[2][8])
}

func number(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return v
}
