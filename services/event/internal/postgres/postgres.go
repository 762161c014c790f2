// Package postgres is the event Store on Postgres (pgx/v5), in the "event"
// schema created by the service's migrations.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
//
// It also returns the position in the profile change log of the last
// unmerge applied, which ApplyProfileChange sets under the same lock: a
// batch resolved after it needs no unmerge placed (see unmergesSQL).
const reserveSQL = `-- name: ReserveSequences
UPDATE event.log_head SET last_seq = last_seq + $1 RETURNING last_seq, last_unmerge`

// Deduplication under the log_head lock. Every appender holds it from
// reservation to commit, so when an append writes, every message id stored
// before it is committed and visible, and none can be stored concurrently.
// An append therefore inserts its events' message ids into
// event.message_ids without looking them up first, in the round trip that
// reserves their sequences: the primary key finds a message id stored
// before, the insert fails, and only then (rarely: batches hold duplicates
// when producers retry) does the append go back to a savepoint, find the
// stored ones with storedAmongSQL, and insert the others. Message ids
// repeated within the batch are left to their first occurrence.
const (
	// claimSQL stores the message ids $1 of the events at positions $2
	// (from 0) of a batch of $4 events, received at $3, under the sequences
	// the batch reserved: those ending at the log head.
	claimSQL = `-- name: ClaimMessageIDs
INSERT INTO event.message_ids (message_id, seq, received_at)
SELECT u.message_id, h.last_seq - $4::bigint + 1 + u.pos, u.received_at
FROM event.log_head h, unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS u(message_id, pos, received_at)`

	storedAmongSQL = `-- name: MessageIDsStoredAmong
SELECT message_id FROM event.message_ids WHERE message_id = ANY($1)`

	// redirectsSQL finds the profiles of the batch merged away since it was
	// resolved (event.profile_redirects, written under the same log_head
	// lock by ApplyProfileChange): their events are stored under the
	// profile they now belong to.
	redirectsSQL = `-- name: ProfileRedirects
SELECT from_id, to_id FROM event.profile_redirects WHERE from_id = ANY($1)`

	// erasedAmongSQL finds the profiles of the batch erased since it was
	// resolved (see event.ErrProfileErased).
	erasedAmongSQL = `-- name: ErasedProfilesAmong
SELECT count(*) FROM event.erased_profiles
WHERE hash = ANY(ARRAY(SELECT sha256(convert_to(p, 'UTF8')) FROM unnest($1::text[]) AS p))`

	// unmergesSQL finds the unmerges applied after $2, the earliest point
	// up to which the batch's events were resolved, that may place an
	// event resolved to one of the profiles $1 elsewhere (event.Unmerge):
	// theirs, and those of the profiles they restored (or that those were
	// merged into since), in order, each with the profile its restored
	// profile's events now belong to.
	unmergesSQL = `-- name: UnmergesAfter
WITH RECURSIVE u (seq, survivor, restored, moved, kept) AS (
	SELECT seq, survivor, restored, moved, kept FROM event.profile_unmerges WHERE survivor = ANY($1) AND seq > $2
	UNION ALL
	SELECT n.seq, n.survivor, n.restored, n.moved, n.kept
	FROM u LEFT JOIN event.profile_redirects r ON r.from_id = u.restored
	JOIN event.profile_unmerges n ON n.survivor = COALESCE(r.to_id, u.restored) AND n.seq > u.seq
)
SELECT DISTINCT ON (u.seq) u.seq, u.survivor, u.restored, COALESCE(r.to_id, u.restored), u.moved, u.kept
FROM u LEFT JOIN event.profile_redirects r ON r.from_id = u.restored
ORDER BY u.seq`

	savepointSQL = `SAVEPOINT claim`

	// uniqueViolation is Postgres's SQLSTATE for a duplicate key.
	uniqueViolation = "23505"

	rollbackToSavepointSQL = `ROLLBACK TO SAVEPOINT claim`
)

// copyColumns are the columns of event.events in the order Append copies
// them.
var copyColumns = []string{"seq", "message_id", "profile_id", "type", "event", "identifiers", "properties", "traits", "context", "occurred_at", "received_at", "trace_context"}

// byMessageIDsSQL finds events through message_ids, whose row holds the
// event's sequence and partition key, so each lookup probes one
// partition's events_seq_idx.
const byMessageIDsSQL = `-- name: EventsByMessageID
SELECT ` + prefixed + ` FROM event.message_ids m
JOIN event.events e USING (seq, received_at)
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
	rows, err := encodeRows(events)
	if err != nil {
		return nil, err
	}
	if err := s.ensurePartitions(ctx, events); err != nil {
		return nil, err
	}
	var out []event.Appended
	err = pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		out, err = appendRows(ctx, tx, events, rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// encoded is what an event's row of event.events holds beside the event's
// own fields: its identifiers and trace context as JSON, its type as the
// column's smallint.
type encoded struct {
	identifiers, traceContext json.RawMessage
	typ                       int16
}

// encodeRows encodes what the rows of events hold beside the events' own
// fields.
func encodeRows(events []event.Event) ([]encoded, error) {
	rows := make([]encoded, len(events))
	for i, ev := range events {
		ids, err := identifiersJSON(ev.Identifiers)
		if err != nil {
			return nil, fmt.Errorf("encode identifiers: %w", err)
		}
		rows[i] = encoded{identifiers: ids, typ: int16(ev.Type)}
		if len(ev.TraceContext) > 0 {
			if rows[i].traceContext, err = json.Marshal(ev.TraceContext); err != nil {
				return nil, fmt.Errorf("encode trace context: %w", err)
			}
		}
	}
	return rows, nil
}

// copyRows is the pgx.CopyFromSource of the appended events at positions
// keep, in copyColumns order. Its values other than JSON point into the
// events and their encoded parts, so that they are not boxed on the heap;
// pgx encodes each row before it asks for the next.
type copyRows struct {
	out    []event.Appended
	rows   []encoded
	keep   []int
	next   int
	values [12]any
}

func (c *copyRows) Next() bool {
	c.next++
	return c.next <= len(c.keep)
}

func (c *copyRows) Values() ([]any, error) {
	i := c.keep[c.next-1]
	ev, row := &c.out[i].Event, &c.rows[i]
	c.values = [12]any{&ev.Seq, &ev.MessageID, &ev.ProfileID, &row.typ, &ev.Name, row.identifiers,
		jsonOrNull(ev.Properties), jsonOrNull(ev.Traits), jsonOrNull(ev.Context), &ev.OccurredAt, &ev.ReceivedAt, jsonOrNull(row.traceContext)}
	return c.values[:], nil
}

func (c *copyRows) Err() error { return nil }

// jsonOrNull is raw, or SQL NULL when absent. JSON is passed as
// json.RawMessage, which pgx copies as it is (a pointer to one it would
// encode with json.Marshal).
func jsonOrNull(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

// identifiersJSON encodes ids as json.Marshal does, without its
// reflection when every type and value is printable ASCII without quotes
// or backslashes, as nearly all are: it runs for every appended event.
func identifiersJSON(ids []event.Identifier) ([]byte, error) {
	b := make([]byte, 0, 2+40*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if !plainJSON(id.Type) || !plainJSON(id.Value) {
			return json.Marshal(ids)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"`...)
		b = append(b, id.Type...)
		b = append(b, `","value":"`...)
		b = append(b, id.Value...)
		b = append(b, `"}`...)
	}
	return append(b, ']'), nil
}

// plainJSON reports whether s is written in JSON as it is, between quotes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendRows appends events, encoded as rows, in tx: it reserves their
// sequences (taking the log_head lock) and copies the events whose message
// ids are not stored yet.
func appendRows(ctx context.Context, tx pgx.Tx, events []event.Event, rows []encoded) ([]event.Appended, error) {
	n := len(events)
	var profiles []string
	distinct := map[string]bool{}
	for _, ev := range events {
		if !distinct[ev.ProfileID] {
			distinct[ev.ProfileID] = true
			profiles = append(profiles, ev.ProfileID)
		}
	}
	b := &pgx.Batch{}
	var last, lastUnmerge int64
	b.Queue(reserveSQL, n).QueryRow(func(row pgx.Row) error { return row.Scan(&last, &lastUnmerge) })
	redirects := map[string]string{}
	b.Queue(redirectsSQL, profiles).Query(func(rows pgx.Rows) error {
		var from, to string
		_, err := pgx.ForEachRow(rows, []any{&from, &to}, func() error {
			redirects[from] = to
			return nil
		})
		return err
	})
	var erased int
	b.Queue(erasedAmongSQL, profiles).QueryRow(func(row pgx.Row) error { return row.Scan(&erased) })
	b.Queue(savepointSQL)
	keep := firsts(events, nil)
	b.Queue(claimSQL, claimArgs(events, keep)...)
	err := tx.SendBatch(ctx, b).Close()
	conflict := isUniqueViolation(err)
	if err != nil && !conflict {
		return nil, fmt.Errorf("reserve sequences: %w", err)
	}
	if erased > 0 {
		return nil, event.ErrProfileErased
	}
	if conflict {
		if keep, err = claimAgain(ctx, tx, events); err != nil {
			return nil, fmt.Errorf("claim message ids: %w", err)
		}
	}
	var unmerges []event.Unmerge
	restored := map[string]string{}
	if after := resolvedAfter(events); lastUnmerge > after {
		if unmerges, err = unmergesAfter(ctx, tx, profiles, after, restored); err != nil {
			return nil, fmt.Errorf("read unmerges: %w", err)
		}
	}
	out, placed := place(events, keep, last, redirects, unmerges, func(p string) string { return restored[p] })
	if len(placed) > 0 {
		if err := tx.QueryRow(ctx, erasedAmongSQL, placed).Scan(&erased); err != nil {
			return nil, fmt.Errorf("check restored profiles: %w", err)
		}
		if erased > 0 {
			return nil, event.ErrProfileErased
		}
	}
	if len(keep) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"event", "events"}, copyColumns, &copyRows{out: out, rows: rows, keep: keep}); err != nil {
			return nil, fmt.Errorf("copy events: %w", err)
		}
	}
	return answerDuplicates(ctx, tx, events, out)
}

// isUniqueViolation reports whether err is a duplicate key.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation
}

// firsts returns the positions of the events whose message ids are not in
// stored nor earlier in events, in order.
func firsts(events []event.Event, stored map[string]bool) []int {
	seen := make(map[string]bool, len(events))
	keep := make([]int, 0, len(events))
	for i, ev := range events {
		if stored[ev.MessageID] || seen[ev.MessageID] {
			continue
		}
		seen[ev.MessageID] = true
		keep = append(keep, i)
	}
	return keep
}

// claimArgs are the arguments of claimSQL for the events at positions keep.
//
// The message ids go in their byte order: random ones (UUIDs, as most SDKs
// make them) then reach the primary key's pages in order, each page once,
// instead of jumping between them.
func claimArgs(events []event.Event, keep []int) []any {
	order := slices.Clone(keep)
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(events[a].MessageID, events[b].MessageID) })
	ids := make([]string, len(order))
	positions := make([]int64, len(order))
	received := make([]time.Time, len(order))
	for k, i := range order {
		ids[k], positions[k], received[k] = events[i].MessageID, int64(i), events[i].ReceivedAt
	}
	return []any{ids, positions, received, len(events)}
}

// claimAgain goes back to the savepoint before a claim that found a message
// id stored, finds the stored ones, and claims the others; it returns their
// positions.
func claimAgain(ctx context.Context, tx pgx.Tx, events []event.Event) ([]int, error) {
	if _, err := tx.Exec(ctx, rollbackToSavepointSQL); err != nil {
		return nil, err
	}
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.MessageID
	}
	found, err := tx.Query(ctx, storedAmongSQL, ids)
	if err != nil {
		return nil, err
	}
	stored := map[string]bool{}
	var id string
	if _, err := pgx.ForEachRow(found, []any{&id}, func() error {
		stored[id] = true
		return nil
	}); err != nil {
		return nil, err
	}
	keep := firsts(events, stored)
	if len(keep) > 0 {
		if _, err := tx.Exec(ctx, claimSQL, claimArgs(events, keep)...); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// place gives the events at positions keep their sequences (the n reserved
// up to last, by position) and the profiles they are stored under, and
// returns the outcomes (zero for the others, the duplicates). An event goes
// to the profile an unmerge applied since its resolution gave its
// identifiers back to (current(restored)); placed lists those profiles.
// Otherwise it goes to the profile its own was merged into since, if any.
func place(events []event.Event, keep []int, last int64, redirects map[string]string,
	unmerges []event.Unmerge, current func(restored string) string) (out []event.Appended, placed []string) {
	n := len(events)
	out = make([]event.Appended, n)
	for _, i := range keep {
		ev := events[i]
		ev.Seq = last - int64(n) + 1 + int64(i)
		if len(unmerges) > 0 && event.PlaceAfterUnmerges(&ev, unmerges, current) {
			placed = append(placed, ev.ProfileID)
		} else if to, ok := redirects[ev.ProfileID]; ok {
			ev.ProfileID = to
		}
		ev.ResolvedAfter = 0
		if len(ev.TraceContext) == 0 {
			ev.TraceContext = nil
		}
		out[i] = event.Appended{Event: ev}
	}
	return out, placed
}

// unmergesAfter returns the unmerges of unmergesSQL, and sets in restored
// the profile each restored profile's events now belong to.
func unmergesAfter(ctx context.Context, tx pgx.Tx, profiles []string, after int64, restored map[string]string) ([]event.Unmerge, error) {
	rows, err := tx.Query(ctx, unmergesSQL, profiles, after)
	if err != nil {
		return nil, err
	}
	var (
		out         []event.Unmerge
		u           event.Unmerge
		current     string
		moved, kept [][]byte
	)
	_, err = pgx.ForEachRow(rows, []any{&u.Seq, &u.Survivor, &u.Restored, &current, &moved, &kept}, func() error {
		u.Moved, u.Kept = hashSet(moved), hashSet(kept)
		out = append(out, u)
		restored[u.Restored] = current
		return nil
	})
	return out, err
}

// resolvedAfter is the earliest point of the profile change log up to
// which events were resolved.
func resolvedAfter(events []event.Event) int64 {
	first := events[0].ResolvedAfter
	for _, ev := range events[1:] {
		first = min(first, ev.ResolvedAfter)
	}
	return first
}

// hashSet is the set of the identifier hashes hs.
func hashSet(hs [][]byte) map[[32]byte]bool {
	out := make(map[[32]byte]bool, len(hs))
	for _, h := range hs {
		out[[32]byte(h)] = true
	}
	return out
}

// answerDuplicates answers each event that place left without an outcome
// with the event stored under its message id: stored before, or earlier in
// the same batch.
func answerDuplicates(ctx context.Context, q querier, events []event.Event, out []event.Appended) ([]event.Appended, error) {
	var lost []string
	for i, ev := range events {
		if out[i].Event.Seq == 0 {
			lost = append(lost, ev.MessageID)
		}
	}
	if len(lost) == 0 {
		return out, nil
	}
	winners, err := byMessageIDs(ctx, q, lost)
	if err != nil {
		return nil, err
	}
	for i, ev := range events {
		if out[i].Event.Seq == 0 {
			w, ok := winners[ev.MessageID]
			if !ok {
				return nil, fmt.Errorf("message id %q is stored but its event is not", ev.MessageID)
			}
			out[i] = event.Appended{Event: w, Duplicate: true}
		}
	}
	return out, nil
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
	err := row.Scan(&ev.Seq, &ev.MessageID, &ev.ProfileID, &ev.Type, &ev.Name, (*identifiersColumn)(&ev.Identifiers),
		rawJSON(&ev.Properties), rawJSON(&ev.Traits), rawJSON(&ev.Context), &ev.OccurredAt, &ev.ReceivedAt, (*traceContextColumn)(&ev.TraceContext))
	ev.OccurredAt, ev.ReceivedAt = ev.OccurredAt.UTC(), ev.ReceivedAt.UTC()
	return ev, err
}
