package event

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits of group commit.
const (
	// MaxGroupCommit bounds the events of concurrent Commit calls that are
	// appended in one transaction.
	MaxGroupCommit = 10000
	// groupCommitTimeout bounds one shared append: it runs detached from the
	// caller that happens to lead it, as it carries other callers' events.
	groupCommitTimeout = time.Minute
)

// groupCommit merges the appends of concurrent callers into shared
// transactions. Appends are serialized by the store anyway (sequence order
// must equal commit order), so while one transaction runs, the batches that
// arrive wait; the next transaction then carries all of them, in arrival
// order, and pays one round trip and one WAL flush instead of one each.
//
// The first caller to find no transaction running leads: it appends what
// is pending, hands the results out, and passes the lead to the oldest
// waiting caller, so no caller commits other callers' work for ever. A
// caller waits for the transaction that carries its events even when its
// context ends meanwhile: the events may be committed, and its answer must
// say so.
type groupCommit struct {
	store Store

	mu      sync.Mutex
	running bool
	pending []*appendCall
}

// appendCall is one caller's batch waiting for a shared append.
type appendCall struct {
	events []Event
	lead   chan struct{}
	done   chan struct{}
	out    []Appended
	err    error
}

// append appends events, possibly in one transaction with other callers'
// events, and returns when that transaction ended.
func (g *groupCommit) append(ctx context.Context, events []Event) ([]Appended, error) {
	call := &appendCall{events: events, lead: make(chan struct{}), done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, call)
	if g.running {
		g.mu.Unlock()
		select {
		case <-call.done:
			return call.out, call.err
		case <-call.lead:
		}
	} else {
		g.running = true
		g.mu.Unlock()
	}

	// This caller leads one round: the oldest pending calls, up to the limit.
	g.mu.Lock()
	round, size := 0, 0
	for round < len(g.pending) && (round == 0 || size+len(g.pending[round].events) <= MaxGroupCommit) {
		size += len(g.pending[round].events)
		round++
	}
	calls := g.pending[:round:round]
	g.pending = g.pending[round:]
	g.mu.Unlock()

	g.run(ctx, calls, size)

	g.mu.Lock()
	if len(g.pending) > 0 {
		close(g.pending[0].lead)
	} else {
		g.running = false
	}
	g.mu.Unlock()
	<-call.done
	return call.out, call.err
}

// run appends the events of calls in one transaction and completes them.
func (g *groupCommit) run(ctx context.Context, calls []*appendCall, size int) {
	batch := make([]Event, 0, size)
	for _, c := range calls {
		batch = append(batch, c.events...)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupCommitTimeout)
	defer cancel()
	out, err := g.appendChecked(actx, batch)
	if errors.Is(err, ErrProfileErased) && len(calls) > 1 {
		// Only the calls with events of the erased profile must be
		// resolved again: the others are appended on their own.
		for _, c := range calls {
			c.out, c.err = g.appendChecked(actx, c.events)
			close(c.done)
		}
		return
	}
	off := 0
	for _, c := range calls {
		n := len(c.events)
		if err != nil {
			c.err = err
		} else {
			c.out = out[off : off+n : off+n]
		}
		off += n
		close(c.done)
	}
}

// appendChecked appends events and checks that the store answered each.
func (g *groupCommit) appendChecked(ctx context.Context, events []Event) ([]Appended, error) {
	out, err := g.store.Append(ctx, events)
	if err == nil && len(out) != len(events) {
		err = fmt.Errorf("store appended %d of %d events", len(out), len(events))
	}
	return out, err
}

// waiting returns how many calls wait for a shared append.
func (g *groupCommit) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}
