package segment

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/barista-cdp/barista/pkg/feed"
	"github.com/barista-cdp/barista/pkg/telemetry"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// TracerName is the instrumentation scope of the segment service's own
// spans, which continue the traces of the events they apply.
const TracerName = "github.com/barista-cdp/barista/services/segment"

// ReasonCreated is the reason of the changes of a segment's backfill.
const ReasonCreated = "segment created"

const (
	// backfillBatch is how many profiles a backfill evaluates at a time.
	backfillBatch = 500
	// watchBatch is the most changes one read of a watcher returns.
	watchBatch = 500
)

// Event is a delivered event, as the segment service applies it.
type Event struct {
	// Seq is the event's position in the event log.
	Seq int64
	// Resource is the event's resource name, "events/{event}".
	Resource string
	// Profile is the resource name of the profile the event belongs to.
	Profile string
	// Name is the event name ("Order Completed"); empty for calls without
	// one, such as identify.
	Name string
	// Time is when the event happened.
	Time time.Time
	// Numbers holds the event's numeric top-level properties.
	Numbers map[string]float64
	// Identify marks identify calls, whose Traits update the profile's: a
	// shallow merge in which a nil value removes the trait.
	Identify bool
	Traits   map[string]any
	// TraceContext is the W3C trace context of the ingest call.
	TraceContext map[string]string
}

// Options adjusts an Engine.
type Options struct {
	// Now is the clock evaluation uses; time.Now when nil.
	Now func() time.Time
	// Logger receives evaluation problems; slog.Default when nil.
	Logger *slog.Logger
}

// Engine evaluates profiles against segments and keeps memberships and the
// change log in a Store.
type Engine struct {
	store   Store
	now     func() time.Time
	logger  *slog.Logger
	changed *feed.Signal

	mu       sync.Mutex
	compiled map[string]*condition.Condition
}

// NewEngine returns an Engine over store.
func NewEngine(store Store, opts Options) *Engine {
	e := &Engine{store: store, now: opts.Now, logger: opts.Logger, changed: feed.NewSignal(), compiled: map[string]*condition.Condition{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	return e
}

// clock returns now at the precision every store keeps.
func (e *Engine) clock() time.Time {
	return e.now().UTC().Truncate(time.Microsecond)
}

// Compile compiles a condition, caching it by source.
func (e *Engine) Compile(src string) (*condition.Condition, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.compiled[src]; ok {
		return c, nil
	}
	c, err := condition.Compile(src)
	if err != nil {
		return nil, err
	}
	e.compiled[src] = c
	return c, nil
}

// CreateSegment stores a new segment at revision 1 and, in the same
// transaction, evaluates every known profile against it, recording an
// entered change for each member. It returns an error wrapping ErrExists
// when the id is taken, or a *condition.Error when the condition does not
// compile.
func (e *Engine) CreateSegment(ctx context.Context, s Segment) (Segment, error) {
	cond, err := e.Compile(s.Condition)
	if err != nil {
		return Segment{}, err
	}
	now := e.clock()
	s.Revision, s.CreateTime, s.UpdateTime = 1, now, now
	traceContext := telemetry.Inject(ctx)
	recorded := 0
	err = e.store.Update(ctx, func(tx Tx) error {
		recorded = 0
		if err := tx.CreateSegment(ctx, s); err != nil {
			return err
		}
		for after := ""; ; {
			profiles, err := tx.ProfilePage(ctx, after, backfillBatch, cond.EventNames())
			if err != nil {
				return err
			}
			if len(profiles) == 0 {
				return nil
			}
			var changes []Change
			for _, p := range profiles {
				if e.matches(ctx, s, cond, factsOf(p), now) {
					changes = append(changes, Change{
						Segment: s.ID, Profile: p.Name, Kind: Entered, Time: now, Revision: s.Revision,
						Reason: ReasonCreated, TraceContext: traceContext,
					})
				}
			}
			if _, err := tx.Record(ctx, changes); err != nil {
				return err
			}
			recorded += len(changes)
			after = profiles[len(profiles)-1].Name
		}
	})
	if err != nil {
		return Segment{}, err
	}
	if recorded > 0 {
		e.changed.Notify()
	}
	return s, nil
}

// GetSegment returns a segment or an error wrapping ErrNotFound.
func (e *Engine) GetSegment(ctx context.Context, id string) (Segment, error) {
	return e.store.GetSegment(ctx, id)
}

// ListSegments returns up to limit segments after the id after, by id.
func (e *Engine) ListSegments(ctx context.Context, after string, limit int) ([]Segment, error) {
	return e.store.ListSegments(ctx, after, limit)
}

// ListMembers returns up to limit members of an existing segment with
// profiles after after, by profile.
func (e *Engine) ListMembers(ctx context.Context, segment, after string, limit int) ([]Membership, error) {
	if _, err := e.store.GetSegment(ctx, segment); err != nil {
		return nil, err
	}
	return e.store.ListMembers(ctx, segment, after, limit)
}

// ProfileMemberships returns a profile's memberships by segment; none for
// a profile the service has not seen.
func (e *Engine) ProfileMemberships(ctx context.Context, profile string) ([]Membership, error) {
	return e.store.ProfileMemberships(ctx, profile)
}

// Watch sends the changes after position after, in order and in batches,
// then follows new changes until ctx ends or send fails. When segments is
// not empty, only their changes are sent.
func (e *Engine) Watch(ctx context.Context, after int64, segments []string, send func([]Change) error) error {
	read := func(ctx context.Context, after int64) ([]Change, int64, error) {
		changes, err := e.store.ReadChanges(ctx, after, watchBatch, segments)
		if err != nil || len(changes) == 0 {
			return nil, after, err
		}
		return changes, changes[len(changes)-1].Seq, nil
	}
	return feed.Tail(ctx, after, e.changed, read, send)
}

// Cursor returns the position in the event log of the last event applied.
func (e *Engine) Cursor(ctx context.Context) (int64, error) {
	return e.store.Cursor(ctx)
}

// profileState is a profile being re-evaluated while events are applied.
type profileState struct {
	profile     *Profile
	facts       condition.Facts
	memberships map[string]Membership
}

// ApplyEvents applies delivered events, in log order, in one transaction:
// events at or before the stored cursor are skipped (they were applied
// before); the others' facts and traits are stored, each event's profile is
// re-evaluated against every segment after it, the membership changes are
// recorded, and the cursor advances to the last event. Applying the same
// events again changes nothing.
func (e *Engine) ApplyEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	recorded := 0
	err := e.store.Update(ctx, func(tx Tx) error {
		recorded = 0
		cursor, err := tx.Cursor(ctx)
		if err != nil {
			return err
		}
		var fresh []Event
		for _, ev := range events {
			if ev.Seq > cursor {
				fresh = append(fresh, ev)
				cursor = ev.Seq
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		segments, conds, names, err := e.segments(ctx, tx)
		if err != nil {
			return err
		}
		states, order, err := e.load(ctx, tx, fresh, names)
		if err != nil {
			return err
		}

		now := e.clock()
		var facts []Fact
		var changes []Change
		for _, ev := range fresh {
			st := states[ev.Profile]
			if st == nil {
				continue
			}
			evCtx, span := otel.Tracer(TracerName).Start(telemetry.Extract(ctx, ev.TraceContext), "segment.ApplyEvent",
				trace.WithAttributes(attribute.String("barista.event", ev.Resource), attribute.String("barista.profile", ev.Profile)))
			if ev.Identify {
				st.profile.Traits = mergeTraits(st.profile.Traits, ev.Traits)
				st.facts.Traits = st.profile.Traits
			}
			if ev.Name != "" {
				f := Fact{Profile: ev.Profile, Seq: ev.Seq, Event: condition.Event{
					Name: ev.Name, Time: ev.Time.UTC().Truncate(time.Microsecond), Numbers: ev.Numbers,
				}}
				facts = append(facts, f)
				st.facts.Add(f.Event)
			}
			evChanges := e.diff(evCtx, st, segments, conds, now, "event "+ev.Resource, telemetry.Inject(evCtx))
			span.SetAttributes(attribute.Int("barista.membership_changes", len(evChanges)))
			span.End()
			changes = append(changes, evChanges...)
		}

		profiles := make([]*Profile, len(order))
		for i, name := range order {
			profiles[i] = states[name].profile
		}
		if err := tx.SaveProfiles(ctx, profiles); err != nil {
			return err
		}
		if err := tx.AddFacts(ctx, facts); err != nil {
			return err
		}
		if _, err := tx.Record(ctx, changes); err != nil {
			return err
		}
		recorded = len(changes)
		return tx.SetCursor(ctx, cursor)
	})
	if err != nil {
		return err
	}
	if recorded > 0 {
		e.changed.Notify()
	}
	return nil
}

// segments returns every segment with its compiled condition, and the event
// names the conditions depend on.
func (e *Engine) segments(ctx context.Context, tx Tx) ([]Segment, []*condition.Condition, []string, error) {
	segments, err := tx.Segments(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	conds := make([]*condition.Condition, len(segments))
	seen := map[string]bool{}
	var names []string
	for i, s := range segments {
		c, err := e.Compile(s.Condition)
		if err != nil {
			// Conditions are checked when stored; one that no longer compiles
			// must not stop every other segment.
			e.logger.ErrorContext(ctx, "stored segment condition does not compile", "segment", s.ID, "error", err)
			continue
		}
		conds[i] = c
		for _, n := range c.EventNames() {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return segments, conds, names, nil
}

// load returns the state of every profile of events, known or new, with
// its facts of the event names and its memberships, and the profiles in
// order of first appearance.
func (e *Engine) load(ctx context.Context, tx Tx, events []Event, names []string) (map[string]*profileState, []string, error) {
	var order []string
	seen := map[string]bool{}
	for _, ev := range events {
		if ev.Profile != "" && !seen[ev.Profile] {
			seen[ev.Profile] = true
			order = append(order, ev.Profile)
		}
	}
	known, err := tx.Profiles(ctx, order, names)
	if err != nil {
		return nil, nil, err
	}
	memberships, err := tx.Memberships(ctx, order)
	if err != nil {
		return nil, nil, err
	}
	states := make(map[string]*profileState, len(order))
	for _, name := range order {
		p := known[name]
		if p == nil {
			p = &Profile{Name: name, Traits: map[string]any{}}
		}
		states[name] = &profileState{profile: p, facts: *factsOf(p), memberships: map[string]Membership{}}
	}
	for _, m := range memberships {
		if st := states[m.Profile]; st != nil {
			st.memberships[m.Segment] = m
		}
	}
	return states, order, nil
}

// diff evaluates a profile against every segment and returns the changes
// from its current memberships, which it updates.
func (e *Engine) diff(ctx context.Context, st *profileState, segments []Segment, conds []*condition.Condition, now time.Time, reason string, traceContext map[string]string) []Change {
	var changes []Change
	for i, s := range segments {
		if conds[i] == nil {
			continue
		}
		member := e.matches(ctx, s, conds[i], &st.facts, now)
		_, was := st.memberships[s.ID]
		switch {
		case member && !was:
			st.memberships[s.ID] = Membership{Segment: s.ID, Profile: st.profile.Name, EnterTime: now, Revision: s.Revision}
			changes = append(changes, Change{Segment: s.ID, Profile: st.profile.Name, Kind: Entered, Time: now,
				Revision: s.Revision, Reason: reason, TraceContext: traceContext})
		case !member && was:
			delete(st.memberships, s.ID)
			changes = append(changes, Change{Segment: s.ID, Profile: st.profile.Name, Kind: Exited, Time: now,
				Revision: s.Revision, Reason: reason, TraceContext: traceContext})
		}
	}
	return changes
}

// matches evaluates one condition; a failed evaluation (a missing trait
// compared, the cost limit exceeded) means the profile does not match.
func (e *Engine) matches(ctx context.Context, s Segment, cond *condition.Condition, facts *condition.Facts, now time.Time) bool {
	ok, err := cond.Eval(facts, now)
	if err != nil {
		e.logger.DebugContext(ctx, "condition did not evaluate; not a member", "segment", s.ID, "error", err)
		return false
	}
	return ok
}

func factsOf(p *Profile) *condition.Facts {
	f := &condition.Facts{Traits: p.Traits}
	for _, ev := range p.Events {
		f.Add(ev.Event)
	}
	return f
}

// mergeTraits returns traits updated by update: a shallow merge in which a
// nil value removes the trait. traits is not modified.
func mergeTraits(traits, update map[string]any) map[string]any {
	merged := maps.Clone(traits)
	if merged == nil {
		merged = map[string]any{}
	}
	for k, v := range update {
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	return merged
}

// String describes a change for logs and test failures.
func (c Change) String() string {
	return fmt.Sprintf("#%d %s segments/%s %s (%s)", c.Seq, c.Kind, c.Segment, c.Profile, c.Reason)
}
