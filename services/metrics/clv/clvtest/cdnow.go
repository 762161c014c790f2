// Package clvtest loads the CDNOW sample, the reference data set of the
// BG/NBD and Gamma-Gamma papers, for the tests of package clv and of the
// `barista clv` command.
package clvtest

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barista-cdp/barista/services/metrics/clv"
)

// CalibrationEnd is the end of the 39-week calibration period of the
// published CDNOW analyses (week 1 starts on 1997-01-01).
var CalibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// Customers is the number of customers in the CDNOW sample.
const Customers = 2357

// Dir returns the directory holding the CDNOW files: shared/data/cdnow in
// the nearest directory above the test's working directory that has one
// (from the repository root, ../shared/data/cdnow). When it is absent the
// test fails if CI is set, and is skipped otherwise.
func Dir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("clvtest: working directory: %v", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		candidate := filepath.Join(d, "shared", "data", "cdnow")
		if _, err := os.Stat(filepath.Join(candidate, "CDNOW_sample.txt")); err == nil {
			return candidate
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	msg := "clvtest: the CDNOW sample (shared/data/cdnow/CDNOW_sample.txt in a directory above " + wd +
		", normally ../shared/data/cdnow from the repository root) is missing"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Transactions reads CDNOW_sample.txt: one purchase per line with the
// original customer id, the sample's customer id (1 to 2357), the date as
// YYYYMMDD, the number of CDs bought and the amount in dollars. Customers
// are identified by the sample's id, as in the published summaries.
func Transactions(t testing.TB) []clv.Transaction {
	t.Helper()
	path := filepath.Join(Dir(t), "CDNOW_sample.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("clvtest: %v", err)
	}
	defer f.Close()
	var txs []clv.Transaction
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 5 {
			t.Fatalf("clvtest: %s:%d: want 5 fields, got %d", path, line, len(fields))
		}
		id, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatalf("clvtest: %s:%d: customer id: %v", path, line, err)
		}
		date, err := time.Parse("20060102", fields[2])
		if err != nil {
			t.Fatalf("clvtest: %s:%d: date: %v", path, line, err)
		}
		amount, err := strconv.ParseFloat(fields[4], 64)
		if err != nil {
			t.Fatalf("clvtest: %s:%d: amount: %v", path, line, err)
		}
		txs = append(txs, clv.Transaction{CustomerID: strconv.Itoa(id), Date: date, Amount: amount})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("clvtest: %s: %v", path, err)
	}
	return txs
}

// Summary is one row of cdnow_customers_summary_with_transactions.csv, the
// published calibration-period summary: x, t_x and T in weeks and zbar, the
// mean repeat spend.
type Summary struct {
	// ID is the sample's customer id.
	ID string
	// X is the number of repeat purchases.
	X int
	// TX is the recency in weeks.
	TX float64
	// T is the age in weeks.
	T float64
	// ZBar is the mean amount of the repeat purchases.
	ZBar float64
}

// Summaries reads the published summary, keyed by customer id.
func Summaries(t testing.TB) map[string]Summary {
	t.Helper()
	path := filepath.Join(Dir(t), "cdnow_customers_summary_with_transactions.csv")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("clvtest: %v", err)
	}
	out := map[string]Summary{}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) != 5 {
			t.Fatalf("clvtest: %s:%d: want 5 fields, got %d", path, i+1, len(f))
		}
		x, err1 := strconv.Atoi(f[1])
		tx, err2 := strconv.ParseFloat(f[2], 64)
		age, err3 := strconv.ParseFloat(f[3], 64)
		zbar, err4 := strconv.ParseFloat(f[4], 64)
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				t.Fatalf("clvtest: %s:%d: %v", path, i+1, err)
			}
		}
		out[f[0]] = Summary{ID: f[0], X: x, TX: tx, T: age, ZBar: zbar}
	}
	return out
}
