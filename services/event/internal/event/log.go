package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/feed"
	"github.com/barista-cdp/barista/pkg/telemetry"
)

// Resolver maps identifiers to profiles; the profile service implements it.
type Resolver interface {
	// Resolve returns the id of the profile that identifiers seen together at
	// time at belong to, creating, linking or merging profiles as needed, and
	// sets traits (a JSON object, or nil) on it. Bad input is reported as an
	// *apierror.InvalidError whose field is a field of Event, such as
	// "identifiers[1]"; any other error means the profile service failed.
	Resolve(ctx context.Context, ids []Identifier, traits json.RawMessage, at time.Time) (string, error)
	// Lookup returns the id of the profile that holds id, or an error
	// wrapping ErrProfileNotFound.
	Lookup(ctx context.Context, id Identifier) (string, error)
}

// Status is the outcome of ingesting one event.
type Status int

// Outcomes of ingesting one event.
const (
	// StatusAccepted means the event was stored by this call.
	StatusAccepted Status = iota + 1
	// StatusDuplicate means an event with the same message id was stored
	// before (or earlier in the batch) and this one was not stored.
	StatusDuplicate
	// StatusRejected means the event was not stored because of bad input.
	StatusRejected
)

// String returns the status in lower case, as logs show it.
func (s Status) String() string {
	switch s {
	case StatusAccepted:
		return "accepted"
	case StatusDuplicate:
		return "duplicate"
	case StatusRejected:
		return "rejected"
	}
	return "unknown"
}

// Outcome is the result of ingesting one event.
type Outcome struct {
	Status Status
	// Event is the stored event, for accepted and duplicate events.
	Event Event
	// Field is the field of the event at fault for rejected events, such
	// as "identifiers[0]"; empty when the event as a whole is at fault.
	Field string
	// Reason says why the event was rejected.
	Reason string
}

// DefaultParallelism is how many profile resolutions of one batch run at
// once.
const DefaultParallelism = 16

// Normalizer rewrites an event into the store's vocabulary (event names,
// category labels, currency) before it is stored. An error rejects the
// event.
type Normalizer interface {
	Normalize(ev *Event) error
}

// Log is the event log: it ingests batches and serves what was stored.
type Log struct {
	store       Store
	resolver    Resolver
	normalizer  Normalizer
	group       *groupCommit
	logger      *slog.Logger
	signal      *feed.Signal
	parallelism int
	// cache holds recent resolutions that can be reused; nil when off.
	cache *resolveCache
	// profileChanges is the position in the profile change log up to which
	// the changes are known applied to the store: every event prepared is
	// stamped with it before it is resolved (Event.ResolvedAfter).
	profileChanges atomic.Int64
}

// Option adjusts NewLog.
type Option func(*Log)

// WithNormalizer makes the Log normalize every event it ingests.
func WithNormalizer(n Normalizer) Option {
	return func(l *Log) { l.normalizer = n }
}

// WithResolveCache makes the Log reuse a resolution for at most ttl (see
// resolveCache), keeping at most size of them; now is the clock (nil for
// time.Now). A ttl of zero or less turns the cache off.
func WithResolveCache(ttl time.Duration, size int, now func() time.Time) Option {
	return func(l *Log) {
		l.cache = nil
		if ttl > 0 && size > 0 {
			l.cache = newResolveCache(ttl, size, now)
		}
	}
}

// NewLog returns a Log over store that resolves profiles with resolver.
func NewLog(store Store, resolver Resolver, logger *slog.Logger, opts ...Option) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	l := &Log{store: store, resolver: resolver, logger: logger, signal: feed.NewSignal(), parallelism: DefaultParallelism}
	l.group = &groupCommit{store: store, committed: l.signal.Notify}
	for _, o := range opts {
		o(l)
	}
	return l
}

// PendingCommits returns how many Commit calls wait for the transaction in
// progress to end, to share the next one.
func (l *Log) PendingCommits() int { return l.group.waiting() }

// Signal is notified after every commit of new events, to wake tailing
// readers in this process.
func (l *Log) Signal() *feed.Signal { return l.signal }

// Ingest stores a batch of valid events and returns one Outcome per event,
// in order. Message ids must be set. The stages, in order:
//
//  0. Each event is normalized (when the Log has a Normalizer); an event it
//     cannot normalize is rejected.
//  1. The second occurrence of a message id in the batch is a duplicate of
//     the first.
//  2. Events whose message id is already stored are duplicates, answered
//     from the store without asking the profile service.
//  3. The others are resolved to profiles. An event the profile service
//     rejects as bad input is rejected; any other failure fails the whole
//     call with ErrProfileUnavailable before anything is stored.
//  4. The resolved events are appended in one transaction; the call returns
//     only after it committed, so every accepted or duplicate outcome is
//     durable. A concurrent batch that stored a message id first turns the
//     event into a duplicate of that one.
//
// Each event keeps the trace context of ctx so that consumers continue the
// trace of the ingest call. Ingest sets the trace context, the profile and
// the time precision of the events it is given.
//
// Ingest is Prepare (stages 0 to 3) followed by Commit (stage 4).
func (l *Log) Ingest(ctx context.Context, events []Event) ([]Outcome, error) {
	p, err := l.Prepare(ctx, events)
	if err != nil {
		return nil, err
	}
	return l.Commit(ctx, p)
}

// Prepared is a batch that went through stages 0 to 3 of Ingest and waits
// for its commit.
type Prepared struct {
	events []Event
	out    []Outcome
	copyOf map[int]int
	fresh  []int
}

// whole reports whether every event of the batch is to be appended: none
// was rejected, repeated or found stored.
func (p *Prepared) whole() bool {
	if len(p.fresh) != len(p.events) {
		return false
	}
	for i := range p.out {
		if p.out[i].Status != 0 {
			return false
		}
	}
	return true
}

// Prepare runs stages 0 to 3 of Ingest: normalization, deduplication and
// profile resolution. Nothing is stored until Commit. A producer may prepare
// its next batch while the previous one commits: resolution of the next
// batch then starts after the previous one's, so identity order holds, and a
// message id that the previous batch stores meanwhile is caught by Commit.
func (l *Log) Prepare(ctx context.Context, events []Event) (*Prepared, error) {
	// Read before any resolution, cached or not: the changes up to it are
	// applied, so the profile service had made them before it resolves.
	resolvedAfter := l.profileChanges.Load()
	out := make([]Outcome, len(events))
	traceContext := telemetry.Inject(ctx)
	if len(traceContext) == 0 {
		traceContext = nil
	}
	first := make(map[string]int, len(events))
	copyOf := map[int]int{}
	var primaries []int
	var ids []string
	for i := range events {
		ev := &events[i]
		ev.OccurredAt = ev.OccurredAt.UTC().Truncate(time.Microsecond)
		ev.ReceivedAt = ev.ReceivedAt.UTC().Truncate(time.Microsecond)
		ev.TraceContext = traceContext
		ev.ResolvedAfter = resolvedAfter
		if l.normalizer != nil {
			if err := l.normalizer.Normalize(ev); err != nil {
				out[i] = Outcome{Status: StatusRejected, Field: "properties", Reason: err.Error()}
				continue
			}
		}
		if j, ok := first[ev.MessageID]; ok {
			copyOf[i] = j
			continue
		}
		first[ev.MessageID] = i
		primaries = append(primaries, i)
		ids = append(ids, ev.MessageID)
	}

	known, unknown, signals := l.cachedResolutions(events, primaries)
	if l.cache != nil {
		l.cache.count(ctx, len(known), len(unknown))
	}
	ids = ids[:0]
	for _, i := range unknown {
		ids = append(ids, events[i].MessageID)
	}
	stored, err := l.store.ByMessageIDs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("look up message ids: %w", err)
	}
	var fresh []int
	for _, i := range unknown {
		if ev, ok := stored[events[i].MessageID]; ok {
			out[i] = Outcome{Status: StatusDuplicate, Event: ev}
			continue
		}
		fresh = append(fresh, i)
	}

	if err := l.resolve(ctx, events, fresh, out); err != nil {
		return nil, err
	}
	l.cacheResolutions(events, fresh, out, signals)
	// The events are stored in the order they were sent.
	fresh = append(fresh, known...)
	slices.Sort(fresh)
	return &Prepared{events: events, out: out, copyOf: copyOf, fresh: fresh}, nil
}

// cachedResolutions gives the events of primaries that the resolution cache
// knows their profile, in order, and returns them (known) and the others
// (unknown). An event that sets traits, or whose identifiers an earlier
// unknown event of the batch shares with other identifiers (it may link or
// merge them first), is unknown. Known events skip the message id lookup:
// their resolution has no effect to avoid for a duplicate, and Commit finds
// duplicates among them.
//
// signals holds the signals key of each event of primaries, by position in
// events, for cacheResolutions: the context is parsed once.
func (l *Log) cachedResolutions(events []Event, primaries []int) (known, unknown []int, signals []string) {
	if l.cache == nil {
		return nil, primaries, nil
	}
	signals = make([]string, len(events))
	// touched holds the identifiers of the unknown events so far, each with
	// the identifiers key of the event that had it, or "" when events with
	// different keys had it.
	touched := map[Identifier]string{}
	for _, i := range primaries {
		ev := &events[i]
		key := identifiersKey(ev.Identifiers)
		signals[i] = signalsKey(ev.Context)
		if !setsTraits(ev) && !touchedByOthers(ev.Identifiers, touched, key) {
			if p, ok := l.cache.get(key + signals[i]); ok {
				ev.ProfileID = p
				known = append(known, i)
				continue
			}
		}
		for _, id := range ev.Identifiers {
			if k, ok := touched[id]; ok && k != key {
				touched[id] = ""
			} else {
				touched[id] = key
			}
		}
		unknown = append(unknown, i)
	}
	return known, unknown, signals
}

// touchedByOthers reports whether an identifier of ids was touched by an
// event with other identifiers than key.
func touchedByOthers(ids []Identifier, touched map[Identifier]string, key string) bool {
	for _, id := range ids {
		if k, ok := touched[id]; ok && k != key {
			return true
		}
	}
	return false
}

// setsTraits reports whether resolving ev sets traits on its profile.
func setsTraits(ev *Event) bool {
	return ev.Type == TypeIdentify && len(ev.Traits) > 0
}

// cacheResolutions keeps the resolutions of the events of fresh that set no
// traits, under their identifiers as stored (without any the profile
// service suppressed): resolving those again would give the same profile
// without effect.
func (l *Log) cacheResolutions(events []Event, fresh []int, out []Outcome, signals []string) {
	if l.cache == nil {
		return
	}
	var keys, profiles []string
	for _, i := range fresh {
		ev := &events[i]
		if out[i].Status != 0 || setsTraits(ev) || ev.ProfileID == "" {
			continue
		}
		keys = append(keys, identifiersKey(ev.Identifiers)+signals[i])
		profiles = append(profiles, ev.ProfileID)
	}
	l.cache.put(keys, profiles)
}

// Commit runs stage 4 of Ingest: it appends the prepared events in one
// transaction, shared with the batches of concurrent callers (group
// commit), and returns one Outcome per event once it committed.
func (l *Log) Commit(ctx context.Context, p *Prepared) ([]Outcome, error) {
	return l.Submit(ctx, p)()
}

// Submit queues the prepared batch for its commit, after every batch
// submitted before it, and returns a function that waits for the commit and
// returns the batch's outcomes, as Commit does. A producer that submits its
// next batch before waiting for this one lets group commit carry both in
// one transaction.
func (l *Log) Submit(ctx context.Context, p *Prepared) func() ([]Outcome, error) {
	events, out := p.events, p.out
	// at maps the appended events to the batch's; nil when they are all of
	// them, in order, as usual, and the batch is appended as it is.
	batch, at := events, []int(nil)
	if !p.whole() {
		batch, at = make([]Event, 0, len(p.fresh)), make([]int, 0, len(p.fresh))
		for _, i := range p.fresh {
			if out[i].Status == 0 {
				batch = append(batch, events[i])
				at = append(at, i)
			}
		}
	}
	var call *appendCall
	if len(batch) > 0 {
		call = l.group.submit(ctx, batch)
	}
	return func() ([]Outcome, error) {
		if call != nil {
			appended, err := call.wait()
			if err != nil {
				return nil, fmt.Errorf("append events: %w", err)
			}
			for k, a := range appended {
				status := StatusAccepted
				if a.Duplicate {
					status = StatusDuplicate
				}
				i := k
				if at != nil {
					i = at[k]
				}
				out[i] = Outcome{Status: status, Event: a.Event}
			}
		}
		for i, j := range p.copyOf {
			if out[j].Status == StatusRejected {
				out[i] = Outcome{Status: StatusRejected, Field: "message_id", Reason: "repeats the message_id of an earlier event of the batch, which was rejected"}
				continue
			}
			out[i] = Outcome{Status: StatusDuplicate, Event: out[j].Event}
		}
		return out, nil
	}
}

// resolve resolves events[i] for every i in idx, setting its ProfileID or
// rejecting it in out[i].
//
// An event with the same identifiers, in the same order, as an earlier event
// of the batch, with no event in between that touched those identifiers
// with other identifiers, and with no traits to set, shares the earlier
// event's resolution instead of asking the profile service again (a batch
// often holds many events of one visitor); the profile service then sees
// the time of the first of them.
//
// When the resolver is a BatchResolver, the batch's resolutions go to the
// profile service in one call (see resolveBatch), which applies them in
// order. Otherwise, or when the profile service cannot resolve batches,
// resolutions run in parallel, but an event waits for every earlier event
// of the batch that shares an identifier with it. Events that may join or
// merge profiles (an identify linking an anonymous id to a user id) are thus
// resolved in batch order, exactly as if the batch had been sent one event at
// a time, while unrelated customers' events do not wait for each other.
func (l *Log) resolve(parent context.Context, events []Event, idx []int, out []Outcome) error {
	if len(idx) == 0 {
		return nil
	}
	if b, ok := l.resolver.(BatchResolver); ok {
		if err := l.resolveBatch(parent, b, events, idx, out); !errors.Is(err, ErrBatchUnsupported) {
			return err
		}
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		fatal error
	)
	fail := func(err error) {
		once.Do(func() {
			fatal = err
			cancel()
		})
	}
	slots := make(chan struct{}, l.parallelism)
	last := map[Identifier]chan struct{}{}
	primaries := map[string]primary{}
	lastKey := map[Identifier]string{}
	for _, i := range idx {
		ev := &events[i]
		key := identifiersKey(ev.Identifiers)
		if p, ok := primaries[key]; ok && !setsTraits(ev) && untouched(ev.Identifiers, lastKey, key) {
			wg.Go(func() {
				select {
				case <-p.done:
				case <-ctx.Done():
					return
				}
				if out[p.index].Status == StatusRejected {
					out[i] = out[p.index]
					return
				}
				ev.ProfileID = events[p.index].ProfileID
			})
			continue
		}
		for _, id := range ev.Identifiers {
			lastKey[id] = key
		}
		var deps []chan struct{}
		done := make(chan struct{})
		for _, id := range ev.Identifiers {
			if d, ok := last[id]; ok {
				deps = append(deps, d)
			}
			last[id] = done
		}
		primaries[key] = primary{index: i, done: done}
		wg.Go(func() {
			defer close(done)
			for _, d := range deps {
				select {
				case <-d:
				case <-ctx.Done():
					return
				}
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			var traits json.RawMessage
			if ev.Type == TypeIdentify {
				traits = ev.Traits
			}
			profile, err := l.resolver.Resolve(WithEvent(ctx, ev.Context, ev.MessageID), ev.Identifiers, traits, ev.OccurredAt)
			var invalid *apierror.InvalidError
			switch {
			case err == nil:
				ev.ProfileID = profile
			case errors.As(err, &invalid):
				out[i] = rejection(invalid)
			default:
				fail(err)
			}
		})
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		return err
	}
	if fatal != nil {
		l.logger.WarnContext(parent, "profile resolution failed; batch not stored", "error", fatal)
		return fmt.Errorf("%w; nothing was stored, retry the batch", ErrProfileUnavailable)
	}
	return nil
}

// primary is the event of a batch whose resolution later events with the
// same identifiers share.
type primary struct {
	index int
	done  chan struct{}
}

// identifiersKey identifies an ordered list of identifiers.
func identifiersKey(ids []Identifier) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id.Type)
		b.WriteByte(0)
		b.WriteString(id.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// untouched reports whether the last event scheduled for each of ids had
// exactly the identifiers key: no event in between linked any of them to
// other identifiers (which could have merged their profile into another).
func untouched(ids []Identifier, lastKey map[Identifier]string, key string) bool {
	for _, id := range ids {
		if lastKey[id] != key {
			return false
		}
	}
	return true
}

func rejection(invalid *apierror.InvalidError) Outcome {
	o := Outcome{Status: StatusRejected, Reason: invalid.Error()}
	if len(invalid.Violations) > 0 {
		o.Field = invalid.Violations[0].Field
		o.Reason = invalid.Violations[0].Description
	}
	return o
}

// LookupProfile returns the id of the profile that holds id.
func (l *Log) LookupProfile(ctx context.Context, id Identifier) (string, error) {
	return l.resolver.Lookup(ctx, id)
}

// ListProfile returns at most limit events of a profile after sequence
// after, oldest first.
func (l *Log) ListProfile(ctx context.Context, profileID string, after int64, limit int) ([]Event, error) {
	return l.store.ListProfile(ctx, profileID, after, limit)
}

// ReadAfter returns at most limit events after sequence after, in log order.
func (l *Log) ReadAfter(ctx context.Context, after int64, limit int) ([]Event, error) {
	return l.store.ReadAfter(ctx, after, limit)
}
