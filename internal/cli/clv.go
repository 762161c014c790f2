package cli

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/barista-cdp/barista/services/metrics/clv"
)

// clvHeader is the header of the CSV that `barista clv` writes.
var clvHeader = []string{"customer_id", "frequency", "recency", "T", "p_alive", "expected_purchases", "expected_avg_spend", "clv"}

// clvOptions are the flags of `barista clv`.
type clvOptions struct {
	transactions   string
	calibrationEnd string
	horizon        int
	horizonSet     bool
	unit           string
	discountRate   float64
	nextOrder      bool
}

func (a *app) clvCommand() *cobra.Command {
	var o clvOptions
	cmd := &cobra.Command{
		Use:   "clv --transactions FILE --calibration-end DATE",
		Short: "Predict customer lifetime value from an order export, without a server",
		Long: `Fit the BG/NBD model of purchase counts and the Gamma-Gamma model of spend to a
shop's transactions, and predict every customer's value.

The transactions are a CSV file (or - for stdin) with a header naming the
columns customer_id, date (YYYY-MM-DD or RFC 3339) and amount; other columns are
ignored. Purchases on the same day count as one. Only transactions up to and
including --calibration-end are used; customers who first bought after it are
left out.

The output is CSV on stdout, one row per customer in order of first purchase:
  frequency           repeat purchase days up to the calibration end
  recency, T          first to last purchase, and first purchase to the calibration end, in --unit
  p_alive             probability that the customer is still active
  expected_purchases  expected purchases in the --horizon after the calibration end
  expected_avg_spend  expected amount of each future purchase
  clv                 expected value of those purchases, discounted at --discount-rate
With --next-order, a last column next_order_date is the day by which the
customer is more likely than not to have bought again, empty when that day is
not within the --horizon (always so when p_alive is at most 0.5).

The fitted parameters and log-likelihoods are printed on stderr. At least 10
customers need repeat purchases, or the command fails with "not enough data".`,
		Example: `  barista clv --transactions orders.csv --calibration-end 2025-12-31 > clv.csv
  barista clv --transactions orders.csv --calibration-end 2025-12-31 --unit day --horizon 90 --discount-rate 0.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.horizonSet = cmd.Flags().Changed("horizon")
			return a.runCLV(cmd.InOrStdin(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.transactions, "transactions", "", "CSV file of transactions with columns customer_id,date,amount, or - for stdin (required)")
	f.StringVar(&o.calibrationEnd, "calibration-end", "", "last day of the history to fit, YYYY-MM-DD (required)")
	f.IntVar(&o.horizon, "horizon", 0, "prediction horizon in periods of --unit (default one year: 52 weeks or 365 days)")
	f.StringVar(&o.unit, "unit", "week", "time unit: week or day")
	f.Float64Var(&o.discountRate, "discount-rate", 0, "annual discount rate for the CLV, e.g. 0.1 for 10% a year")
	f.BoolVar(&o.nextOrder, "next-order", false, "add a next_order_date column")
	_ = cmd.MarkFlagRequired("transactions")
	_ = cmd.MarkFlagRequired("calibration-end")
	return cmd
}

// runCLV reads the transactions, fits the models and writes the predictions.
func (a *app) runCLV(stdin io.Reader, o clvOptions) error {
	unit, err := clv.ParseUnit(o.unit)
	if err != nil {
		return fmt.Errorf("--unit: %w", err)
	}
	end, err := time.Parse(time.DateOnly, o.calibrationEnd)
	if err != nil {
		return fmt.Errorf("--calibration-end %q: want a date as YYYY-MM-DD", o.calibrationEnd)
	}
	horizon := o.horizon
	switch {
	case !o.horizonSet && unit == clv.Day:
		horizon = 365
	case !o.horizonSet:
		horizon = 52
	case horizon <= 0:
		return fmt.Errorf("--horizon %d: must be > 0", o.horizon)
	}
	if !(o.discountRate > -1) || math.IsInf(o.discountRate, 0) {
		return fmt.Errorf("--discount-rate %v: must be a number > -1", o.discountRate)
	}
	// The rate per period that compounds to the annual rate.
	periodRate := math.Pow(1+o.discountRate, unit.Days()/365.25) - 1

	txs, err := readTransactions(stdin, o.transactions)
	if err != nil {
		return err
	}
	customers, err := clv.Summarize(txs, end, unit)
	if err != nil {
		return err
	}
	if len(customers) == 0 {
		return fmt.Errorf("%w: no transactions on or before the calibration end %s", clv.ErrNotEnoughData, o.calibrationEnd)
	}
	model, err := clv.Fit(customers)
	if err != nil {
		return err
	}

	repeat := 0
	for _, c := range customers {
		if c.Frequency > 0 {
			repeat++
		}
	}
	bg, gg := model.Purchases, model.Spend
	fmt.Fprintf(a.errOut, "customers: %d (%d with repeat purchases), calibration end %s, unit %s\n", len(customers), repeat, o.calibrationEnd, unit)
	fmt.Fprintf(a.errOut, "BG/NBD: r=%.4f alpha=%.4f a=%.4f b=%.4f log-likelihood=%.4f\n", bg.R, bg.Alpha, bg.A, bg.B, bg.LogLikelihood(customers))
	fmt.Fprintf(a.errOut, "Gamma-Gamma: p=%.4f q=%.4f gamma=%.4f log-likelihood=%.4f\n", gg.P, gg.Q, gg.V, gg.LogLikelihood(customers))
	fmt.Fprintf(a.errOut, "CLV: horizon %d %ss, discount rate %g a year (%.6f per %s)\n", horizon, unit, o.discountRate, periodRate, unit)

	header := clvHeader
	if o.nextOrder {
		header = append(slices.Clip(header), "next_order_date")
	}
	// Every prediction is made before the first line is written, so a
	// failure leaves no partial CSV behind.
	rows := [][]string{header}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	for _, c := range customers {
		p, err := model.Predict(c, horizon, periodRate)
		if err != nil {
			return err
		}
		row := []string{c.ID, strconv.Itoa(c.Frequency), num(c.Recency), num(c.T),
			num(p.ProbAlive), num(p.ExpectedPurchases), num(p.ExpectedAvgSpend), num(p.CLV)}
		if o.nextOrder {
			var next string
			if wait, ok := bg.MedianTimeToNextPurchase(c); ok && wait <= float64(horizon) {
				next = end.AddDate(0, 0, int(math.Ceil(wait*unit.Days()))).Format(time.DateOnly)
			}
			row = append(row, next)
		}
		rows = append(rows, row)
	}
	return csv.NewWriter(a.out).WriteAll(rows)
}

// readTransactions parses the transactions CSV at path ("-" for stdin).
// Errors name the file and line.
func readTransactions(stdin io.Reader, path string) ([]clv.Transaction, error) {
	r, name := stdin, "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, path
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty: want a header customer_id,date,amount", name)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	var idCol, dateCol, amountCol int
	for _, c := range []struct {
		name string
		to   *int
	}{{"customer_id", &idCol}, {"date", &dateCol}, {"amount", &amountCol}} {
		i, ok := col[c.name]
		if !ok {
			return nil, fmt.Errorf("%s:1: the header has no %s column (want customer_id,date,amount)", name, c.name)
		}
		*c.to = i
	}
	var txs []clv.Transaction
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return txs, nil
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		id := strings.TrimSpace(rec[idCol])
		if id == "" {
			return nil, fmt.Errorf("%s:%d: empty customer_id", name, line)
		}
		date, err := parseDate(strings.TrimSpace(rec[dateCol]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		amount, err := strconv.ParseFloat(strings.TrimSpace(rec[amountCol]), 64)
		if err != nil || amount < 0 || math.IsInf(amount, 0) || math.IsNaN(amount) {
			return nil, fmt.Errorf("%s:%d: amount %q: want a number >= 0", name, line, rec[amountCol])
		}
		txs = append(txs, clv.Transaction{CustomerID: id, Date: date, Amount: amount})
	}
}

// parseDate accepts a date (YYYY-MM-DD) or an RFC 3339 timestamp, whose
// calendar date is taken in its own offset.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD or an RFC 3339 timestamp", s)
}

// csvError reports a CSV syntax error with the file name and line.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: %w", name, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}
