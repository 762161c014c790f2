// Package clv estimates what customers are worth from their purchase history:
// the RFM summary of a transaction log, the BG/NBD model of purchase counts
// (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"), the
// Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and
// CLV") and the discounted customer lifetime value that combines them.
//
// The package is pure computation with no service dependencies, so the
// metrics service and the `barista clv` command share one implementation.
package clv

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Unit is the time unit in which recency, age and horizons are measured.
type Unit int

const (
	// Week measures time in weeks of seven days, the unit of the CDNOW studies.
	Week Unit = iota + 1
	// Day measures time in days.
	Day
)

// ParseUnit parses "week" or "day" (case-insensitive, plural allowed).
func ParseUnit(s string) (Unit, error) {
	switch strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "s") {
	case "week":
		return Week, nil
	case "day":
		return Day, nil
	}
	return 0, fmt.Errorf("unit %q: use week or day", s)
}

// String returns "week" or "day".
func (u Unit) String() string {
	switch u {
	case Week:
		return "week"
	case Day:
		return "day"
	}
	return fmt.Sprintf("Unit(%d)", int(u))
}

// Days is the length of one unit in days.
func (u Unit) Days() float64 {
	if u == Week {
		return 7
	}
	return 1
}

// Transaction is one purchase of a customer.
type Transaction struct {
	// CustomerID identifies the customer.
	CustomerID string
	// Date is when the purchase happened; only its calendar date counts.
	Date time.Time
	// Amount is the purchase's value, zero or more.
	Amount float64
}

// Customer is the RFM summary of one customer's purchases up to the
// calibration end, in the conventions of the BG/NBD literature.
type Customer struct {
	// ID identifies the customer.
	ID string
	// Frequency is the number of repeat purchase days: purchase days after the first.
	Frequency int
	// Recency is the time from the first to the last purchase day.
	Recency float64
	// T is the customer's age: the time from the first purchase day to the calibration end.
	T float64
	// Monetary is the mean amount of the repeat purchase days, 0 when Frequency is 0.
	Monetary float64
	// Total is the historical value: the sum of all amounts up to the calibration end.
	Total float64
}

// ErrInvalidInput reports a transaction or customer summary that no
// purchase history can produce.
var ErrInvalidInput = errors.New("invalid input")

// Summarize turns a transaction log into one Customer per customer who bought
// on or before calibrationEnd, in the order of their first transaction in txs.
// Purchases on the same calendar day count as one, with their amounts summed;
// transactions after calibrationEnd are ignored (they are the holdout period).
func Summarize(txs []Transaction, calibrationEnd time.Time, unit Unit) ([]Customer, error) {
	if unit != Week && unit != Day {
		return nil, fmt.Errorf("%w: unit %v", ErrInvalidInput, unit)
	}
	end := civilDay(calibrationEnd)
	type history struct {
		days map[int64]float64
	}
	var order []string
	byID := map[string]*history{}
	for i, tx := range txs {
		if tx.CustomerID == "" {
			return nil, fmt.Errorf("%w: transaction %d: empty customer id", ErrInvalidInput, i)
		}
		if math.IsNaN(tx.Amount) || math.IsInf(tx.Amount, 0) || tx.Amount < 0 {
			return nil, fmt.Errorf("%w: transaction %d: amount %v is not a finite number >= 0", ErrInvalidInput, i, tx.Amount)
		}
		day := civilDay(tx.Date)
		if day > end {
			continue
		}
		h, ok := byID[tx.CustomerID]
		if !ok {
			h = &history{days: map[int64]float64{}}
			byID[tx.CustomerID] = h
			order = append(order, tx.CustomerID)
		}
		h.days[day] += tx.Amount
	}
	scale := unit.Days()
	out := make([]Customer, 0, len(order))
	for _, id := range order {
		h := byID[id]
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		var total float64
		for d, amount := range h.days {
			first, last = min(first, d), max(last, d)
			total += amount
		}
		c := Customer{
			ID:        id,
			Frequency: len(h.days) - 1,
			Recency:   float64(last-first) / scale,
			T:         float64(end-first) / scale,
			Total:     total,
		}
		if c.Frequency > 0 {
			c.Monetary = (total - h.days[first]) / float64(c.Frequency)
		}
		out = append(out, c)
	}
	return out, nil
}

// civilDay numbers the calendar date of t (in t's own location) in days
// since the Unix epoch, so differences are whole days whatever the DST.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}
