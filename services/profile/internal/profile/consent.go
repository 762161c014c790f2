package profile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Purposes are the purposes a person consents to, or not.
var Purposes = []string{"analytics", "email", "sms", "personalization"}

// MaxSourceLen is the longest consent source accepted, in bytes.
const MaxSourceLen = 200

// Consent is a person's answer for one purpose.
type Consent struct {
	// Purpose is one of Purposes.
	Purpose string
	// Granted is the answer.
	Granted bool
	// Source says where the answer came from.
	Source string
	// Time is when the person answered.
	Time time.Time
}

// Newer reports whether c wins over d for the same purpose: the later
// answer wins, and at the same time a denial wins, so that a tie never
// grants.
func (c Consent) Newer(d Consent) bool {
	if t := c.Time.Compare(d.Time); t != 0 {
		return t > 0
	}
	return !c.Granted && d.Granted
}

// ConsentStore keeps consents. Implementations are checked by the
// conformance suite in internal/storetest.
type ConsentStore interface {
	// SetConsents records consents on the profile with id, a live or a
	// merged profile, keeping per purpose the newer of the stored and the
	// given consent. It wraps ErrNotFound for unknown ids.
	SetConsents(ctx context.Context, id string, consents []Consent) error
	// Consents returns per purpose the newest consent over the profile
	// with id and every profile merged into it, directly or not, in
	// purpose order.
	Consents(ctx context.Context, id string) ([]Consent, error)
}

// SetConsents records consents on the live profile that id is or was merged
// into, and returns its consents after.
func (g *Graph) SetConsents(ctx context.Context, id string, consents []Consent) (Profile, []Consent, error) {
	invalid := &apierror.InvalidError{}
	CheckConsents(consents, invalid)
	if err := invalid.OrNil(); err != nil {
		return Profile{}, nil, err
	}
	now := g.clock()
	consents = slices.Clone(consents)
	for i := range consents {
		consents[i].Source = strings.TrimSpace(consents[i].Source)
		if consents[i].Time.IsZero() {
			consents[i].Time = now
		}
		consents[i].Time = consents[i].Time.UTC().Truncate(time.Microsecond)
	}
	p, err := g.Get(ctx, id)
	if err != nil {
		return Profile{}, nil, err
	}
	if err := g.store.SetConsents(ctx, p.ID, consents); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Profile{}, nil, notFound("no profile named profiles/%s", id)
		}
		return Profile{}, nil, err
	}
	all, err := g.store.Consents(ctx, p.ID)
	return p, all, err
}

// Consents returns the consents of the profile with id, over it and the
// profiles merged into it, per purpose.
func (g *Graph) Consents(ctx context.Context, id string) ([]Consent, error) {
	return g.store.Consents(ctx, id)
}

// CheckConsents adds to invalid what is wrong with consents: at least one,
// known purposes each at most once, and a source.
func CheckConsents(consents []Consent, invalid *apierror.InvalidError) {
	seen := map[string]bool{}
	for i, c := range consents {
		field := fmt.Sprintf("consents[%d]", i)
		switch {
		case !slices.Contains(Purposes, c.Purpose):
			invalid.Add(field+".purpose", "want one of %s; got %q", strings.Join(Purposes, ", "), c.Purpose)
		case seen[c.Purpose]:
			invalid.Add(field+".purpose", "%s is given twice", c.Purpose)
		}
		seen[c.Purpose] = true
		switch src := strings.TrimSpace(c.Source); {
		case src == "":
			invalid.Add(field+".source", "is required, such as \"signup-form\"")
		case len(src) > MaxSourceLen:
			invalid.Add(field+".source", "is %d bytes long; the limit is %d", len(src), MaxSourceLen)
		}
	}
	if len(consents) == 0 {
		invalid.Add("consents", "at least one consent is required")
	}
}

// LatestConsents returns per purpose the newest of consents, in purpose
// order; stores use it to agree on which consent wins.
func LatestConsents(consents []Consent) []Consent {
	latest := map[string]Consent{}
	for _, c := range consents {
		if cur, ok := latest[c.Purpose]; !ok || c.Newer(cur) {
			latest[c.Purpose] = c
		}
	}
	out := make([]Consent, 0, len(latest))
	for _, c := range latest {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Consent) int { return cmp.Compare(a.Purpose, b.Purpose) })
	return out
}
