package storegen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// LinkKind says how two identifiers of one person can be connected.
type LinkKind string

// The kinds of link.
const (
	// Deterministic: the two identifiers are sent together on at least one
	// event (a login, an app's device id beside its anonymous id, an
	// identify call with a user id and an email).
	Deterministic LinkKind = "deterministic"
	// Probabilistic: no event, and no chain of events, carries both; only
	// weak evidence connects them (see Link.Evidence).
	Probabilistic LinkKind = "probabilistic"
)

// Evidence of a probabilistic link.
const (
	// EvidenceIPUserAgent: both browsers sent events from the same IP
	// address with the same user agent (a second browser profile or cleared
	// cookies on the same computer).
	EvidenceIPUserAgent = "ip_user_agent"
	// EvidenceNamePostcode: the anonymous browser sent an identify call
	// with the person's name and postcode (a delivery-estimate or
	// store-locator form) but no email or user id.
	EvidenceNamePostcode = "name_postcode"
)

// Link connects two identifiers of one person, in "type:value" form.
type Link struct {
	A        string   `json:"a"`
	B        string   `json:"b"`
	Kind     LinkKind `json:"kind"`
	Evidence []string `json:"evidence,omitempty"`
}

// Truth is what the generator knows about one customer and a matcher or a
// segment can only infer.
type Truth struct {
	// Person is the customer's true identity, "person-<index>".
	Person string `json:"person"`
	// Index is the customer's position, from 0.
	Index    int      `json:"index"`
	Behavior Behavior `json:"behavior"`
	// UserID and Email are empty for customers who never sign up.
	UserID string `json:"user_id,omitempty"`
	Email  string `json:"email,omitempty"`
	Name   string `json:"name"`
	City   string `json:"city"`
	// Identifiers lists every identifier the customer's events carry, in
	// "type:value" form, sorted.
	Identifiers []string `json:"identifiers"`
	// Links connect the identifiers: deterministic links form the groups
	// that identity resolution by rules can find, probabilistic links join
	// a group to the person only by weak evidence.
	Links []Link `json:"links,omitempty"`
	// Events is the number of events emitted.
	Events int `json:"events"`
	// Orders and Revenue are the customer's "Order Completed" events and
	// the sum of their revenue property; Refunds counts "Order Refunded".
	Orders  int     `json:"orders"`
	Revenue float64 `json:"revenue"`
	Refunds int     `json:"refunds"`
	// FirstSeen and LastSeen bound the customer's events.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// PurchaseRate is the latent number of orders per week while active,
	// and Dropout the probability of churning after each order (the BG/NBD
	// lambda and p); ChurnTime is when the customer dropped out, if they
	// did within the span.
	PurchaseRate float64    `json:"purchase_rate_per_week"`
	Dropout      float64    `json:"dropout"`
	ChurnTime    *time.Time `json:"churn_time,omitempty"`
	// Subscribed reports whether the customer is subscribed to email at
	// the end of the span.
	Subscribed bool `json:"email_subscribed"`
}

// WriteTruth writes t as one line of JSON (JSON Lines).
func WriteTruth(w io.Writer, t Truth) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// ReadTruth reads JSON Lines written by WriteTruth.
func ReadTruth(r io.Reader) ([]Truth, error) {
	var out []Truth
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var t Truth
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return nil, fmt.Errorf("truth line %d: %w", line, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}
