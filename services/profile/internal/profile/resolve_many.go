package profile

import (
	"context"
	"errors"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// ResolveCall is one resolution of ManyResolver.ResolveMany: Store.Resolve's
// identifiers and decide function.
type ResolveCall struct {
	IDs    []Identifier
	Decide func(holders []Profile) (Change, error)
}

// ErrEntangled is the error of a call of ResolveMany whose identifiers'
// holders, once locked, include a profile that an earlier call of the same
// transaction holds: the call is not applied, and must be resolved on its
// own.
var ErrEntangled = errors.New("the identifiers' profile is changed by another resolution of the same transaction")

// ManyResolver is a Store that applies many resolutions in one transaction.
type ManyResolver interface {
	// ResolveMany is Resolve for each call, in order, in one atomic
	// transaction: one round of locks and one commit for them all. The
	// calls must share no identifier. A call whose locked holders overlap
	// an earlier call's (ErrEntangled), or whose Decide fails, is not
	// applied; errs holds its error. err fails every call.
	ResolveMany(ctx context.Context, calls []ResolveCall) (errs []error, err error)
}

// resolution is one request on its way through resolveAll.
type resolution struct {
	req      Request
	blocked  []Ignored
	invalid  *apierror.InvalidError
	snapshot []Profile
	res      Resolution
	change   Change
	locked   []Profile
}

// resolveAll resolves each of reqs as Resolve does, for requests that share
// no identifier and, in the holders read first, no profile: one snapshot
// read of the holders serves them all, and the changes are applied in one
// transaction (when the store is a ManyResolver) instead of one each, which
// is what creating the profiles of many new visitors costs. holders is a
// snapshot of the holders of reqs' identifiers already read (ResolveBatch
// has one), or nil to read it.
func (g *Graph) resolveAll(ctx context.Context, reqs []Request, holders []Profile) []BatchResult {
	out := make([]BatchResult, len(reqs))
	rs := make([]*resolution, len(reqs))
	var all []Identifier
	for i, req := range reqs {
		req, blocked, invalid, err := g.check(req)
		if err != nil {
			out[i].Err = err
			continue
		}
		rs[i] = &resolution{req: req, blocked: blocked, invalid: invalid}
		all = append(all, req.Identifiers...)
	}
	if len(all) == 0 {
		return out
	}
	if holders == nil {
		var err error
		if holders, err = g.store.Holders(ctx, all); err != nil {
			for i, r := range rs {
				if r != nil {
					out[i].Err = err
				}
			}
			return out
		}
	}
	for _, r := range rs {
		if r != nil {
			r.snapshot = HoldersOf(r.req.Identifiers, holders)
		}
	}
	if err := g.screen(ctx, rs); err != nil {
		for i, r := range rs {
			if r != nil {
				out[i].Err = err
			}
		}
		return out
	}
	var changing []int
	for i, r := range rs {
		if r == nil {
			continue
		}
		if len(r.req.Identifiers) == 0 {
			out[i].Err = r.invalid
			continue
		}
		mine := r.snapshot
		r.res, r.change = g.policy.Decide(r.req, mine, g.clock(), r.req.newIDFor())
		if r.change.Create == nil && r.change.Update == nil {
			r.locked = mine
			out[i].Resolution = g.finish(ctx, r)
			continue
		}
		changing = append(changing, i)
	}
	g.applyAll(ctx, rs, changing, out)
	return out
}

// applyAll applies the changes of rs[i] for each i in idx, deciding each
// again on its locked holders, in one transaction when the store can.
func (g *Graph) applyAll(ctx context.Context, rs []*resolution, idx []int, out []BatchResult) {
	many, ok := g.store.(ManyResolver)
	if !ok || len(idx) < 2 {
		for _, i := range idx {
			g.applyOne(ctx, rs[i], &out[i])
		}
		return
	}
	calls := make([]ResolveCall, len(idx))
	for k, i := range idx {
		calls[k] = ResolveCall{IDs: rs[i].req.Identifiers, Decide: g.decider(rs[i])}
	}
	errs, err := many.ResolveMany(ctx, calls)
	for k, i := range idx {
		switch {
		case err != nil || errors.Is(errs[k], ErrEntangled):
			// On their own, the others' failure or changes no longer
			// stand in their way.
			g.applyOne(ctx, rs[i], &out[i])
		case errs[k] != nil:
			out[i].Err = errs[k]
		default:
			out[i].Resolution = g.finish(ctx, rs[i])
		}
	}
}

// applyOne applies r's change in a transaction of its own.
func (g *Graph) applyOne(ctx context.Context, r *resolution, out *BatchResult) {
	if err := g.store.Resolve(ctx, r.req.Identifiers, g.decider(r)); err != nil {
		out.Err = err
		return
	}
	out.Resolution = g.finish(ctx, r)
}

// decider returns the decide function of r for the store: the decision
// taken again on the locked holders, unless a holder of the snapshot lost
// its identifiers to an erasure meanwhile.
func (g *Graph) decider(r *resolution) func([]Profile) (Change, error) {
	return func(holders []Profile) (Change, error) {
		if err := vanished(r.req.Identifiers, r.snapshot, holders); err != nil {
			return Change{}, err
		}
		// The clock is read under the locks, so that a profile's update
		// time never goes back.
		r.res, r.change = g.policy.Decide(r.req, holders, g.clock(), r.req.newIDFor())
		r.locked = holders
		return r.change, nil
	}
}

// finish counts r's outcome, records what its rules refused, and returns
// its resolution with every identifier ignored along the way.
func (g *Graph) finish(ctx context.Context, r *resolution) Resolution {
	g.count(ctx, outcome(r.change))
	g.noteRefusals(ctx, r.res, r.locked, r.req.ObserveTime)
	res := r.res
	res.Ignored = append(r.blocked, res.Ignored...)
	return res
}

// HoldersOf returns the profiles of holders that hold one of ids.
func HoldersOf(ids []Identifier, holders []Profile) []Profile {
	want := make(map[Identifier]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var mine []Profile
	for _, p := range holders {
		for _, id := range p.Identifiers {
			if want[id] {
				mine = append(mine, p)
				break
			}
		}
	}
	return mine
}
