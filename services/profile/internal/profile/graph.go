package profile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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

// Rules that merge profiles or ignore identifiers, as named in the merge log
// and in Ignored.
const (
	// RuleSeenTogether merges profiles whose identifiers are seen together.
	RuleSeenTogether = "seen_together"
	// RuleManual merges profiles on an operator's request.
	RuleManual = "manual"
	// RuleBlocked ignores a blocked (junk) identifier.
	RuleBlocked = "blocked"
	// RuleLimit drops an identifier that would break a per-type limit.
	RuleLimit = "limit"
	// RuleShared ignores a shared-device identifier.
	RuleShared = "shared"
)

// Ignored is an identifier of a call that the rules kept from resolving.
type Ignored struct {
	// Identifier is the identifier ignored.
	Identifier Identifier
	// Rule is RuleBlocked, RuleLimit or RuleShared.
	Rule string
	// Reason explains the rule's decision.
	Reason string
}

// Options adjusts NewGraph.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives warnings; slog.Default when nil.
	Logger *slog.Logger
	// Policy is the merge rules; DefaultPolicy when nil.
	Policy *Policy
	// SuppressionKey keys the hashes of erased identifiers; the store's
	// own secret when nil.
	SuppressionKey []byte
}

// Graph resolves identifiers to profiles under the merge rules and reads
// profiles, on top of a Store.
type Graph struct {
	store       Store
	policy      *Policy
	now         func() time.Time
	resolutions metric.Int64Counter
	suppress    suppression
	refusals    refusalCache
}

// NewGraph returns a Graph over store.
func NewGraph(store Store, opts Options) *Graph {
	g := &Graph{store: store, now: opts.Now, policy: opts.Policy}
	g.suppress.key = opts.SuppressionKey
	if g.now == nil {
		g.now = time.Now
	}
	if g.policy == nil {
		g.policy = DefaultPolicy()
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
	// TraitsSetOnce are set only where the profile has no value yet; a key
	// also in Traits takes its value there. Nil values are ignored.
	TraitsSetOnce map[string]any
	// Source is the message id of the event that carried the request, the
	// source of the trait changes it makes; "" for none.
	Source string
	// ObserveTime is when the identifiers were seen; the zero time means
	// now.
	ObserveTime time.Time
	// id is the id a profile created by the request takes; empty for a new
	// one. A batch assigns them in batch order, so that profiles created by
	// requests resolved in parallel are ordered (and survive merges) as if
	// resolved one after the other.
	id string
}

// newIDFor returns the id generator of req's resolution.
func (req Request) newIDFor() func() string {
	if req.id != "" {
		return func() string { return req.id }
	}
	return newID
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
	// Ignored are the call's identifiers that the rules kept from
	// resolving: blocked ones first, then the others in priority order.
	Ignored []Ignored
}

// Resolve finds, creates, links or merges the profile that req's
// identifiers belong to and sets req's traits on it.
//
// Most calls change nothing (a known visitor's next event), so Resolve first
// decides on a lock-free snapshot and returns when nothing is to change; only
// changes go through the store's atomic, locking Resolve, where the decision
// is taken again on the locked state.
func (g *Graph) Resolve(ctx context.Context, req Request) (Resolution, error) {
	out := g.resolveAll(ctx, []Request{req}, nil)
	return out[0].Resolution, out[0].Err
}

// check validates and completes req for Resolve and ResolveBatch: it drops
// repeated and blocked identifiers (returned as Ignored) and sets the
// observe time. invalid holds the reasons identifiers were dropped, for
// the error of a request that keeps none (screen adds to it); err is set
// when none is left already.
func (g *Graph) check(req Request) (_ Request, blocked []Ignored, invalid *apierror.InvalidError, err error) {
	req.Identifiers = dedup(req.Identifiers)
	if len(req.Identifiers) == 0 {
		return req, nil, nil, apierror.Invalid("identifiers", "at least one identifier is required")
	}
	kept := req.Identifiers[:0:0]
	invalid = &apierror.InvalidError{}
	for i, id := range req.Identifiers {
		if g.policy.Blocked(id) {
			blocked = append(blocked, Ignored{Identifier: id, Rule: RuleBlocked, Reason: "the value is blocked by the merge rules"})
			invalid.Add(fmt.Sprintf("identifiers[%d]", i), "%s %s is blocked by the merge rules (junk or test value)", id.Type, id.Value)
			continue
		}
		kept = append(kept, id)
	}
	if len(kept) == 0 {
		return req, nil, nil, invalid
	}
	req.Identifiers = kept
	if req.ObserveTime.IsZero() {
		req.ObserveTime = g.clock()
	}
	req.ObserveTime = req.ObserveTime.UTC().Truncate(time.Microsecond)
	return req, blocked, invalid, nil
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

// Merges returns all the merges the profile took part in, oldest first.
func (g *Graph) Merges(ctx context.Context, id string) ([]Merge, error) {
	var all []Merge
	after := int64(0)
	for {
		page, next, err := g.ListMerges(ctx, id, after, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == 0 {
			return all, nil
		}
		after = next
	}
}

// ListMerges returns at most limit merges the profile took part in after
// the merge with Seq after, oldest first, and the Seq to pass as after for
// the next page (0 on the last page).
func (g *Graph) ListMerges(ctx context.Context, id string, after int64, limit int) ([]Merge, int64, error) {
	merges, err := g.store.Merges(ctx, id, after, limit+1)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(merges) > limit {
		merges = merges[:limit]
		next = merges[limit-1].Seq
	}
	return merges, next, nil
}

// Unmerge splits the profile id back out of the profile it was merged
// into: the identifiers that moved with the merge go back, id becomes live
// again with the traits it had, and the survivor's traits are restored
// where the merge changed them and nothing has changed them since. It
// returns the survivor and the restored profile, as they are after.
//
// Only the profile service's graph changes: other services keep the state
// they moved to the survivor until they are told of unmerges.
func (g *Graph) Unmerge(ctx context.Context, id string) (survivor, restored Profile, err error) {
	err = g.store.Unmerge(ctx, id, func(s, merged Profile, m Merge) (Split, error) {
		now := g.clock()
		held := map[Identifier]bool{}
		for _, x := range s.Identifiers {
			held[x] = true
		}
		var move []Identifier
		for _, x := range m.Identifiers {
			if held[x] {
				move = append(move, x)
			}
		}
		split := Split{Merge: m, Move: move, Time: now}
		split.SurvivorTraits, split.SurvivorSources, split.TraitChanges = restoreTraits(s, merged.Traits, m, now)
		survivor, restored = s.Clone(), merged.Clone()
		moving := map[Identifier]bool{}
		for _, x := range move {
			moving[x] = true
		}
		survivor.Identifiers = slices.DeleteFunc(survivor.Identifiers, func(x Identifier) bool { return moving[x] })
		restored.Identifiers = move
		restored.Links = map[Identifier]Link{}
		for _, x := range move {
			restored.Links[x] = s.Links[x]
			delete(survivor.Links, x)
		}
		survivor.Traits = maps.Clone(split.SurvivorTraits)
		survivor.Sources = maps.Clone(split.SurvivorSources)
		survivor.UpdateTime, restored.UpdateTime = now, now
		survivor, restored = sorted(survivor), sorted(restored)
		return split, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Profile{}, Profile{}, notFound("no profile named profiles/%s", id)
	case err != nil:
		return Profile{}, Profile{}, err
	}
	g.count(ctx, "unmerged")
	return survivor, restored, nil
}

// restoreTraits returns the traits of survivor s after undoing merge m,
// their sources and the changes: a trait that still has the merged
// profile's value goes back to the value it had before the merge, or away
// if it had none; traits changed since stay. Without a record of the traits
// before (merges logged before it was kept) the traits stay as they are.
func restoreTraits(s Profile, merged map[string]any, m Merge, at time.Time) (map[string]any, map[string]TraitSource, []TraitChange) {
	edit := newTraitEdit(s.Traits, s.Sources, "", at)
	if m.SurvivorTraits != nil {
		for k, v := range merged {
			if cur, ok := s.Traits[k]; !ok || !reflect.DeepEqual(cur, v) {
				continue
			}
			old, had := m.SurvivorTraits[k]
			if !had {
				edit.remove(k, OpUnmerge)
				continue
			}
			before, ok := m.SurvivorSources[k]
			if !ok {
				before = TraitSource{SetTime: at}
			}
			edit.put(k, old, OpUnmerge, before.Once, before.SetTime)
		}
	}
	return edit.finish(s.ID)
}

// Policy returns the merge rules the graph runs with.
func (g *Graph) Policy() *Policy { return g.policy }

// MergeProfiles merges the profiles holding a and b on an operator's
// request, for reason. The older survives, as in automatic merges. It
// returns the survivor and the merge, or nil when a and b already share a
// profile. Profiles of two different user ids never merge.
func (g *Graph) MergeProfiles(ctx context.Context, a, b Identifier, reason string) (Profile, *Merge, error) {
	return g.mergePair(ctx, a, b, RuleManual, "manual merge: "+reason, nil)
}

// mergePair merges the profiles holding a and b under rule, for reason,
// after check (when not nil) accepts the two locked profiles.
func (g *Graph) mergePair(ctx context.Context, a, b Identifier, rule, reason string, check func(a, b Profile) error) (Profile, *Merge, error) {
	var (
		result Profile
		merge  *Merge
	)
	err := g.store.Resolve(ctx, []Identifier{a, b}, func(holders []Profile) (Change, error) {
		result, merge = Profile{}, nil
		holderOf := map[Identifier]*Profile{}
		for i := range holders {
			for _, id := range holders[i].Identifiers {
				holderOf[id] = &holders[i]
			}
		}
		for _, id := range []Identifier{a, b} {
			if holderOf[id] == nil {
				return Change{}, notFound("no profile holds %s", id)
			}
		}
		pa, pb := holderOf[a], holderOf[b]
		if pa.ID == pb.ID {
			result = sorted(pa.Clone())
			return Change{}, nil
		}
		if ua, ub := pa.UserID(), pb.UserID(); ua != "" && ub != "" {
			return Change{}, fmt.Errorf("%w: %s and %s belong to different user ids (%s, %s); a profile is one user", ErrConflict, a, b, ua, ub)
		}
		if check != nil {
			if err := check(*pa, *pb); err != nil {
				return Change{}, err
			}
		}
		now := g.clock()
		group := []*Profile{pa, pb}
		slices.SortFunc(group, func(x, y *Profile) int {
			return cmp.Or(x.CreateTime.Compare(y.CreateTime), strings.Compare(x.ID, y.ID))
		})
		survivor, absorbed := group[0], group[1]
		byUpdate := slices.Clone(group)
		slices.SortStableFunc(byUpdate, func(x, y *Profile) int { return x.UpdateTime.Compare(y.UpdateTime) })
		edit := newTraitEdit(survivor.Traits, survivor.Sources, "", now)
		edit.merge(survivor.ID, byUpdate)
		traits, sources, changes := edit.finish(survivor.ID)
		merge = &Merge{
			Survivor:        survivor.ID,
			Merged:          absorbed.ID,
			Rule:            rule,
			Reason:          reason,
			Trigger:         []Identifier{a, b},
			Identifiers:     slices.Clone(absorbed.Identifiers),
			Time:            now,
			ObserveTime:     now,
			SurvivorTraits:  maps.Clone(survivor.Traits),
			SurvivorSources: survivorSources(survivor),
		}
		result = survivor.Clone()
		result.Traits = traits
		result.Sources = maps.Clone(sources)
		result.Identifiers = append(result.Identifiers, absorbed.Identifiers...)
		if result.Links == nil {
			result.Links = map[Identifier]Link{}
		}
		maps.Copy(result.Links, absorbed.Links)
		result.UpdateTime = now
		result = sorted(result)
		return Change{
			Update: &Update{
				ProfileID: survivor.ID,
				Merges:    []Merge{*merge},
				Traits:    maps.Clone(traits),
				Sources:   maps.Clone(sources),
				Time:      now,
			},
			ObserveTime:  now,
			TraitChanges: changes,
		}, nil
	})
	if err != nil {
		return Profile{}, nil, err
	}
	if merge != nil {
		g.count(ctx, "merged")
	}
	return result, merge, nil
}

// Decide applies the merge rules to req given the live profiles that hold
// any of its identifiers, and returns the outcome and the change to store.
// It is pure: newID is called only when a profile is to be created. req's
// identifiers must not be blocked (Graph.Resolve drops those first).
//
// Identifiers are taken in the policy's priority order (request order among
// equals). A shared identifier is skipped. Each other identifier brings its
// holder profile, or itself when nobody holds it, into the group the
// identifiers resolve to, unless that would break a limit (such as a second
// user id): then it is dropped from the call and reported, and a held one
// stays where it is. A dropped identifier of a shared type whose holder has
// a different user id than the group becomes shared. The group's profiles
// merge into the oldest; the unheld identifiers are linked to it; with no
// profile in the group, a new profile is created for them. A call that
// carries only shared identifiers resolves to the holder of the first and
// changes nothing.
func (p *Policy) Decide(req Request, holders []Profile, now time.Time, newID func() string) (Resolution, Change) {
	holderOf := map[Identifier]*Profile{}
	for i := range holders {
		for _, id := range holders[i].Identifiers {
			holderOf[id] = &holders[i]
		}
	}
	ordered := slices.Clone(req.Identifiers)
	slices.SortStableFunc(ordered, func(a, b Identifier) int { return p.Rank(a.Type) - p.Rank(b.Type) })

	var (
		group    []*Profile
		inGroup  = map[string]bool{}
		have     = map[Identifier]time.Time{}
		link     []Identifier
		joined   []Identifier
		ignored  []Ignored
		dropped  []Identifier
		onShared *Profile
	)
	for _, id := range ordered {
		h := holderOf[id]
		if h != nil && h.Links[id].Shared {
			ignored = append(ignored, Ignored{Identifier: id, Rule: RuleShared, Reason: "seen with several user ids; it no longer resolves"})
			if onShared == nil {
				onShared = h
			}
			continue
		}
		if h != nil && inGroup[h.ID] {
			joined = append(joined, id)
			continue
		}
		add := map[Identifier]time.Time{id: req.ObserveTime}
		if h != nil {
			add = seenTimes(h)
		}
		if l := p.exceeds(have, add, req.ObserveTime); l != nil {
			ignored = append(ignored, Ignored{Identifier: id, Rule: RuleLimit, Reason: "a profile holds " + l.describe()})
			dropped = append(dropped, id)
			continue
		}
		maps.Copy(have, add)
		joined = append(joined, id)
		if h == nil {
			link = append(link, id)
			continue
		}
		group = append(group, h)
		inGroup[h.ID] = true
	}
	userID := ""
	for id := range have {
		if id.Type == ident.UserID {
			userID = id.Value
		}
	}
	var share []Identifier
	for _, id := range dropped {
		if h := holderOf[id]; h != nil && p.shared[id.Type] && userID != "" && h.UserID() != "" && h.UserID() != userID {
			share = append(share, id)
			for i := range ignored {
				if ignored[i].Identifier == id {
					ignored[i] = Ignored{Identifier: id, Rule: RuleShared, Reason: "held by another user's profile; now shared and no longer resolves"}
				}
			}
		}
	}

	if len(group) == 0 && len(link) == 0 {
		// Only shared identifiers: attribute the call to the first holder.
		res := Resolution{Profile: sorted(onShared.Clone()), Ignored: ignored}
		return res, Change{}
	}
	if len(group) == 0 {
		pr := Profile{
			ID:          newID(),
			Identifiers: link,
			CreateTime:  now,
			UpdateTime:  now,
			Links:       newLinks(link, req.ObserveTime),
		}
		edit := newTraitEdit(nil, nil, req.Source, req.ObserveTime)
		edit.apply(req.Traits, req.TraitsSetOnce)
		var changes []TraitChange
		pr.Traits, pr.Sources, changes = edit.finish(pr.ID)
		pr = sorted(pr)
		return Resolution{Profile: pr.Clone(), Created: true, Ignored: ignored},
			Change{Create: &pr, ObserveTime: req.ObserveTime, Share: share, TraitChanges: changes}
	}

	// The oldest profile survives; on conflicting traits, the most recently
	// updated profile's value wins (but a set-once trait keeps the value set
	// earliest), and the request's values win over all.
	slices.SortFunc(group, func(a, b *Profile) int {
		return cmp.Or(a.CreateTime.Compare(b.CreateTime), strings.Compare(a.ID, b.ID))
	})
	survivor := group[0]
	byUpdate := slices.Clone(group)
	slices.SortStableFunc(byUpdate, func(a, b *Profile) int { return a.UpdateTime.Compare(b.UpdateTime) })
	edit := newTraitEdit(survivor.Traits, survivor.Sources, req.Source, req.ObserveTime)
	edit.merge(survivor.ID, byUpdate)
	edit.apply(req.Traits, req.TraitsSetOnce)
	traits, sources, changes := edit.finish(survivor.ID)

	result := survivor.Clone()
	result.Traits = traits
	result.Sources = maps.Clone(sources)
	result.Identifiers = append(result.Identifiers, link...)
	if result.Links == nil {
		result.Links = map[Identifier]Link{}
	}
	maps.Copy(result.Links, newLinks(link, req.ObserveTime))
	var merges []Merge
	var merged []string
	reason := ReasonSeenTogether + ": " + joinIDs(joined)
	for _, g := range group[1:] {
		merges = append(merges, Merge{
			Survivor:    survivor.ID,
			Merged:      g.ID,
			Rule:        RuleSeenTogether,
			Reason:      reason,
			Trigger:     slices.Clone(joined),
			Identifiers: slices.Clone(g.Identifiers),
			Time:        now,
			ObserveTime: req.ObserveTime,
			// Each merge records the survivor's traits before this call,
			// so that undoing any of them restores those.
			SurvivorTraits:  maps.Clone(survivor.Traits),
			SurvivorSources: survivorSources(survivor),
		})
		merged = append(merged, g.ID)
		result.Identifiers = append(result.Identifiers, g.Identifiers...)
		maps.Copy(result.Links, g.Links)
	}
	res := Resolution{Merged: merged, Ignored: ignored}
	if len(link) == 0 && len(merges) == 0 && len(share) == 0 && len(changes) == 0 {
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
			Sources:   maps.Clone(sources),
			Time:      now,
		},
		ObserveTime:  req.ObserveTime,
		Share:        share,
		TraitChanges: changes,
	}
}

// seenTimes returns when each of p's identifiers was first seen.
func seenTimes(p *Profile) map[Identifier]time.Time {
	out := make(map[Identifier]time.Time, len(p.Identifiers))
	for _, id := range p.Identifiers {
		out[id] = p.Links[id].ObserveTime
	}
	return out
}

func newLinks(ids []Identifier, observed time.Time) map[Identifier]Link {
	out := make(map[Identifier]Link, len(ids))
	for _, id := range ids {
		out[id] = Link{ObserveTime: observed}
	}
	return out
}

// survivorSources returns the sources of p's traits, to record with a
// merge: never nil, so that an unmerge can tell recorded from missing.
func survivorSources(p *Profile) map[string]TraitSource {
	if p.Sources == nil {
		return map[string]TraitSource{}
	}
	return maps.Clone(p.Sources)
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
