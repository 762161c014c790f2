package profile

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/ident"
)

// ReasonSeenTogether prefixes the reason of merges caused by identifiers of
// different profiles seen together on one call.
const ReasonSeenTogether = "identifiers seen together"

// Options adjusts NewGraph.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives warnings; slog.Default when nil.
	Logger *slog.Logger
}

// Graph resolves identifiers to profiles under the merge rules and reads
// profiles, on top of a Store.
type Graph struct {
	store       Store
	now         func() time.Time
	resolutions metric.Int64Counter
}

// NewGraph returns a Graph over store.
func NewGraph(store Store, opts Options) *Graph {
	g := &Graph{store: store, now: opts.Now}
	if g.now == nil {
		g.now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var err error
	g.resolutions, err = otel.Meter("github.com/barista-cdp/barista/services/profile").Int64Counter(
		"barista.profile.resolutions",
		metric.WithDescription("Identifier resolutions, by outcome: unchanged, updated, linked, merged or created."),
		metric.WithUnit("{resolution}"),
	)
	if err != nil {
		logger.Warn("profile metrics disabled", "error", err)
	}
	return g
}

// Request is one resolution: identifiers seen together, and traits to set.
type Request struct {
	// Identifiers are normalized identifiers, at least one.
	Identifiers []Identifier
	// Traits are merged into the profile's traits key by key; a nil value
	// removes the key.
	Traits map[string]any
	// ObserveTime is when the identifiers were seen; the zero time means
	// now.
	ObserveTime time.Time
}

// Resolution is the outcome of Resolve.
type Resolution struct {
	// Profile is the profile the identifiers resolved to, as it is after
	// the call.
	Profile Profile
	// Created reports whether the call created the profile.
	Created bool
	// Merged are the ids of the profiles merged into Profile by the call.
	Merged []string
}

// Resolve finds, creates, links or merges the profile that req's
// identifiers belong to and sets req's traits on it.
//
// Most calls change nothing (a known visitor's next event), so Resolve first
// decides on a lock-free snapshot and returns when nothing is to change; only
// changes go through the store's atomic, locking Resolve, where the decision
// is taken again on the locked state.
func (g *Graph) Resolve(ctx context.Context, req Request) (Resolution, error) {
	req.Identifiers = dedup(req.Identifiers)
	if len(req.Identifiers) == 0 {
		return Resolution{}, apierror.Invalid("identifiers", "at least one identifier is required")
	}
	if req.ObserveTime.IsZero() {
		req.ObserveTime = g.clock()
	}
	req.ObserveTime = req.ObserveTime.UTC().Truncate(time.Microsecond)
	holders, err := g.store.Holders(ctx, req.Identifiers)
	if err != nil {
		return Resolution{}, err
	}
	res, change := Decide(req, holders, g.clock(), newID)
	if change.Create == nil && change.Update == nil {
		g.count(ctx, "unchanged")
		return res, nil
	}
	err = g.store.Resolve(ctx, req.Identifiers, func(holders []Profile) (Change, error) {
		// The clock is read under the locks, so that a profile's update
		// time never goes back.
		res, change = Decide(req, holders, g.clock(), newID)
		return change, nil
	})
	if err != nil {
		return Resolution{}, err
	}
	g.count(ctx, outcome(change))
	return res, nil
}

// clock returns the current time at the precision stores keep.
func (g *Graph) clock() time.Time {
	return g.now().UTC().Truncate(time.Microsecond)
}

// Get returns the profile with id, following merges to the live profile.
func (g *Graph) Get(ctx context.Context, id string) (Profile, error) {
	p, err := g.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Profile{}, notFound("no profile named profiles/%s", id)
	}
	return sorted(p), err
}

// Lookup returns the profile that holds id.
func (g *Graph) Lookup(ctx context.Context, id Identifier) (Profile, error) {
	p, err := g.store.Lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Profile{}, notFound("no profile holds %s", id)
	}
	return sorted(p), err
}

// List returns at most limit live profiles after the profile id after, in
// creation order, and the id to pass as after for the next page ("" when
// this is the last page).
func (g *Graph) List(ctx context.Context, after string, limit int) ([]Profile, string, error) {
	profiles, err := g.store.List(ctx, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(profiles) > limit {
		profiles = profiles[:limit]
		next = profiles[limit-1].ID
	}
	for i := range profiles {
		profiles[i] = sorted(profiles[i])
	}
	return profiles, next, nil
}

// Merges returns the merges the profile took part in, oldest first.
func (g *Graph) Merges(ctx context.Context, id string) ([]Merge, error) {
	return g.store.Merges(ctx, id)
}

// Decide applies the merge rules to req given the live profiles that hold
// any of its identifiers, and returns the outcome and the change to store.
// It is pure: newID is called only when a profile is to be created.
//
// Identifiers are taken in priority order (user_id, email, phone, device_id,
// anonymous_id, custom types; request order among equals). Each brings its
// holder profile, or itself when nobody holds it, into the group the
// identifiers resolve to, unless that would give the group a second user id:
// then it is left where it is (a held identifier stays with its holder, an
// unheld one is not linked). The group's profiles merge into the oldest;
// the unheld identifiers are linked to it; with no profile in the group, a
// new profile is created for them.
func Decide(req Request, holders []Profile, now time.Time, newID func() string) (Resolution, Change) {
	holderOf := map[Identifier]*Profile{}
	for i := range holders {
		for _, id := range holders[i].Identifiers {
			holderOf[id] = &holders[i]
		}
	}
	ordered := slices.Clone(req.Identifiers)
	slices.SortStableFunc(ordered, func(a, b Identifier) int { return Rank(a.Type) - Rank(b.Type) })

	var (
		group   []*Profile
		inGroup = map[string]bool{}
		link    []Identifier
		joined  []Identifier
		userID  string
	)
	for _, id := range ordered {
		p := holderOf[id]
		if p != nil && inGroup[p.ID] {
			joined = append(joined, id)
			continue
		}
		u := ""
		switch {
		case p != nil:
			u = p.UserID()
		case id.Type == ident.UserID:
			u = id.Value
		}
		if u != "" && userID != "" && u != userID {
			continue
		}
		if u != "" {
			userID = u
		}
		joined = append(joined, id)
		if p == nil {
			link = append(link, id)
			continue
		}
		group = append(group, p)
		inGroup[p.ID] = true
	}

	if len(group) == 0 {
		p := Profile{
			ID:          newID(),
			Identifiers: link,
			Traits:      applyTraits(nil, req.Traits),
			CreateTime:  now,
			UpdateTime:  now,
		}
		p = sorted(p)
		return Resolution{Profile: p.Clone(), Created: true}, Change{Create: &p, ObserveTime: req.ObserveTime}
	}

	// The oldest profile survives; on conflicting traits, the most recently
	// updated profile's value wins, and the request's values win over all.
	slices.SortFunc(group, func(a, b *Profile) int {
		return cmp.Or(a.CreateTime.Compare(b.CreateTime), strings.Compare(a.ID, b.ID))
	})
	survivor := group[0]
	byUpdate := slices.Clone(group)
	slices.SortStableFunc(byUpdate, func(a, b *Profile) int { return a.UpdateTime.Compare(b.UpdateTime) })
	traits := map[string]any{}
	for _, p := range byUpdate {
		maps.Copy(traits, p.Traits)
	}
	traits = applyTraits(traits, req.Traits)

	result := survivor.Clone()
	result.Traits = traits
	result.Identifiers = append(result.Identifiers, link...)
	var merges []Merge
	var merged []string
	reason := ReasonSeenTogether + ": " + joinIDs(joined)
	for _, p := range group[1:] {
		merges = append(merges, Merge{
			Survivor:    survivor.ID,
			Merged:      p.ID,
			Reason:      reason,
			Identifiers: slices.Clone(p.Identifiers),
			Time:        now,
			ObserveTime: req.ObserveTime,
		})
		merged = append(merged, p.ID)
		result.Identifiers = append(result.Identifiers, p.Identifiers...)
	}
	res := Resolution{Merged: merged}
	if len(link) == 0 && len(merges) == 0 && equalTraits(traits, survivor.Traits) {
		res.Profile = sorted(result)
		return res, Change{}
	}
	result.UpdateTime = now
	res.Profile = sorted(result)
	return res, Change{
		Update: &Update{
			ProfileID: survivor.ID,
			Link:      link,
			Merges:    merges,
			Traits:    maps.Clone(traits),
			Time:      now,
		},
		ObserveTime: req.ObserveTime,
	}
}

// applyTraits returns base with the keys of set written over it; a nil
// value in set removes the key.
func applyTraits(base, set map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(set))
	maps.Copy(out, base)
	for k, v := range set {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func equalTraits(a, b map[string]any) bool {
	return maps.EqualFunc(a, b, func(x, y any) bool { return reflect.DeepEqual(x, y) })
}

func dedup(ids []Identifier) []Identifier {
	seen := make(map[Identifier]bool, len(ids))
	out := make([]Identifier, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func sorted(p Profile) Profile {
	slices.SortFunc(p.Identifiers, Compare)
	return p
}

func joinIDs(ids []Identifier) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ", ")
}

func outcome(c Change) string {
	switch {
	case c.Create != nil:
		return "created"
	case c.Update == nil:
		return "unchanged"
	case len(c.Update.Merges) > 0:
		return "merged"
	case len(c.Update.Link) > 0:
		return "linked"
	}
	return "updated"
}

func (g *Graph) count(ctx context.Context, outcome string) {
	if g.resolutions != nil {
		g.resolutions.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}
