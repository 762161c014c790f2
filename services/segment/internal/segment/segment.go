// Package segment is the domain of the segment service: segment definitions,
// the behavioral facts kept per profile, the evaluation of profiles against
// segments, memberships and the ordered log of membership changes.
package segment

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// Domain errors; stores wrap them with the specifics.
var (
	// ErrNotFound means no segment has the id.
	ErrNotFound = fmt.Errorf("segment %w", apierror.ErrNotFound)
	// ErrExists means a segment with the id already exists.
	ErrExists = fmt.Errorf("segment %w", apierror.ErrAlreadyExists)
	// ErrRevisionNotFound means the segment has no such revision.
	ErrRevisionNotFound = fmt.Errorf("segment revision %w", apierror.ErrNotFound)
)

// IDPattern is what a segment id looks like.
var IDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// Segment is a named condition over one profile's behavior and traits.
type Segment struct {
	ID          string
	DisplayName string
	Description string
	// Condition is the CEL source of the condition.
	Condition string
	// Revision counts definitions; 1 for a new segment.
	Revision   int64
	CreateTime time.Time
	// UpdateTime is when the revision was made.
	UpdateTime time.Time
	// Author and Reason say who made the revision and why.
	Author string
	Reason string
	// Group names the exclusive group of the segment, empty for none: of
	// the segments of a group, a profile is a member of the first, by
	// Priority then id, whose condition it matches.
	Group string
	// Priority orders the segments of a group, lowest first.
	Priority int32
	// ArchiveTime is when the segment was archived; zero for an active
	// segment. Archived segments are no longer evaluated and have no
	// members; their definition and history stay readable.
	ArchiveTime time.Time
}

// Archived reports whether the segment is archived.
func (s Segment) Archived() bool { return !s.ArchiveTime.IsZero() }

// Fact is a stored event of a profile: what evaluation needs of it.
type Fact struct {
	// Profile is the resource name of the profile, "profiles/{profile}".
	Profile string
	// Seq is the event's position in the event log.
	Seq int64
	condition.Event
}

// Profile is what the segment service holds of one profile.
type Profile struct {
	// Name is the resource name, "profiles/{profile}".
	Name string
	// Traits are the latest traits from identify events.
	Traits map[string]any
	// Events are the profile's facts, of the event names asked for.
	Events []Fact
	// NextCheck is when the profile must be evaluated again because time
	// passing can change one of its memberships; zero when nothing but a
	// new event can.
	NextCheck time.Time
	// Consents are the profile's latest consents by purpose, granted or
	// not, as the profile service last announced them. SaveProfiles leaves
	// them as they are; SetConsents replaces them.
	Consents map[string]bool
}

// Check schedules the next time-driven evaluation of a profile.
type Check struct {
	// Profile is the resource name of the profile.
	Profile string
	// At is when to evaluate it; zero to never evaluate it for time alone.
	At time.Time
}

// Membership is a profile's current membership of a segment.
type Membership struct {
	Segment   string
	Profile   string
	EnterTime time.Time
	// Revision is the segment revision the profile entered under.
	Revision int64
}

// Kind is the direction of a membership change.
type Kind int

// Kinds of change.
const (
	Entered Kind = 1
	Exited  Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Entered:
		return "entered"
	case Exited:
		return "exited"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Change is a profile entering or leaving a segment.
type Change struct {
	// Seq is the change's position in the change log, assigned when it is
	// recorded: 1, 2, 3... without gaps, in commit order.
	Seq      int64
	Segment  string
	Profile  string
	Kind     Kind
	Time     time.Time
	Revision int64
	// Reason says why, such as "event events/17" or "segment created".
	Reason string
	// TraceContext is the W3C trace context of the work that caused the
	// change.
	TraceContext map[string]string
}

// Store keeps segments, facts, memberships and the change log.
type Store interface {
	TriggerStore
	ScoreReader

	// Update runs fn in a write transaction, committed when fn returns nil.
	// Write transactions are serialized: each sees every earlier one
	// committed, which keeps evaluation consistent and the change log
	// without gaps.
	Update(ctx context.Context, fn func(Tx) error) error

	// Cursor returns the position in the event log of the last event
	// applied; 0 when none has been.
	Cursor(ctx context.Context) (int64, error)
	// GetSegment returns a segment or an error wrapping ErrNotFound.
	GetSegment(ctx context.Context, id string) (Segment, error)
	// ListSegments returns up to limit segments with ids after after, by id;
	// the archived ones only when archived is true.
	ListSegments(ctx context.Context, after string, limit int, archived bool) ([]Segment, error)
	// ListMembers returns up to limit members of a segment with profiles
	// after after, by profile. It does not check that the segment exists.
	ListMembers(ctx context.Context, segment, after string, limit int) ([]Membership, error)
	// ProfileMemberships returns a profile's memberships by segment.
	ProfileMemberships(ctx context.Context, profile string) ([]Membership, error)
	// GetRevision returns a segment as it was at a revision, or an error
	// wrapping ErrNotFound (no such segment) or ErrRevisionNotFound.
	GetRevision(ctx context.Context, id string, revision int64) (Segment, error)
	// ListRevisions returns up to limit revisions of a segment older than
	// revision before (all when before is 0), newest first. It does not check
	// that the segment exists.
	ListRevisions(ctx context.Context, id string, before int64, limit int) ([]Segment, error)
	// ProfilePage returns up to limit known profiles with names after after,
	// by name, with their facts of the given event names, outside any write
	// transaction.
	ProfilePage(ctx context.Context, after string, limit int, events []string) ([]*Profile, error)
	// ReadChanges returns up to limit changes after position after, in order;
	// only of the given segments unless segments is empty.
	ReadChanges(ctx context.Context, after int64, limit int, segments []string) ([]Change, error)
	// ListChanges returns up to limit changes after position after, in
	// order, of the segment and of the profile (either or both may be empty
	// for any).
	ListChanges(ctx context.Context, segment, profile string, after int64, limit int) ([]Change, error)
	// NextCheck returns the earliest scheduled check of any profile; zero
	// when none is scheduled.
	NextCheck(ctx context.Context) (time.Time, error)
}

// Tx is a write transaction of a Store. Its reads see its own writes.
type Tx interface {
	ScoreTx
	ProfileTx

	// Cursor returns the position of the last event applied.
	Cursor(ctx context.Context) (int64, error)
	// SetCursor stores the position of the last event applied.
	SetCursor(ctx context.Context, seq int64) error

	// CreateSegment stores a new segment and its first revision, or returns
	// an error wrapping ErrExists.
	CreateSegment(ctx context.Context, s Segment) error
	// UpdateSegment replaces the definition of an existing segment by a new
	// revision, keeping the earlier ones, or returns an error wrapping
	// ErrNotFound.
	UpdateSegment(ctx context.Context, s Segment) error
	// Segments returns every segment, archived ones included, by id.
	Segments(ctx context.Context) ([]Segment, error)
	// Members returns every current member of a segment, by profile.
	Members(ctx context.Context, segment string) ([]Membership, error)

	// Profiles returns the known profiles among names with their facts of
	// the given event names (no facts when events is empty). Unknown
	// profiles are absent from the result.
	Profiles(ctx context.Context, names, events []string) (map[string]*Profile, error)
	// ProfilePage returns up to limit known profiles with names after
	// after, by name, with their facts of the given event names.
	ProfilePage(ctx context.Context, after string, limit int, events []string) ([]*Profile, error)
	// SaveProfiles creates profiles or replaces their traits.
	SaveProfiles(ctx context.Context, profiles []*Profile) error
	// AddFacts stores facts; a fact already stored (same profile and
	// sequence) is left as it is.
	AddFacts(ctx context.Context, facts []Fact) error
	// SetNextChecks stores when to evaluate known profiles again; unknown
	// profiles are ignored.
	SetNextChecks(ctx context.Context, checks []Check) error
	// DueProfiles returns up to limit profiles whose next check is at or
	// before now, earliest first (then by name), without reading the
	// others.
	DueProfiles(ctx context.Context, now time.Time, limit int) ([]string, error)

	// Memberships returns the current memberships of the given profiles.
	Memberships(ctx context.Context, profiles []string) ([]Membership, error)
	// Record appends changes to the log, numbering them, and applies them
	// to memberships in order: an entered change sets the membership
	// (entered at the change time under its revision), an exited change
	// removes it. It returns the changes with their sequence numbers.
	Record(ctx context.Context, changes []Change) ([]Change, error)
	// WriteEvents stores what applying a batch of events writes, in one
	// step a store can send at once: it does what SaveProfiles(w.Profiles),
	// SetNextChecks with those profiles' NextCheck, AddFacts(w.Facts),
	// Record(w.Changes) and SetCursor(w.Cursor) do in this order, and
	// returns the recorded changes.
	WriteEvents(ctx context.Context, w EventWrites) ([]Change, error)
}

// EventWrites is what applying a batch of events stores.
type EventWrites struct {
	// Profiles are created, or have their traits and next check replaced.
	Profiles []*Profile
	// Facts are added; one already stored is left as it is.
	Facts []Fact
	// Changes are recorded.
	Changes []Change
	// Cursor is the position of the last event applied.
	Cursor int64
}
