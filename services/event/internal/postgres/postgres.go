// Package postgres is the event Store on Postgres (pgx/v5), in the "event"
// schema created by the service's migrations.
package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/barista-cdp/barista/pkg/pg"
	"github.com/barista-cdp/barista/services/event/internal/event"
)

// Store is the Postgres event Store. event.events is partitioned by month
// of received_at; the Store creates a month's partition before the first
// append into it, once per month per process.
type Store struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	months map[int]bool // months (year*12 + month-1) whose partition exists
}

var _ event.Store = (*Store)(nil)

// New returns a Store on pool, whose database has the event migrations
// applied.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, months: map[int]bool{}}
}

// Partitions are created for months from PartitionsBehind months before the
// current one to PartitionsAhead months after it; rows received outside
// that window (a clock far off, an absurd timestamp) go to the DEFAULT
// partition instead of creating a partition each.
const (
	PartitionsBehind = 12
	PartitionsAhead  = 3
)

// Prepare creates the partitions of the current month and the
// PartitionsAhead next ones, so that appends at a month's turn find their
// partition made. The service calls it on start.
func (s *Store) Prepare(ctx context.Context) error {
	now := time.Now().UTC()
	for i := range PartitionsAhead + 1 {
		if err := s.ensureMonth(ctx, monthOf(now)+i); err != nil {
			return err
		}
	}
	return nil
}

// monthOf numbers t's month (UTC): year*12 + month-1.
func monthOf(t time.Time) int {
	t = t.UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

// ensurePartitions creates the missing partitions of the months events are
// received in, within the window. On the hot path, once the months are
// known, it costs a month computation per event and a map lookup per change
// of month along the batch, under a mutex and without a round trip.
func (s *Store) ensurePartitions(ctx context.Context, events []event.Event) error {
	current := monthOf(time.Now())
	var missing []int
	prev := -1
	s.mu.Lock()
	for _, ev := range events {
		m := monthOf(ev.ReceivedAt)
		if m == prev {
			continue
		}
		prev = m
		if !s.months[m] && m >= current-PartitionsBehind && m <= current+PartitionsAhead && !slices.Contains(missing, m) {
			missing = append(missing, m)
		}
	}
	s.mu.Unlock()
	for _, m := range missing {
		if err := s.ensureMonth(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// createPartitionSQL creates the partition of the month of $1 unless it
// exists; see the function in migration 00002 for the locking.
const createPartitionSQL = `-- name: CreateEventsPartition
SELECT event.create_events_partition($1)`

// ensureMonth creates month m's partition, outside any append transaction
// (the DDL never waits behind, or holds up, the log_head lock), and
// remembers it.
func (s *Store) ensureMonth(ctx context.Context, m int) error {
	first := time.Date(m/12, time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, createPartitionSQL, first); err != nil {
		return fmt.Errorf("create events partition for %s: %w", first.Format("2006-01"), err)
	}
	s.mu.Lock()
	s.months[m] = true
	s.mu.Unlock()
	return nil
}

const columns = `seq, message_id, profile_id, type, event, identifiers, properties, traits, context, occurred_at, received_at, trace_context`

// prefixed is columns qualified by the events alias e.
const prefixed = `e.seq, e.message_id, e.profile_id, e.type, e.event, e.identifiers, e.properties, e.traits, e.context, e.occurred_at, e.received_at, e.trace_context`

// reserveSQL hands out the batch's sequence numbers. Why a counter row and
// not a Postgres sequence: nextval() values become visible in commit order,
// not in number order (a batch holding 5 can commit after one holding 6), and
// a consumer that read 6 and moved its cursor past 5 would never see 5. The
// UPDATE takes the row lock of the only log_head row and keeps it until the
// transaction ends, so appends are serialized from reservation to commit:
// a batch commits before the next one can take numbers, and visibility order
// equals sequence order. The lock is held only for the insert and the
// commit; profile resolution happens before the transaction starts.
const reserveSQL = `-- name: ReserveSequences
UPDATE event.log_head SET last_seq = last_seq + $1 RETURNING last_seq`

// claimSQL claims the batch's message ids in event.message_ids, in sequence
// order, and returns the sequences whose claim succeeded; a message id
// stored before, or earlier in the batch, is skipped and its reserved
// sequence left unused. Any other appender is blocked on log_head, so a
// conflicting row is always committed (or our own) and readable by the next
// statement. The claimed events are then written with COPY, which costs
// Postgres less than an INSERT of the same rows from unnest'ed arrays.
// A profile merged away since the batch was resolved is replaced by the
// profile its events now belong to (event.profile_redirects, written under
// the same log_head lock by ApplyProfileChange), and the claim returns the
// profile each event is stored under.
const claimSQL = `-- name: ClaimMessageIDs
INSERT INTO event.message_ids (message_id, seq, profile_id, received_at)
SELECT u.message_id, u.seq, COALESCE(r.to_id, u.profile_id), u.received_at
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[]) AS u(message_id, seq, profile_id, received_at)
LEFT JOIN event.profile_redirects r ON r.from_id = u.profile_id
ORDER BY 2
ON CONFLICT (message_id) DO NOTHING
RETURNING seq, profile_id`

// copyColumns are the columns of event.events in the order Append copies
// them.
var copyColumns = []string{"seq", "message_id", "profile_id", "type", "event", "identifiers", "properties", "traits", "context", "occurred_at", "received_at", "trace_context"}

// byMessageIDsSQL finds events through message_ids, whose row holds the
// event's full primary key, so each lookup prunes to one partition.
const byMessageIDsSQL = `-- name: EventsByMessageID
SELECT ` + prefixed + ` FROM event.message_ids m
JOIN event.events e USING (profile_id, seq, received_at)
WHERE m.message_id = ANY($1)`

const listProfileSQL = `-- name: ListProfileEvents
SELECT ` + columns + ` FROM event.events WHERE profile_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`

const readAfterSQL = `-- name: ReadEventsAfter
SELECT ` + columns + ` FROM event.events WHERE seq > $1 ORDER BY seq LIMIT $2`

// Append implements event.Store.
func (s *Store) Append(ctx context.Context, events []event.Event) ([]event.Appended, error) {
	if len(events) == 0 {
		return nil, nil
	}
	n := len(events)
	var (
		seqs                          = make([]int64, n)
		messageIDs, profileIDs, names = make([]string, n), make([]string, n), make([]string, n)
		types                         = make([]int16, n)
		identifiers, properties       = make([]json.RawMessage, n), make([]json.RawMessage, n)
		traits, contexts, traces      = make([]json.RawMessage, n), make([]json.RawMessage, n), make([]json.RawMessage, n)
		occurred, received            = make([]time.Time, n), make([]time.Time, n)
	)
	for i, ev := range events {
		ids, err := json.Marshal(ev.Identifiers)
		if err != nil {
			return nil, fmt.Errorf("encode identifiers: %w", err)
		}
		identifiers[i] = ids
		if len(ev.TraceContext) > 0 {
			if traces[i], err = json.Marshal(ev.TraceContext); err != nil {
				return nil, fmt.Errorf("encode trace context: %w", err)
			}
		}
		messageIDs[i], profileIDs[i], names[i], types[i] = ev.MessageID, ev.ProfileID, ev.Name, int16(ev.Type)
		properties[i], traits[i], contexts[i] = nullable(ev.Properties), nullable(ev.Traits), nullable(ev.Context)
		occurred[i], received[i] = ev.OccurredAt, ev.ReceivedAt
	}

	if err := s.ensurePartitions(ctx, events); err != nil {
		return nil, err
	}
	out := make([]event.Appended, n)
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var last int64
		if err := tx.QueryRow(ctx, reserveSQL, n).Scan(&last); err != nil {
			return fmt.Errorf("reserve sequences: %w", err)
		}
		for i := range seqs {
			seqs[i] = last - int64(n) + 1 + int64(i)
		}
		rows, err := tx.Query(ctx, claimSQL, messageIDs, seqs, profileIDs, received)
		if err != nil {
			return fmt.Errorf("claim message ids: %w", err)
		}
		// stored maps each claimed sequence to the profile it is stored under.
		stored := map[int64]string{}
		var seq int64
		var profile string
		if _, err := pgx.ForEachRow(rows, []any{&seq, &profile}, func() error {
			stored[seq] = profile
			return nil
		}); err != nil {
			return fmt.Errorf("claim message ids: %w", err)
		}
		for i := range events {
			if p, ok := stored[seqs[i]]; ok {
				profileIDs[i] = p
			}
		}
		copied := make([][]any, 0, len(stored))
		for i := range events {
			if _, ok := stored[seqs[i]]; ok {
				copied = append(copied, []any{seqs[i], messageIDs[i], profileIDs[i], types[i], names[i], identifiers[i],
					jsonOrNull(properties[i]), jsonOrNull(traits[i]), jsonOrNull(contexts[i]), occurred[i], received[i], jsonOrNull(traces[i])})
			}
		}
		if len(copied) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"event", "events"}, copyColumns, pgx.CopyFromRows(copied)); err != nil {
				return fmt.Errorf("copy events: %w", err)
			}
		}
		var lost []string
		for i, ev := range events {
			if p, ok := stored[seqs[i]]; ok {
				ev.Seq, ev.ProfileID = seqs[i], p
				if len(ev.TraceContext) == 0 {
					ev.TraceContext = nil
				}
				out[i] = event.Appended{Event: ev}
				continue
			}
			lost = append(lost, ev.MessageID)
		}
		if len(lost) == 0 {
			return nil
		}
		winners, err := byMessageIDs(ctx, tx, lost)
		if err != nil {
			return err
		}
		for i, ev := range events {
			if _, ok := stored[seqs[i]]; !ok {
				w, ok := winners[ev.MessageID]
				if !ok {
					return fmt.Errorf("message id %q conflicted but is not stored", ev.MessageID)
				}
				out[i] = event.Appended{Event: w, Duplicate: true}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// jsonOrNull is raw, or SQL NULL when absent.
func jsonOrNull(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

// nullable stores absent JSON as SQL NULL.
func nullable(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

// ByMessageIDs implements event.Store.
func (s *Store) ByMessageIDs(ctx context.Context, messageIDs []string) (map[string]event.Event, error) {
	if len(messageIDs) == 0 {
		return map[string]event.Event{}, nil
	}
	return byMessageIDs(ctx, s.pool, messageIDs)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func byMessageIDs(ctx context.Context, q querier, messageIDs []string) (map[string]event.Event, error) {
	events, err := query(ctx, q, byMessageIDsSQL, messageIDs)
	if err != nil {
		return nil, fmt.Errorf("events by message id: %w", err)
	}
	found := make(map[string]event.Event, len(events))
	for _, ev := range events {
		found[ev.MessageID] = ev
	}
	return found, nil
}

// ListProfile implements event.Store.
func (s *Store) ListProfile(ctx context.Context, profileID string, after int64, limit int) ([]event.Event, error) {
	events, err := query(ctx, s.pool, listProfileSQL, profileID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list profile events: %w", err)
	}
	return events, nil
}

// ReadAfter implements event.Store.
func (s *Store) ReadAfter(ctx context.Context, after int64, limit int) ([]event.Event, error) {
	events, err := readAfter(ctx, s.pool, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return events, nil
}

func query(ctx context.Context, q querier, sql string, args ...any) ([]event.Event, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanEvent)
}

func scanEvent(row pgx.CollectableRow) (event.Event, error) {
	var ev event.Event
	err := row.Scan(&ev.Seq, &ev.MessageID, &ev.ProfileID, &ev.Type, &ev.Name, &ev.Identifiers,
		&ev.Properties, &ev.Traits, &ev.Context, &ev.OccurredAt, &ev.ReceivedAt, &ev.TraceContext)
	ev.OccurredAt, ev.ReceivedAt = ev.OccurredAt.UTC(), ev.ReceivedAt.UTC()
	return ev, err
}
