package feed_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/pkg/feed"
)

func TestCursorRoundTrip(t *testing.T) {
	seq, err := feed.DecodeCursor("after_cursor", feed.EncodeCursor(17))
	require.NoError(t, err)
	require.EqualValues(t, 17, seq)
	seq, err = feed.DecodeCursor("after_cursor", "")
	require.NoError(t, err)
	require.Zero(t, seq)
	_, err = feed.DecodeCursor("after_cursor", "-3")
	require.ErrorContains(t, err, "after_cursor")
	_, err = feed.DecodeCursor("after_cursor", "abc")
	require.ErrorContains(t, err, "after_cursor")
}

// memLog is an append-only log that Tail reads.
type memLog struct {
	mu     sync.Mutex
	items  []int64
	signal *feed.Signal
}

func (l *memLog) append(n int64) {
	l.mu.Lock()
	l.items = append(l.items, n)
	l.mu.Unlock()
	l.signal.Notify()
}

func (l *memLog) read(_ context.Context, after int64) ([]int64, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for _, it := range l.items {
		if it > after && len(out) < 3 {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	return out, out[len(out)-1], nil
}

func TestTailSendsBacklogThenFollows(t *testing.T) {
	log := &memLog{signal: feed.NewSignal()}
	for i := int64(1); i <= 5; i++ {
		log.append(i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int64, 100)
	done := make(chan error, 1)
	go func() {
		done <- feed.Tail(ctx, 2, log.signal, log.read, func(items []int64) error {
			for _, it := range items {
				got <- it
			}
			return nil
		})
	}()
	for want := int64(3); want <= 5; want++ {
		require.Equal(t, want, <-got)
	}
	log.append(6)
	select {
	case it := <-got:
		require.EqualValues(t, 6, it)
	case <-time.After(feed.PollInterval / 2):
		t.Fatal("a notified append was not sent before the poll interval")
	}
	cancel()
	require.NoError(t, <-done)
}

func TestTailStopsWhenSendFails(t *testing.T) {
	log := &memLog{signal: feed.NewSignal()}
	log.append(1)
	boom := errors.New("client gone")
	err := feed.Tail(context.Background(), 0, nil, log.read, func([]int64) error { return boom })
	require.ErrorIs(t, err, boom)
}

// flakyStream delivers entries after a cursor and fails after failAfter
// messages, as a dropped connection does.
type flakyStream struct {
	items     []int64
	failAfter int
	sent      int
}

func (s *flakyStream) Recv() (int64, error) {
	if s.sent == s.failAfter {
		return 0, errors.New("connection reset")
	}
	if len(s.items) == 0 {
		return 0, io.EOF
	}
	it := s.items[0]
	s.items = s.items[1:]
	s.sent++
	return it, nil
}

func TestConsumerResumesFromStoredCursorAfterDisconnects(t *testing.T) {
	const total = 10
	var (
		mu      sync.Mutex
		cursor  int64
		applied []int64
		opens   []int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := feed.Consumer[int64]{
		Name: "test",
		Cursor: func(context.Context) (int64, error) {
			mu.Lock()
			defer mu.Unlock()
			return cursor, nil
		},
		Open: func(_ context.Context, after string) (feed.Stream[int64], error) {
			seq, err := feed.DecodeCursor("after", after)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			opens = append(opens, seq)
			mu.Unlock()
			s := &flakyStream{failAfter: 3}
			// Redeliver the last applied entry, as at-least-once delivery may.
			for i := max(seq, 1); i <= total; i++ {
				s.items = append(s.items, i)
			}
			return s, nil
		},
		Apply: func(_ context.Context, it int64) error {
			mu.Lock()
			defer mu.Unlock()
			if it <= cursor {
				return nil // idempotent: already applied
			}
			applied = append(applied, it)
			cursor = it
			if cursor == total {
				cancel()
			}
			return nil
		},
	}
	require.NoError(t, c.Run(ctx))
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, applied)
	require.Greater(t, len(opens), 1, "the consumer must have reconnected")
	for i := 1; i < len(opens); i++ {
		require.GreaterOrEqual(t, opens[i], opens[i-1], "reopened before its stored cursor")
	}
}

func TestBatchSize(t *testing.T) {
	for _, tc := range []struct {
		requested int32
		want      int
	}{{0, 500}, {1, 1}, {700, 700}, {5000, 1000}} {
		got, err := feed.BatchSize(tc.requested, 500, 1000)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.requested)
	}
	_, err := feed.BatchSize(-1, 500, 1000)
	require.ErrorContains(t, err, "max_batch_size: must not be negative, got -1")
}
