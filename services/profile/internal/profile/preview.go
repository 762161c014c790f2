package profile

import (
	"context"
	"maps"
	"slices"
	"time"
)

// Preview is what a change of merge rules would do to the stored graph.
type Preview struct {
	// Profiles is how many live profiles were examined.
	Profiles int
	// Split are the live profiles that the new rules would not have built
	// as they are: they hold an identifier the new rules block or drop for
	// a limit, or absorbed a profile through a merge the new rules refuse.
	Split []string
	// Dropped are the identifiers that the new rules would unlink.
	Dropped []Identifier
	// RefusedMerges are the merges in the log that the new rules refuse.
	RefusedMerges []Merge
	// Joins are the joins the current rules refused that the new rules
	// would make, and Merged the profiles those joins would merge into
	// others.
	Joins  int
	Merged []string
}

// PreviewRules replays the stored graph under next and reports which
// profiles would split, and which would merge: the graph records every join
// of two profiles that a limit or shared-device protection refused, and each
// is decided again under next. It reads every live profile, its merge log
// and the refused joins, and changes nothing. Joins refused because a value
// was blocked cannot be counted: blocked values are never stored.
func (g *Graph) PreviewRules(ctx context.Context, next *Policy) (Preview, error) {
	now := g.clock()
	var out Preview
	after := ""
	for {
		page, err := g.store.List(ctx, after, 1000)
		if err != nil {
			return Preview{}, err
		}
		for _, p := range page {
			out.Profiles++
			dropped := next.dropped(p, now)
			merges, err := g.Merges(ctx, p.ID)
			if err != nil {
				return Preview{}, err
			}
			refused := false
			for _, m := range merges {
				if m.Survivor == p.ID && m.Rule == RuleSeenTogether && next.refuses(p, m, now) {
					out.RefusedMerges = append(out.RefusedMerges, m)
					refused = true
				}
			}
			if len(dropped) > 0 || refused {
				out.Split = append(out.Split, p.ID)
			}
			out.Dropped = append(out.Dropped, dropped...)
		}
		if len(page) < 1000 {
			out.Joins, out.Merged, err = g.previewMerges(ctx, next, now)
			return out, err
		}
		after = page[len(page)-1].ID
	}
}

// dropped returns the identifiers of p that the policy would not keep
// together: blocked ones, and those beyond a limit, taken in priority
// order and counted at the time each was first seen (or now).
func (p *Policy) dropped(pr Profile, now time.Time) []Identifier {
	ids := slices.Clone(pr.Identifiers)
	slices.SortStableFunc(ids, func(a, b Identifier) int { return p.Rank(a.Type) - p.Rank(b.Type) })
	var out []Identifier
	have := map[Identifier]time.Time{}
	for _, id := range ids {
		seen := pr.Links[id].ObserveTime
		if seen.IsZero() {
			seen = now
		}
		if p.Blocked(id) || p.exceeds(have, map[Identifier]time.Time{id: seen}, seen) != nil {
			out = append(out, id)
			continue
		}
		have[id] = seen
	}
	return out
}

// refuses reports whether the policy would refuse merge m into survivor
// pr: every identifier of the merged profile that triggered it is now
// blocked, or the merged identifiers would break a limit of the survivor's
// others.
func (p *Policy) refuses(pr Profile, m Merge, now time.Time) bool {
	moved := map[Identifier]bool{}
	for _, id := range m.Identifiers {
		moved[id] = true
	}
	triggered := len(m.Trigger) == 0 // merges logged before triggers were
	for _, id := range m.Trigger {
		if moved[id] && !p.Blocked(id) {
			triggered = true
		}
	}
	if !triggered {
		return true
	}
	rest, add := map[Identifier]time.Time{}, map[Identifier]time.Time{}
	for id, l := range pr.Links {
		if moved[id] {
			add[id] = l.ObserveTime
		} else {
			rest[id] = l.ObserveTime
		}
	}
	at := m.ObserveTime
	if at.IsZero() {
		at = now
	}
	return len(rest) > 0 && p.exceeds(rest, maps.Clone(add), at) != nil
}
