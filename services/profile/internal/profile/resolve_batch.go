package profile

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Limits of ResolveBatch.
const (
	// MaxResolveBatch is the most requests one ResolveBatch call takes.
	MaxResolveBatch = 1000
	// resolveBatchParallelism bounds the changing resolutions of one batch
	// that run at once.
	resolveBatchParallelism = 8
	// resolveTogether bounds the unrelated changing resolutions of a batch
	// that are applied in one transaction.
	resolveTogether = 100
)

// BatchResult is the outcome of one request of ResolveBatch: what Resolve
// would have returned for it.
type BatchResult struct {
	Resolution Resolution
	Err        error
}

// ResolveBatch resolves reqs with the results of calling Resolve for each of
// them one after the other, in order, and returns one BatchResult per
// request; a request that fails does not fail the others. The error is for
// the call as a whole: nothing was resolved.
//
// Most requests of a batch change nothing (known visitors' next events), so
// ResolveBatch reads the holders of all the batch's identifiers in one
// lock-free snapshot and decides every request on it. A request whose
// decision changes nothing, and that shares no identifier and no profile
// with an earlier request that changes something, is answered from the
// snapshot, exactly as Resolve answers it from its own snapshot. The others
// go through Resolve (see resolveInOrder): in batch order within each part
// of the graph they touch, so that requests that join or merge profiles
// apply as one by one, while unrelated parts run in parallel.
func (g *Graph) ResolveBatch(ctx context.Context, reqs []Request) ([]BatchResult, error) {
	if len(reqs) > MaxResolveBatch {
		return nil, apierror.Invalid("requests", "at most %d requests can be resolved together, got %d", MaxResolveBatch, len(reqs))
	}
	out := make([]BatchResult, len(reqs))
	checked := make([]Request, len(reqs))
	blocked := make([][]Ignored, len(reqs))
	valid := make([]bool, len(reqs))
	var all []Identifier
	seen := map[Identifier]bool{}
	for i, req := range reqs {
		var err error
		if checked[i], blocked[i], _, err = g.check(req); err != nil {
			out[i].Err = err
			continue
		}
		valid[i] = true
		for _, id := range checked[i].Identifiers {
			if !seen[id] {
				seen[id] = true
				all = append(all, id)
			}
		}
	}
	if len(all) == 0 {
		return out, nil
	}
	holders, err := g.store.Holders(ctx, all)
	if err != nil {
		return nil, err
	}
	if holders == nil {
		holders = []Profile{} // read: none held
	}
	holderOf := make(map[Identifier]int, len(all))
	for k := range holders {
		for _, id := range holders[k].Identifiers {
			holderOf[id] = k
		}
	}

	// Decide on the snapshot, in order; dirty holds the identifiers and
	// profiles of the requests that must go through Resolve.
	now := g.clock()
	dirty := map[string]bool{}
	var slow []int
	var keys [][]string
	for i, req := range checked {
		if !valid[i] {
			continue
		}
		var mine []Profile
		var touched []string
		taken := map[int]bool{}
		dependent := false
		for _, id := range req.Identifiers {
			key := "identifier\x00" + id.String()
			touched = append(touched, key)
			dependent = dependent || dirty[key]
			if k, ok := holderOf[id]; ok && !taken[k] {
				taken[k] = true
				mine = append(mine, holders[k])
				key := "profile\x00" + holders[k].ID
				touched = append(touched, key)
				dependent = dependent || dirty[key]
			}
		}
		if !dependent {
			res, change := g.policy.Decide(req, mine, now, newID)
			if change.Create == nil && change.Update == nil {
				g.count(ctx, "unchanged")
				g.noteRefusals(ctx, res, mine, req.ObserveTime)
				res.Ignored = append(blocked[i], res.Ignored...)
				out[i].Resolution = res
				continue
			}
		}
		for _, key := range touched {
			dirty[key] = true
		}
		slow = append(slow, i)
		keys = append(keys, touched)
	}
	// Profiles the slow requests create get their ids now, in batch order.
	withIDs := slices.Clone(reqs)
	for _, i := range slow {
		withIDs[i].id = newID()
	}
	g.resolveInOrder(ctx, withIDs, slow, keys, holders, out)
	return out, nil
}

// resolveInOrder runs Resolve for reqs[idx[k]] in order, except that
// requests in unrelated parts of the graph run in parallel, at most
// resolveBatchParallelism at once, and requests related to no other are
// resolved together (resolveAll), from holders, the batch's snapshot.
//
// Two requests are related when they share a key (an identifier or a
// snapshot holder), or are both related to a third. The relation is taken
// over the whole batch before anything runs: a request that joins two
// parts of the graph puts every earlier request of both parts in one
// chain, run in batch order, so that the profiles they create are as old,
// relative to each other, as one-by-one resolution makes them, and the
// join picks the same survivor.
func (g *Graph) resolveInOrder(ctx context.Context, reqs []Request, idx []int, keys [][]string, holders []Profile, out []BatchResult) {
	parent := map[string]string{}
	var find func(string) string
	find = func(k string) string {
		p, ok := parent[k]
		if !ok || p == k {
			return k
		}
		root := find(p)
		parent[k] = root
		return root
	}
	for k := range idx {
		for _, key := range keys[k][min(1, len(keys[k])):] {
			if a, b := find(keys[k][0]), find(key); a != b {
				parent[b] = a
			}
		}
	}
	chains := make([]string, len(idx))
	size := map[string]int{}
	for k, i := range idx {
		chains[k] = "request\x00" + strconv.Itoa(i)
		if len(keys[k]) > 0 {
			chains[k] = find(keys[k][0])
		}
		size[chains[k]]++
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, resolveBatchParallelism)
	// Requests related to no other (new visitors, most often) are resolved
	// together, resolveTogether at a time: one transaction for many.
	var alone []int
	for k, i := range idx {
		if size[chains[k]] == 1 {
			alone = append(alone, i)
		}
	}
	for chunk := range slices.Chunk(alone, resolveTogether) {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			group := make([]Request, len(chunk))
			for j, i := range chunk {
				group[j] = reqs[i]
			}
			for j, r := range g.resolveAll(ctx, group, holders) {
				out[chunk[j]] = r
			}
		})
	}
	last := map[string]chan struct{}{}
	for k, i := range idx {
		chain := chains[k]
		if size[chain] == 1 {
			continue
		}
		prev := last[chain]
		done := make(chan struct{})
		last[chain] = done
		wg.Go(func() {
			defer close(done)
			if prev != nil {
				<-prev
			}
			slots <- struct{}{}
			defer func() { <-slots }()
			out[i].Resolution, out[i].Err = g.Resolve(ctx, reqs[i])
		})
	}
	wg.Wait()
}
