// Package feed implements Barista's durable delivery pattern, used for the
// event log (event → segment, metrics) and for membership changes (segment →
// metrics, watchers).
//
// The producer keeps an ordered log and serves it with Tail: a server stream
// that sends everything after a cursor and then follows new entries. The
// consumer keeps the cursor of the last entry it applied in its own store,
// written in the same transaction as the effects of that entry, and Consume
// resumes from it after any disconnect or restart. Delivery is therefore at
// least once and in log order, and the effect of each entry exactly once.
package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// Signal wakes tailing readers when new entries are committed.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewSignal returns a Signal.
func NewSignal() *Signal {
	return &Signal{ch: make(chan struct{})}
}

// C returns a channel that is closed at the next Notify. Take it before
// reading, so that a commit between the read and the wait is not missed.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Notify wakes everyone waiting on a channel from C.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// EncodeCursor returns the cursor of the log position seq.
func EncodeCursor(seq int64) string {
	return strconv.FormatInt(seq, 10)
}

// DecodeCursor reads a cursor made by EncodeCursor; "" is the start of the
// log (0). field names the request field for the error.
func DecodeCursor(field, cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	seq, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || seq < 0 {
		return 0, apierror.Invalid(field, "%q is not a cursor returned by this service", cursor)
	}
	return seq, nil
}

// PollInterval is how often Tail re-reads when it is not woken; it bounds the
// delay for entries committed by another process (another replica).
const PollInterval = 200 * time.Millisecond

// Tail sends every entry after position after, in order, and then follows
// the log until ctx ends or send fails. read returns the entries after a
// position (at most a batch) and the position of the last one. wake may be
// nil; entries are then found by polling alone.
func Tail[T any](ctx context.Context, after int64, wake *Signal, read func(ctx context.Context, after int64) ([]T, int64, error), send func([]T) error) error {
	timer := time.NewTimer(PollInterval)
	defer timer.Stop()
	for {
		var woken <-chan struct{}
		if wake != nil {
			woken = wake.C()
		}
		items, last, err := read(ctx, after)
		if err != nil {
			return err
		}
		if len(items) > 0 {
			if err := send(items); err != nil {
				return err
			}
			after = last
			continue
		}
		timer.Reset(PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-woken:
		case <-timer.C:
		}
	}
}

// Stream is the receiving side of a server stream.
type Stream[M any] interface {
	Recv() (M, error)
}

// Consumer applies a producer's log to the consumer's own store.
type Consumer[M any] struct {
	// Name identifies the consumer in logs.
	Name   string
	Logger *slog.Logger
	// Cursor returns the log position of the last entry applied, from the
	// consumer's store; 0 when nothing has been applied yet.
	Cursor func(ctx context.Context) (int64, error)
	// Open starts the producer's stream after a cursor.
	Open func(ctx context.Context, after string) (Stream[M], error)
	// Apply applies one received message and stores the cursor of its last
	// entry in the same transaction. It must be idempotent for entries at or
	// before the stored cursor, which a reconnect may deliver again.
	Apply func(ctx context.Context, msg M) error
}

// Run consumes until ctx ends, reconnecting with capped exponential backoff
// after any error. It returns nil when ctx ends.
func (c Consumer[M]) Run(ctx context.Context) error {
	logger := c.Logger
	if logger == nil {
		logger = slog.Default()
	}
	backoff := minBackoff
	for ctx.Err() == nil {
		progressed, err := c.once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			backoff = minBackoff
		}
		logger.WarnContext(ctx, "feed consumer disconnected; retrying", "consumer", c.Name, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
	return nil
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

func (c Consumer[M]) once(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seq, err := c.Cursor(ctx)
	if err != nil {
		return false, fmt.Errorf("read cursor: %w", err)
	}
	cursor := ""
	if seq > 0 {
		cursor = EncodeCursor(seq)
	}
	stream, err := c.Open(ctx, cursor)
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream ended")
			}
			return progressed, err
		}
		if err := c.Apply(ctx, msg); err != nil {
			return progressed, fmt.Errorf("apply: %w", err)
		}
		progressed = true
	}
}

// BatchSize validates a stream request's max_batch_size: 0 selects def,
// values above max are lowered to max, negative ones are invalid.
func BatchSize(requested int32, def, max int) (int, error) {
	switch n := int(requested); {
	case n < 0:
		return 0, apierror.Invalid("max_batch_size", "must not be negative, got %d", n)
	case n == 0:
		return def, nil
	default:
		return min(n, max), nil
	}
}
