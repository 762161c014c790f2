package profile

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"time"
)

// Operations that change traits, as recorded in TraitSource and
// TraitChange.
const (
	// OpSet sets a trait from a request's traits.
	OpSet = "set"
	// OpSetOnce sets a trait the profile had no value for, from a
	// request's set-once traits.
	OpSetOnce = "set_once"
	// OpUnset removes a trait (a null value in a request's traits).
	OpUnset = "unset"
	// OpMerge takes a trait's value from a profile merged in.
	OpMerge = "merge"
	// OpUnmerge restores a trait's value from before a merge that is
	// undone.
	OpUnmerge = "unmerge"
)

// TraitSource is where the current value of one trait comes from.
type TraitSource struct {
	// Operation is how the trait last changed: OpSet, OpSetOnce, OpMerge
	// or OpUnmerge.
	Operation string
	// Source is the message id of the event that carried the change; ""
	// when none did.
	Source string
	// Time is when it changed: the observe time of the call.
	Time time.Time
	// Once reports that the value was set by a set-once, here or on a
	// profile merged in since.
	Once bool
	// SetTime is when the value was first set, on whichever profile: merges
	// replay a set-once trait's values in the order of their SetTime.
	SetTime time.Time
}

// TraitChange is one recorded change of one trait of a profile.
type TraitChange struct {
	// Seq orders the changes of all profiles: it grows with every change.
	Seq int64
	// Profile is the id of the profile whose trait changed.
	Profile string
	// Key is the trait's key.
	Key string
	// Value is the new value, as decoded JSON; nil when the trait was
	// removed.
	Value any
	// Operation is OpSet, OpSetOnce, OpUnset, OpMerge or OpUnmerge.
	Operation string
	// Source is the message id of the event that carried the change; ""
	// when none did.
	Source string
	// Time is when it changed: the observe time of the call.
	Time time.Time
}

// TraitStore reads the recorded trait changes; stores record them with the
// changes (Change.TraitChanges, Split.TraitChanges), in the same
// transaction.
type TraitStore interface {
	// TraitChanges returns at most limit changes with Seq less than before
	// (any when before is 0) of the traits of the live profile that id is
	// or was merged into and of the profiles merged into it, only those of
	// key unless key is "", newest first. It wraps ErrNotFound for unknown
	// ids.
	TraitChanges(ctx context.Context, id, key string, before int64, limit int) ([]TraitChange, error)
}

// ListTraitChanges returns at most limit trait changes of the person whose
// live profile id is or was merged into (of key only, unless key is ""),
// older than the change with Seq before (0 for the newest), newest first,
// and the Seq to pass as before for the next page (0 on the last page).
func (g *Graph) ListTraitChanges(ctx context.Context, id, key string, before int64, limit int) ([]TraitChange, int64, error) {
	changes, err := g.store.TraitChanges(ctx, id, key, before, limit+1)
	if errors.Is(err, ErrNotFound) {
		return nil, 0, notFound("no profile named profiles/%s", id)
	}
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(changes) > limit {
		changes = changes[:limit]
		next = changes[limit-1].Seq
	}
	return changes, next, nil
}

// AllTraitChanges returns every trait change of the person whose live
// profile id is or was merged into, newest first.
func (g *Graph) AllTraitChanges(ctx context.Context, id string) ([]TraitChange, error) {
	var all []TraitChange
	for before := int64(0); ; {
		page, next, err := g.ListTraitChanges(ctx, id, "", before, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == 0 {
			return all, nil
		}
		before = next
	}
}

// traitEdit works out what one change does to a profile's traits: their
// values and sources after it, and a TraitChange for each trait whose
// value differs from before.
type traitEdit struct {
	before        map[string]any
	beforeSources map[string]TraitSource
	traits        map[string]any
	sources       map[string]TraitSource
	ops           map[string]string
	source        string
	at            time.Time
}

// newTraitEdit starts an edit of traits with sources, made by the event
// source (or "") observed at at.
func newTraitEdit(traits map[string]any, sources map[string]TraitSource, source string, at time.Time) *traitEdit {
	return &traitEdit{
		before:        traits,
		beforeSources: sources,
		traits:        cloneTraits(traits),
		sources:       maps.Clone(sources),
		ops:           map[string]string{},
		source:        source,
		at:            at,
	}
}

// put sets trait k to v by op; once and setTime carry over to its source.
func (e *traitEdit) put(k string, v any, op string, once bool, setTime time.Time) {
	e.traits[k] = v
	if e.sources == nil {
		e.sources = map[string]TraitSource{}
	}
	e.sources[k] = TraitSource{Operation: op, Source: e.source, Time: e.at, Once: once, SetTime: setTime}
	e.ops[k] = op
}

// remove removes trait k by op.
func (e *traitEdit) remove(k, op string) {
	delete(e.traits, k)
	delete(e.sources, k)
	e.ops[k] = op
}

// merge takes into the edited profile (the survivor, one of profiles) the
// traits of profiles, given oldest update first. On a conflict the most
// recently updated profile's value wins, except for a trait set-once on
// any of them: its values are replayed in the order they were set, so the
// earliest value stays unless a plain set came after it, as when the
// events reach one profile.
func (e *traitEdit) merge(survivor string, profiles []*Profile) {
	winner := map[string]*Profile{}
	for _, p := range profiles {
		for k := range p.Traits {
			winner[k] = p
		}
	}
	for k := range winner {
		if !onceAnywhere(k, profiles) {
			continue
		}
		// Replay the sides' values in the order they were set, as if the
		// events had reached one profile: a set-once value takes only
		// where no value was set before it; a plain set replaces.
		var holders []*Profile
		for _, p := range profiles {
			if _, ok := p.Traits[k]; ok {
				holders = append(holders, p)
			}
		}
		slices.SortStableFunc(holders, func(a, b *Profile) int { return sourceOf(a, k).SetTime.Compare(sourceOf(b, k).SetTime) })
		w := holders[0]
		for _, p := range holders[1:] {
			if !sourceOf(p, k).Once {
				w = p
			}
		}
		winner[k] = w
	}
	for _, k := range slices.Sorted(maps.Keys(winner)) {
		w := winner[k]
		if w.ID == survivor {
			continue
		}
		if cur, ok := e.traits[k]; ok && reflect.DeepEqual(cur, w.Traits[k]) {
			continue
		}
		src := sourceOf(w, k)
		e.put(k, w.Traits[k], OpMerge, src.Once, src.SetTime)
	}
}

// onceAnywhere reports whether trait k was set-once on any of profiles.
func onceAnywhere(k string, profiles []*Profile) bool {
	for _, p := range profiles {
		if _, ok := p.Traits[k]; ok && p.Sources[k].Once {
			return true
		}
	}
	return false
}

// sourceOf returns the source of p's trait k. A trait set before sources
// were kept counts as set, not set-once, when p last changed.
func sourceOf(p *Profile, k string) TraitSource {
	if src, ok := p.Sources[k]; ok {
		return src
	}
	return TraitSource{Operation: OpSet, Time: p.UpdateTime, SetTime: p.UpdateTime}
}

// apply applies a request's traits (a nil value removes the trait) and
// set-once traits (set where there is no value yet, unless set also sets
// the key; nil values are ignored).
func (e *traitEdit) apply(set, setOnce map[string]any) {
	for k, v := range set {
		switch _, has := e.traits[k]; {
		case v == nil && has:
			e.remove(k, OpUnset)
		case v != nil:
			e.put(k, v, OpSet, false, e.at)
		}
	}
	for k, v := range setOnce {
		if _, both := set[k]; both || v == nil {
			continue
		}
		if _, has := e.traits[k]; !has {
			e.put(k, v, OpSetOnce, true, e.at)
		}
	}
}

// finish returns the traits and sources after the edit and the changes of
// profile id's traits, in key order. A trait whose value ends as it began
// keeps its source and records no change.
func (e *traitEdit) finish(id string) (map[string]any, map[string]TraitSource, []TraitChange) {
	var changes []TraitChange
	for _, k := range slices.Sorted(maps.Keys(e.ops)) {
		old, had := e.before[k]
		cur, has := e.traits[k]
		if had == has && reflect.DeepEqual(old, cur) {
			if src, ok := e.beforeSources[k]; ok {
				e.sources[k] = src
			} else {
				delete(e.sources, k)
			}
			continue
		}
		changes = append(changes, TraitChange{Profile: id, Key: k, Value: cur, Operation: e.ops[k], Source: e.source, Time: e.at})
	}
	if len(e.sources) == 0 {
		e.sources = nil
	}
	return e.traits, e.sources, changes
}

func cloneTraits(traits map[string]any) map[string]any {
	out := make(map[string]any, len(traits))
	maps.Copy(out, traits)
	return out
}
