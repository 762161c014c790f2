package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/feed"
	"github.com/barista-cdp/barista/pkg/telemetry"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// TracerName is the instrumentation scope of the segment service's own
// spans, which continue the traces of the events they apply.
const TracerName = "github.com/barista-cdp/barista/services/segment"

// Reasons of membership changes not caused by an event.
const (
	// ReasonCreated is the reason of the changes of a segment's backfill.
	ReasonCreated = "segment created"
	// ReasonUpdated is the reason of the changes of the backfill of a
	// segment's new condition.
	ReasonUpdated = "segment updated"
	// ReasonTime is the reason of the changes found by the scheduler: time
	// passing alone changed the profile's membership.
	ReasonTime = "time"
	// ReasonArchived is the reason of the exits of an archived segment's
	// members, and of the changes its exclusive group sees without it.
	ReasonArchived = "segment archived"
)

const (
	// backfillBatch is how many profiles a backfill evaluates at a time.
	backfillBatch = 500
	// CheckBatch is the most profiles one run of the scheduler evaluates in
	// one transaction.
	CheckBatch = 500
	// maxSchedulerSleep bounds how long the scheduler waits without looking
	// at the store, so that checks scheduled by other replicas sharing the
	// store are honored within it.
	maxSchedulerSleep = time.Second
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
	// Strings holds the event's string top-level properties.
	Strings map[string]string
	// Flags holds the event's boolean top-level properties.
	Flags map[string]bool
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
	// scheduled wakes the scheduler when checks are scheduled.
	scheduled *feed.Signal

	mu       sync.Mutex
	compiled map[string]*condition.Condition
}

// NewEngine returns an Engine over store.
func NewEngine(store Store, opts Options) *Engine {
	e := &Engine{store: store, now: opts.Now, logger: opts.Logger, changed: feed.NewSignal(), scheduled: feed.NewSignal(), compiled: map[string]*condition.Condition{}}
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

// CreateSegment stores a new segment at revision 1 (with s.Author and
// s.Reason) and, in the same transaction, evaluates every known profile
// against it, recording an entered change for each member, together with
// the other segments of its exclusive group and the segments that test it.
// It returns an error wrapping ErrExists when the id is taken, a
// *condition.Error when the condition does not compile, or an
// *apierror.InvalidError when it tests an unknown segment or closes a cycle.
func (e *Engine) CreateSegment(ctx context.Context, s Segment) (Segment, error) {
	if _, err := e.Compile(s.Condition); err != nil {
		return Segment{}, err
	}
	now := e.clock()
	s.Revision, s.CreateTime, s.UpdateTime = 1, now, now
	var result backfillResult
	err := e.store.Update(ctx, func(tx Tx) error {
		segments, err := tx.Segments(ctx)
		if err != nil {
			return err
		}
		if err := tx.CreateSegment(ctx, s); err != nil {
			return err
		}
		p, err := e.planWith(append(active(segments), s), s.ID)
		if err != nil {
			return err
		}
		result, err = e.backfill(ctx, tx, p, p.affected(s.ID), now, ReasonCreated)
		return err
	})
	if err != nil {
		return Segment{}, err
	}
	e.notify(result)
	return s, nil
}

// SegmentUpdate is a change to a segment's definition; nil fields keep
// their value.
type SegmentUpdate struct {
	ID          string
	Condition   *string
	DisplayName *string
	Description *string
	// Group and Priority move the segment to another exclusive group ("" for
	// none) or to another place in its group.
	Group    *string
	Priority *int32
	// Author and Reason say who makes the change and why.
	Author string
	Reason string
}

// UpdateSegment stores a new revision of a segment and, when its condition
// changes, evaluates every known profile against it in the same
// transaction, recording the changes with the reason "segment updated"
// under the new revision; so it does when its exclusive group or priority
// changes, and for the segments of its groups and those that test it. It
// returns an error wrapping ErrNotFound for an unknown segment, a
// *condition.Error when the condition does not compile, or an
// *apierror.InvalidError when it tests an unknown segment or closes a
// cycle.
func (e *Engine) UpdateSegment(ctx context.Context, u SegmentUpdate) (Segment, error) {
	if u.Condition != nil {
		if _, err := e.Compile(*u.Condition); err != nil {
			return Segment{}, err
		}
	}
	now := e.clock()
	var updated Segment
	var result backfillResult
	err := e.store.Update(ctx, func(tx Tx) error {
		result = backfillResult{}
		segments, err := tx.Segments(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(segments, func(s Segment) bool { return s.ID == u.ID })
		if i < 0 {
			return fmt.Errorf("%w: segments/%s", ErrNotFound, u.ID)
		}
		s := segments[i]
		if s.Archived() {
			return fmt.Errorf("segments/%s is archived and cannot be updated: %w", s.ID, apierror.ErrFailedPrecondition)
		}
		old := s
		for _, f := range []struct{ to, from *string }{{&s.Condition, u.Condition}, {&s.DisplayName, u.DisplayName}, {&s.Description, u.Description}, {&s.Group, u.Group}} {
			if f.from != nil {
				*f.to = *f.from
			}
		}
		if u.Priority != nil {
			s.Priority = *u.Priority
		}
		s.Revision++
		s.UpdateTime, s.Author, s.Reason = now, u.Author, u.Reason
		if err := tx.UpdateSegment(ctx, s); err != nil {
			return err
		}
		updated = s
		segments[i] = s
		p, err := e.planWith(active(segments), s.ID)
		if err != nil {
			return err
		}
		if s.Condition == old.Condition && s.Group == old.Group && s.Priority == old.Priority {
			return nil
		}
		// The old group loses a member: its winners may change too.
		seeds := []string{s.ID}
		for _, o := range segments {
			if old.Group != "" && o.Group == old.Group {
				seeds = append(seeds, o.ID)
			}
		}
		result, err = e.backfill(ctx, tx, p, p.affected(seeds...), now, ReasonUpdated)
		return err
	})
	if err != nil {
		return Segment{}, err
	}
	e.notify(result)
	return updated, nil
}

// ArchiveSegment archives a segment in a new revision (with author and
// reason): it is no longer evaluated, and its members exit with the reason
// "segment archived" under that revision, in the same transaction, as the
// other segments of its exclusive group are evaluated without it. Its
// definition and history stay readable. It returns an error wrapping
// ErrNotFound for an unknown segment, or wrapping
// apierror.ErrFailedPrecondition when it is already archived or other
// segments test it with in_segment, naming them.
func (e *Engine) ArchiveSegment(ctx context.Context, id, author, reason string) (Segment, error) {
	now := e.clock()
	var archived Segment
	var result backfillResult
	err := e.store.Update(ctx, func(tx Tx) error {
		result = backfillResult{}
		segments, err := tx.Segments(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(segments, func(s Segment) bool { return s.ID == id })
		if i < 0 {
			return fmt.Errorf("%w: segments/%s", ErrNotFound, id)
		}
		s := segments[i]
		if s.Archived() {
			return fmt.Errorf("segments/%s is already archived: %w", id, apierror.ErrFailedPrecondition)
		}
		if users := e.testedBy(active(segments), id); len(users) > 0 {
			return fmt.Errorf("segments/%s is tested with in_segment by %s; change or archive them first: %w",
				id, strings.Join(users, ", "), apierror.ErrFailedPrecondition)
		}
		s.Revision++
		s.UpdateTime, s.ArchiveTime, s.Author, s.Reason = now, now, author, reason
		if err := tx.UpdateSegment(ctx, s); err != nil {
			return err
		}
		archived = s
		segments[i] = s
		members, err := tx.Members(ctx, id)
		if err != nil {
			return err
		}
		traceContext := telemetry.Inject(ctx)
		changes := make([]Change, len(members))
		for j, m := range members {
			changes[j] = Change{Segment: id, Profile: m.Profile, Kind: Exited, Time: now, Revision: s.Revision, Reason: ReasonArchived, TraceContext: traceContext}
		}
		if _, err := tx.Record(ctx, changes); err != nil {
			return err
		}
		result.recorded = len(changes)
		if s.Group == "" {
			return nil
		}
		// The group loses a segment: the members it took may now match
		// another segment of the group.
		var seeds []string
		for _, o := range active(segments) {
			if o.Group == s.Group {
				seeds = append(seeds, o.ID)
			}
		}
		if len(seeds) == 0 {
			return nil
		}
		p, err := e.planWith(active(segments), "")
		if err != nil {
			return err
		}
		more, err := e.backfill(ctx, tx, p, p.affected(seeds...), now, ReasonArchived)
		result.recorded += more.recorded
		result.scheduled = more.scheduled
		return err
	})
	if err != nil {
		return Segment{}, err
	}
	e.notify(result)
	return archived, nil
}

// testedBy returns the ids of the segments whose conditions test the
// segment id with in_segment, by id.
func (e *Engine) testedBy(segments []Segment, id string) []string {
	var users []string
	for _, s := range segments {
		c, err := e.Compile(s.Condition)
		if err != nil || s.ID == id {
			continue
		}
		if slices.Contains(c.Segments(), id) {
			users = append(users, "segments/"+s.ID)
		}
	}
	return users
}

// active returns the segments that are not archived, which are the ones
// evaluated.
func active(segments []Segment) []Segment {
	return slices.DeleteFunc(slices.Clone(segments), Segment.Archived)
}

// backfillResult says what a backfill wrote.
type backfillResult struct {
	recorded  int
	scheduled bool
}

// backfill evaluates every known profile against the affected segments
// of p, in its order, records the changes from their current members, and
// schedules the checks that their conditions add. The store does it when
// it can (see BackfillPusher).
func (e *Engine) backfill(ctx context.Context, tx Tx, p *plan, affected map[string]bool, now time.Time, reason string) (backfillResult, error) {
	traceContext := telemetry.Inject(ctx)
	if result, pushed, err := e.pushBackfill(ctx, tx, p, affected, now, reason, traceContext); pushed || err != nil {
		return result, err
	}
	var result backfillResult
	var conds []*condition.Condition
	seen := map[string]bool{}
	var names []string
	for i, s := range p.segments {
		if !affected[s.ID] || p.conds[i] == nil {
			continue
		}
		conds = append(conds, p.conds[i])
		for _, n := range p.conds[i].EventNames() {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	for after := ""; ; {
		profiles, err := tx.ProfilePage(ctx, after, backfillBatch, names)
		if err != nil || len(profiles) == 0 {
			return result, err
		}
		if err := e.evaluatePage(ctx, tx, p, profiles, affected, conds, now, reason, traceContext, &result); err != nil {
			return result, err
		}
		after = profiles[len(profiles)-1].Name
	}
}

// evaluatePage evaluates profiles against the affected segments of p,
// records the changes from their current members, schedules the checks that
// conds add, and adds what it wrote to result.
func (e *Engine) evaluatePage(ctx context.Context, tx Tx, p *plan, profiles []*Profile, affected map[string]bool, conds []*condition.Condition, now time.Time, reason string, traceContext map[string]string, result *backfillResult) error {
	states, err := e.states(ctx, tx, profiles)
	if err == nil {
		err = addScores(ctx, tx, p, states)
	}
	if err != nil {
		return err
	}
	var changes []Change
	var checks []Check
	for _, pr := range profiles {
		st := states[pr.Name]
		changes = append(changes, e.diff(ctx, st, p, affected, now, reason, traceContext)...)
		// The stored check covers the other segments; the earlier of the
		// two covers them all. A check that the conditions no longer need
		// costs one evaluation that finds nothing.
		if at := nextCheck(&st.facts, conds, now); !at.IsZero() && (pr.NextCheck.IsZero() || at.Before(pr.NextCheck)) {
			checks = append(checks, Check{Profile: pr.Name, At: at})
		}
	}
	if _, err := tx.Record(ctx, changes); err != nil {
		return err
	}
	if err := tx.SetNextChecks(ctx, checks); err != nil {
		return err
	}
	result.recorded += len(changes)
	result.scheduled = result.scheduled || len(checks) > 0
	return nil
}

// states returns the evaluation state of profiles, with their current
// memberships, by name.
func (e *Engine) states(ctx context.Context, tx Tx, profiles []*Profile) (map[string]*profileState, error) {
	names := make([]string, len(profiles))
	states := make(map[string]*profileState, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
		states[p.Name] = &profileState{profile: p, facts: *factsOf(p), memberships: map[string]Membership{}}
	}
	memberships, err := tx.Memberships(ctx, names)
	if err != nil {
		return nil, err
	}
	for _, m := range memberships {
		if st := states[m.Profile]; st != nil {
			st.memberships[m.Segment] = m
		}
	}
	return states, nil
}

// notify wakes the watchers and the scheduler after a backfill.
func (e *Engine) notify(r backfillResult) {
	if r.recorded > 0 {
		e.changed.Notify()
	}
	if r.scheduled {
		e.scheduled.Notify()
	}
}

// GetRevision returns a segment as it was at a revision, or an error
// wrapping ErrNotFound or ErrRevisionNotFound.
func (e *Engine) GetRevision(ctx context.Context, id string, revision int64) (Segment, error) {
	return e.store.GetRevision(ctx, id, revision)
}

// ListRevisions returns up to limit revisions of an existing segment older
// than before (all when before is 0), newest first.
func (e *Engine) ListRevisions(ctx context.Context, id string, before int64, limit int) ([]Segment, error) {
	if _, err := e.store.GetSegment(ctx, id); err != nil {
		return nil, err
	}
	return e.store.ListRevisions(ctx, id, before, limit)
}

// ListChanges returns up to limit membership changes after position after,
// in order, of a segment and of a profile; either may be empty for any. It
// returns an error wrapping ErrNotFound when the segment is named but
// unknown.
func (e *Engine) ListChanges(ctx context.Context, segment, profile string, after int64, limit int) ([]Change, error) {
	if segment != "" {
		if _, err := e.store.GetSegment(ctx, segment); err != nil {
			return nil, err
		}
	}
	return e.store.ListChanges(ctx, segment, profile, after, limit)
}

// Preview is what a segment with a condition would hold now.
type Preview struct {
	// Size is the number of matching profiles.
	Size int64
	// Total is the number of known profiles.
	Total int64
	// Sample holds the first matching profiles, by name.
	Sample []string
}

// Share returns Size / Total; 0 when there are no profiles.
func (p Preview) Share() float64 {
	if p.Total == 0 {
		return 0
	}
	return float64(p.Size) / float64(p.Total)
}

// PreviewSegment evaluates a condition against every known profile without
// writing anything, and returns the size the segment would have and up to
// sample members. It returns a *condition.Error when the condition does
// not compile, or an *apierror.InvalidError when it tests an unknown
// segment. in_segment sees the stored memberships.
func (e *Engine) PreviewSegment(ctx context.Context, src string, sample int) (Preview, error) {
	cond, err := e.Compile(src)
	if err != nil {
		return Preview{}, err
	}
	for _, call := range cond.Calls() {
		if call.Segment == "" {
			continue
		}
		if _, err := e.store.GetSegment(ctx, call.Segment); errors.Is(err, ErrNotFound) {
			return Preview{}, apierror.Invalid("condition", "%d:%d: in_segment(%q): there is no segment %q", call.Line, call.Column, call.Segment, call.Segment)
		} else if err != nil {
			return Preview{}, err
		}
	}
	now := e.clock()
	preview := Segment{ID: "preview", Condition: src}
	var out Preview
	for after := ""; ; {
		profiles, err := e.store.ProfilePage(ctx, after, backfillBatch, cond.EventNames())
		if err != nil {
			return Preview{}, err
		}
		if len(profiles) == 0 {
			return out, nil
		}
		names := make([]string, len(profiles))
		for i, p := range profiles {
			names[i] = p.Name
		}
		scores, err := loadScores(ctx, e.store, cond.UsesRFM(), cond.UsesStore(), names)
		if err != nil {
			return Preview{}, err
		}
		for _, p := range profiles {
			out.Total++
			facts := factsOf(p)
			scores.add(facts, p.Name)
			if len(cond.Segments()) > 0 {
				ms, err := e.store.ProfileMemberships(ctx, p.Name)
				if err != nil {
					return Preview{}, err
				}
				facts.InSegment = func(id string) bool {
					return slices.ContainsFunc(ms, func(m Membership) bool { return m.Segment == id })
				}
			}
			if e.matches(ctx, preview, cond, facts, now) {
				out.Size++
				if len(out.Sample) < sample {
					out.Sample = append(out.Sample, p.Name)
				}
			}
		}
		after = profiles[len(profiles)-1].Name
	}
}

// GetSegment returns a segment or an error wrapping ErrNotFound.
func (e *Engine) GetSegment(ctx context.Context, id string) (Segment, error) {
	return e.store.GetSegment(ctx, id)
}

// ListSegments returns up to limit segments after the id after, by id;
// the archived ones only when archived is true.
func (e *Engine) ListSegments(ctx context.Context, after string, limit int, archived bool) ([]Segment, error) {
	return e.store.ListSegments(ctx, after, limit, archived)
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

// NextCheck returns when the scheduler next has a profile to evaluate; zero
// when no profile is scheduled.
func (e *Engine) NextCheck(ctx context.Context) (time.Time, error) {
	return e.store.NextCheck(ctx)
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
	// stored tells that the store holds the profile with its traits as
	// they are in profile.
	stored bool
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
	recorded, scheduled := 0, false
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
		p, err := e.segments(ctx, tx)
		if err != nil {
			return err
		}
		states, order, err := e.load(ctx, tx, fresh, p.names)
		if err == nil {
			err = addScores(ctx, tx, p, states)
		}
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
				st.stored = false
			}
			if ev.Name != "" {
				f := Fact{Profile: ev.Profile, Seq: ev.Seq, Event: condition.Event{
					Name: ev.Name, Time: ev.Time.UTC().Truncate(time.Microsecond), Numbers: ev.Numbers, Strings: ev.Strings, Flags: ev.Flags,
				}}
				facts = append(facts, f)
				st.facts.Add(f.Event)
			}
			evChanges := e.diff(evCtx, st, p, nil, now, "event "+ev.Resource, telemetry.Inject(evCtx))
			span.SetAttributes(attribute.Int("barista.membership_changes", len(evChanges)))
			span.End()
			changes = append(changes, evChanges...)
		}

		// A stored profile whose traits and next check are unchanged is not
		// written again.
		var profiles []*Profile
		scheduled = false
		for _, name := range order {
			st := states[name]
			at := nextCheck(&st.facts, p.conds, now)
			scheduled = scheduled || !at.IsZero()
			if !st.stored || !at.Equal(st.profile.NextCheck) {
				st.profile.NextCheck = at
				profiles = append(profiles, st.profile)
			}
		}
		if _, err := tx.WriteEvents(ctx, EventWrites{Profiles: profiles, Facts: facts, Changes: changes, Cursor: cursor}); err != nil {
			return err
		}
		recorded = len(changes)
		return nil
	})
	if err != nil {
		return err
	}
	if recorded > 0 {
		e.changed.Notify()
	}
	if scheduled {
		e.scheduled.Notify()
	}
	return nil
}

// nextCheck returns the first instant after now at which time alone can
// change the value of one of conds over facts; zero when none can.
func nextCheck(facts *condition.Facts, conds []*condition.Condition, now time.Time) time.Time {
	var next time.Time
	for _, c := range conds {
		if c == nil {
			continue
		}
		if at := c.NextChange(facts, now); !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// CheckDue evaluates, in one transaction, up to CheckBatch profiles whose
// scheduled check has come, against every segment; records the changes
// with reason "time"; and schedules each profile's next check. It returns
// how many profiles it evaluated: CheckBatch means more may be due.
func (e *Engine) CheckDue(ctx context.Context) (int, error) {
	evaluated, recorded := 0, 0
	err := e.store.Update(ctx, func(tx Tx) error {
		evaluated, recorded = 0, 0
		now := e.clock()
		due, err := tx.DueProfiles(ctx, now, CheckBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		p, err := e.segments(ctx, tx)
		if err != nil {
			return err
		}
		known, err := tx.Profiles(ctx, due, p.names)
		if err != nil {
			return err
		}
		memberships, err := tx.Memberships(ctx, due)
		if err != nil {
			return err
		}
		scores, err := loadScores(ctx, tx, len(p.rfm) > 0, len(p.store) > 0, due)
		if err != nil {
			return err
		}
		byProfile := map[string]map[string]Membership{}
		for _, m := range memberships {
			if byProfile[m.Profile] == nil {
				byProfile[m.Profile] = map[string]Membership{}
			}
			byProfile[m.Profile][m.Segment] = m
		}
		traceContext := telemetry.Inject(ctx)
		var changes []Change
		checks := make([]Check, 0, len(due))
		for _, name := range due {
			pr := known[name]
			if pr == nil {
				continue
			}
			st := &profileState{profile: pr, facts: *factsOf(pr), memberships: byProfile[name]}
			scores.add(&st.facts, name)
			if st.memberships == nil {
				st.memberships = map[string]Membership{}
			}
			changes = append(changes, e.diff(ctx, st, p, nil, now, ReasonTime, traceContext)...)
			checks = append(checks, Check{Profile: name, At: nextCheck(&st.facts, p.conds, now)})
		}
		if err := tx.SetNextChecks(ctx, checks); err != nil {
			return err
		}
		if _, err := tx.Record(ctx, changes); err != nil {
			return err
		}
		evaluated, recorded = len(due), len(changes)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if recorded > 0 {
		e.changed.Notify()
	}
	return evaluated, nil
}

// RunScheduler re-evaluates profiles as their scheduled checks come, until
// ctx ends. It reads the earliest check without taking the write lock and
// evaluates the due profiles in batches when it has come; otherwise it
// sleeps until then, until a new check is scheduled, or for at most a
// second.
func (e *Engine) RunScheduler(ctx context.Context) error {
	for {
		wake := e.scheduled.C()
		sleep := maxSchedulerSleep
		next, err := e.store.NextCheck(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			e.logger.ErrorContext(ctx, "reading the next check failed; retrying", "error", err)
		case next.IsZero():
		case !next.After(e.clock()):
			if _, err := e.CheckDue(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				e.logger.ErrorContext(ctx, "time-driven evaluation failed; retrying", "error", err)
				break
			}
			continue
		default:
			sleep = min(sleep, next.Sub(e.clock()))
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// segments returns every segment with its compiled condition, in the
// order of evaluation. Definitions are checked when stored; a condition
// that no longer compiles or no longer fits the others (which the checks
// prevent) is left out and logged, and must not stop every other segment.
func (e *Engine) segments(ctx context.Context, tx Tx) (*plan, error) {
	segments, err := tx.Segments(ctx)
	if err != nil {
		return nil, err
	}
	segments = active(segments)
	conds := make([]*condition.Condition, len(segments))
	for i, s := range segments {
		c, err := e.Compile(s.Condition)
		if err != nil {
			e.logger.ErrorContext(ctx, "stored segment condition does not compile", "segment", s.ID, "error", err)
			continue
		}
		conds[i] = c
	}
	for {
		p, err := newPlan(segments, conds, "")
		var pe *PlanError
		if !errors.As(err, &pe) {
			return p, err
		}
		e.logger.ErrorContext(ctx, "stored segment condition cannot be evaluated with the others", "segment", pe.Segment, "error", err)
		conds[slices.IndexFunc(segments, func(s Segment) bool { return s.ID == pe.Segment })] = nil
	}
}

// planWith returns the plan of segments, which include the segment being
// written, written, or the InvalidArgument error that says why its
// definition does not fit the others.
func (e *Engine) planWith(segments []Segment, written string) (*plan, error) {
	segments = slices.Clone(segments)
	slices.SortFunc(segments, func(a, b Segment) int { return strings.Compare(a.ID, b.ID) })
	conds := make([]*condition.Condition, len(segments))
	for i, s := range segments {
		c, err := e.Compile(s.Condition)
		if err != nil {
			if s.ID == written {
				return nil, err
			}
			continue
		}
		conds[i] = c
	}
	p, err := newPlan(segments, conds, written)
	var pe *PlanError
	if errors.As(err, &pe) {
		return nil, pe.invalid(written)
	}
	return p, err
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
		p, stored := known[name]
		if !stored {
			p = &Profile{Name: name, Traits: map[string]any{}}
		}
		states[name] = &profileState{profile: p, facts: *factsOf(p), memberships: map[string]Membership{}, stored: stored}
	}
	for _, m := range memberships {
		if st := states[m.Profile]; st != nil {
			st.memberships[m.Segment] = m
		}
	}
	return states, order, nil
}

// diff evaluates a profile against the segments of p in its order (only
// those in only, unless only is nil) and returns the changes from its
// current memberships, which it updates as it goes: in_segment sees the
// memberships of the segments evaluated before. In an exclusive group the
// profile is a member of the first segment it matches, by priority.
func (e *Engine) diff(ctx context.Context, st *profileState, p *plan, only map[string]bool, now time.Time, reason string, traceContext map[string]string) []Change {
	st.facts.InSegment = func(id string) bool {
		_, ok := st.memberships[id]
		return ok
	}
	var changes []Change
	for _, unit := range p.units {
		if only != nil && !only[p.segments[unit[0]].ID] {
			continue
		}
		matched := false
		for _, i := range unit {
			s := p.segments[i]
			member := false
			if p.conds[i] != nil && !matched {
				member = e.matches(ctx, s, p.conds[i], &st.facts, now)
				matched = member && s.Group != ""
			}
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
	f := &condition.Facts{Traits: p.Traits, Consents: p.Consents}
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
