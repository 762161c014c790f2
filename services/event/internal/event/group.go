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
	// callers, as it carries several callers' events.
	groupCommitTimeout = time.Minute
)

// groupCommit merges the appends of concurrent callers into shared
// transactions. Appends are serialized by the store anyway (sequence order
// must equal commit order), so while one transaction runs, the batches that
// arrive wait; the next transaction then carries all of them, in arrival
// order, and pays one round trip and one WAL flush instead of one each.
//
// The first batch to find no transaction running starts a goroutine that
// appends what is pending, round after round, until nothing is; it runs
// detached from the callers, as each round carries several callers'
// events. A caller waits for the transaction that carries its events even
// when its context ends meanwhile: the events may be committed, and its
// answer must say so.
type groupCommit struct {
	store Store
	// committed, when set, is called after each transaction that stored
	// events.
	committed func()

	mu      sync.Mutex
	running bool
	pending []*appendCall
}

// appendCall is one caller's batch waiting for a shared append.
type appendCall struct {
	events []Event
	done   chan struct{}
	out    []Appended
	err    error
}

// wait returns the outcome of the call once its transaction ended.
func (c *appendCall) wait() ([]Appended, error) {
	<-c.done
	return c.out, c.err
}

// append appends events, possibly in one transaction with other callers'
// events, and returns when that transaction ended.
func (g *groupCommit) append(ctx context.Context, events []Event) ([]Appended, error) {
	return g.submit(ctx, events).wait()
}

// submit queues events for a shared append and returns their call. Calls
// are appended in the order they are submitted.
func (g *groupCommit) submit(ctx context.Context, events []Event) *appendCall {
	call := &appendCall{events: events, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, call)
	start := !g.running
	g.running = true
	g.mu.Unlock()
	if start {
		go g.drain(context.WithoutCancel(ctx))
	}
	return call
}

// drain appends the pending calls, the oldest first and up to
// MaxGroupCommit events a round, until none is left.
func (g *groupCommit) drain(ctx context.Context) {
	for {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		round, size := 0, 0
		for round < len(g.pending) && (round == 0 || size+len(g.pending[round].events) <= MaxGroupCommit) {
			size += len(g.pending[round].events)
			round++
		}
		calls := g.pending[:round:round]
		g.pending = g.pending[round:]
		g.mu.Unlock()
		g.run(ctx, calls, size)
	}
}

// run appends the events of calls in one transaction and completes them.
func (g *groupCommit) run(ctx context.Context, calls []*appendCall, size int) {
	batch := calls[0].events
	if len(calls) > 1 {
		batch = make([]Event, 0, size)
		for _, c := range calls {
			batch = append(batch, c.events...)
		}
	}
	actx, cancel := context.WithTimeout(ctx, groupCommitTimeout)
	defer cancel()
	out, err := g.appendChecked(actx, batch)
	if err == nil && g.committed != nil {
		g.committed()
	}
	if errors.Is(err, ErrProfileErased) && len(calls) > 1 {
		// Only the calls with events of the erased profile must be
		// resolved again: the others are appended on their own.
		for _, c := range calls {
			c.out, c.err = g.appendChecked(actx, c.events)
			if c.err == nil && g.committed != nil {
				g.committed()
			}
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
