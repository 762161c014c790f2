package profile

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Refusal is a join of two live profiles that the merge rules refused: an
// event carried identifiers of both, and the rules ignored the identifier of
// Other (a limit, or shared-device protection) instead of merging. The graph
// keeps them so that a dry run of new rules can count the merges those
// rules would make.
type Refusal struct {
	// Profile is the profile the event resolved to; Other holds the
	// ignored identifier.
	Profile, Other string
	// Rule is the rule that refused: RuleLimit or RuleShared.
	Rule string
	// Type is the type of the ignored identifier (its value is not kept:
	// the refusal must hold nothing personal).
	Type string
	// Time is when the join was first refused.
	Time time.Time
}

// RefusalStore keeps refused joins.
type RefusalStore interface {
	// AddRefusals stores refusals; one already stored for the same profiles
	// and rule is left as it is, and one naming a profile that no longer
	// exists is dropped. Erasing a profile deletes the refusals naming it.
	AddRefusals(ctx context.Context, refusals []Refusal) error
	// Refusals returns up to limit refusals after the one with the given
	// position (0 for the first), in the order they were stored, and the
	// position of the last one returned.
	Refusals(ctx context.Context, after int64, limit int) ([]Refusal, int64, error)
}

// Refusals returns up to limit refused joins after position after, in the
// order they were recorded, and the position of the last one.
func (g *Graph) Refusals(ctx context.Context, after int64, limit int) ([]Refusal, int64, error) {
	return g.store.Refusals(ctx, after, limit)
}

// refusalCache remembers the refusals recorded by this process, so that a
// person whose events keep carrying a refused identifier costs one write,
// not one per event. It is bounded: when full it starts over, which only
// repeats writes that the store ignores.
type refusalCache struct {
	mu   sync.Mutex
	seen map[[3]string]bool
}

const maxCachedRefusals = 100_000

// noteRefusals records the joins res refused: its ignored identifiers held
// by another live profile among holders. Recording is best effort: a
// failure is logged and never fails the resolution.
func (g *Graph) noteRefusals(ctx context.Context, res Resolution, holders []Profile, at time.Time) {
	// Most resolutions refuse nothing: they cost this loop and no more.
	if !slices.ContainsFunc(res.Ignored, func(ig Ignored) bool { return ig.Rule == RuleLimit || ig.Rule == RuleShared }) {
		return
	}
	holderOf := map[Identifier]string{}
	for _, h := range holders {
		for _, id := range h.Identifiers {
			holderOf[id] = h.ID
		}
	}
	var out []Refusal
	g.refusals.mu.Lock()
	if g.refusals.seen == nil || len(g.refusals.seen) >= maxCachedRefusals {
		g.refusals.seen = map[[3]string]bool{}
	}
	for _, ig := range res.Ignored {
		other := holderOf[ig.Identifier]
		if other == "" || other == res.Profile.ID || (ig.Rule != RuleLimit && ig.Rule != RuleShared) {
			continue
		}
		key := [3]string{res.Profile.ID, other, ig.Rule}
		if g.refusals.seen[key] {
			continue
		}
		g.refusals.seen[key] = true
		out = append(out, Refusal{Profile: res.Profile.ID, Other: other, Rule: ig.Rule, Type: ig.Identifier.Type, Time: at})
	}
	g.refusals.mu.Unlock()
	if len(out) == 0 {
		return
	}
	if err := g.store.AddRefusals(ctx, out); err != nil {
		g.refusals.mu.Lock()
		for _, r := range out {
			delete(g.refusals.seen, [3]string{r.Profile, r.Other, r.Rule})
		}
		g.refusals.mu.Unlock()
		slog.WarnContext(ctx, "recording refused joins failed; the rules dry run may count fewer merges", "error", err)
	}
}

// previewMerges counts the refused joins that next would make: for each
// refusal between two profiles that are still live and apart, it decides
// the join again under next, with both profiles as they are and the
// identifiers of both seen together now. Shared-device marks stay only on
// the types next protects. It returns the joins next would make and the
// profiles they would merge away.
func (g *Graph) previewMerges(ctx context.Context, next *Policy, now time.Time) (joins int, merged []string, err error) {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			parent[x] = find(p)
			return parent[x]
		}
		return x
	}
	for after := int64(0); ; {
		page, last, err := g.store.Refusals(ctx, after, 1000)
		if err != nil {
			return 0, nil, err
		}
		for _, r := range page {
			a, errA := g.store.Get(ctx, r.Profile)
			b, errB := g.store.Get(ctx, r.Other)
			if errA != nil || errB != nil || a.ID == b.ID {
				continue // erased, or merged together since
			}
			holders := []Profile{unshare(a, next), unshare(b, next)}
			req := Request{Identifiers: append(slices.Clone(a.Identifiers), b.Identifiers...), ObserveTime: now}
			_, change := next.Decide(req, holders, now, func() string { return "" })
			if change.Update == nil || len(change.Update.Merges) == 0 {
				continue
			}
			joins++
			for _, m := range change.Update.Merges {
				rs, rm := find(m.Survivor), find(m.Merged)
				if rs != rm {
					parent[rm] = rs
					merged = append(merged, m.Merged)
				}
			}
		}
		if len(page) < 1000 {
			return joins, merged, nil
		}
		after = last
	}
}

// unshare returns p without the shared-device marks of the identifier types
// next does not protect.
func unshare(p Profile, next *Policy) Profile {
	p = p.Clone()
	for id, l := range p.Links {
		if l.Shared && !next.shared[id.Type] {
			l.Shared = false
			p.Links[id] = l
		}
	}
	return p
}
