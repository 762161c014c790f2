// Package profile is the identity graph: profiles, the identifiers that
// recognise them, their traits, and the rules by which identifiers seen
// together create, join and merge profiles.
//
// The rules live here once (see Graph and Decide); a Store only keeps the
// graph and applies the changes the rules decide, atomically.
package profile

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
	"github.com/barista-cdp/barista/pkg/ident"
)

// ErrConflict is wrapped by errors about a merge or an unmerge that the
// graph forbids: two user ids, or a survivor merged away since.
var ErrConflict = fmt.Errorf("profile %w", apierror.ErrFailedPrecondition)

// ErrNotMerged is wrapped by errors about unmerging a live profile.
var ErrNotMerged = fmt.Errorf("profile not merged: %w", apierror.ErrFailedPrecondition)

// ErrNotFound is wrapped by every error about a profile or identifier that
// does not exist.
var ErrNotFound = fmt.Errorf("profile %w", apierror.ErrNotFound)

// Identifier is one normalized "type:value" by which a person is recognised.
type Identifier struct {
	Type  string
	Value string
}

// String returns the text form "type:value".
func (id Identifier) String() string { return id.Type + ":" + id.Value }

// Rank orders identifier types by how strongly they name a person: a lower
// rank wins when identifiers point at different people.
func Rank(typ string) int {
	switch typ {
	case ident.UserID:
		return 0
	case ident.Email:
		return 1
	case ident.Phone:
		return 2
	case ident.DeviceID:
		return 3
	case ident.AnonymousID:
		return 4
	}
	return 5
}

// Compare orders identifiers by rank, then type, then value: the order in
// which a profile lists them.
func Compare(a, b Identifier) int {
	return cmp.Or(cmp.Compare(Rank(a.Type), Rank(b.Type)), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
}

// Profile is one customer: the identifiers linked to them and their traits.
type Profile struct {
	// ID is the UUIDv7 that names the profile "profiles/{ID}".
	ID string
	// Identifiers are the identifiers linked to the profile.
	Identifiers []Identifier
	// Traits are the latest value of each trait, as decoded JSON.
	Traits map[string]any
	// Sources say where each trait's value comes from; a trait set before
	// sources were kept has none.
	Sources map[string]TraitSource
	// CreateTime and UpdateTime are when the profile was created and last
	// changed.
	CreateTime, UpdateTime time.Time
	// Links says, for each identifier, when it was first seen and whether
	// it became shared.
	Links map[Identifier]Link
}

// Link is what the graph keeps about one identifier of a profile.
type Link struct {
	// ObserveTime is when the identifier was seen on the call that linked
	// it; windowed limits count it from then.
	ObserveTime time.Time
	// Shared reports that the identifier was seen with a second user id: it
	// stays with this profile but resolves and merges nothing any more.
	Shared bool
}

// UserID returns the value of the profile's user_id identifier, or "".
func (p Profile) UserID() string {
	for _, id := range p.Identifiers {
		if id.Type == ident.UserID {
			return id.Value
		}
	}
	return ""
}

// Clone returns a copy of p that shares nothing mutable at the top level
// with p. Trait values are never modified in place, so they are shared.
func (p Profile) Clone() Profile {
	p.Identifiers = slices.Clone(p.Identifiers)
	if p.Traits != nil {
		traits := make(map[string]any, len(p.Traits))
		for k, v := range p.Traits {
			traits[k] = v
		}
		p.Traits = traits
	}
	p.Sources = maps.Clone(p.Sources)
	p.Links = maps.Clone(p.Links)
	return p
}

// Shared returns the profile's shared identifiers, in priority order.
func (p Profile) Shared() []Identifier {
	var out []Identifier
	for _, id := range p.Identifiers {
		if p.Links[id].Shared {
			out = append(out, id)
		}
	}
	return out
}

// Merge records that one profile was merged into another. Merged profiles
// are never deleted: they keep their traits as they were and point at the
// survivor, and the log keeps which identifiers moved, so that a merge can
// be audited and undone.
type Merge struct {
	// Seq orders the merge log: it grows with every merge.
	Seq int64
	// Survivor is the profile that absorbed Merged.
	Survivor string
	// Merged is the profile absorbed; its name now resolves to Survivor.
	Merged string
	// Rule names the rule that merged them: RuleSeenTogether or
	// RuleManual.
	Rule string
	// Reason says why the profiles were merged.
	Reason string
	// Trigger are the identifiers whose sighting caused the merge.
	Trigger []Identifier
	// Identifiers are the identifiers moved from Merged to Survivor.
	Identifiers []Identifier
	// Time is when the merge happened; ObserveTime when the identifiers
	// that caused it were seen.
	Time, ObserveTime time.Time
	// SurvivorTraits are the survivor's traits before the merge, from which
	// an unmerge restores them; nil when not recorded.
	SurvivorTraits map[string]any
	// SurvivorSources are the sources of SurvivorTraits; nil when not
	// recorded.
	SurvivorSources map[string]TraitSource
	// UnmergeTime is when the merge was undone; zero while it stands.
	UnmergeTime time.Time
}

// Split undoes one merge, as planned by Graph.Unmerge and applied
// atomically by a Store.
type Split struct {
	// Merge is the merge undone; stores find it by Seq.
	Merge Merge
	// Move are the identifiers that go back from the survivor to the
	// merged profile.
	Move []Identifier
	// SurvivorTraits are the survivor's complete traits after the split.
	SurvivorTraits map[string]any
	// SurvivorSources are the sources of SurvivorTraits.
	SurvivorSources map[string]TraitSource
	// TraitChanges are the changes of the survivor's traits, to record.
	TraitChanges []TraitChange
	// Time becomes both profiles' update time and the merge's unmerge time.
	Time time.Time
}

// Change is what one resolution does to the graph, as decided by Decide and
// applied atomically by a Store. At most one of Create and Update is set;
// neither means nothing changes.
type Change struct {
	// Create is a new profile with its identifiers and traits.
	Create *Profile
	// Update changes an existing profile.
	Update *Update
	// ObserveTime is when the identifiers were seen; stores record it on
	// the identifiers they link.
	ObserveTime time.Time
	// Share are identifiers, held by live profiles, to mark shared.
	Share []Identifier
	// TraitChanges are the changes of the created or updated profile's
	// traits, to record with the change.
	TraitChanges []TraitChange
}

// Update changes an existing, live profile.
type Update struct {
	// ProfileID is the profile changed.
	ProfileID string
	// Link are identifiers held by no profile, to link to this one.
	Link []Identifier
	// Merges are profiles to merge into this one, in order: each moves all
	// of its identifiers here and points its merged_into at ProfileID.
	Merges []Merge
	// Traits are the profile's complete traits after the change.
	Traits map[string]any
	// Sources are the sources of Traits.
	Sources map[string]TraitSource
	// Time becomes the profile's update time.
	Time time.Time
}

// Store keeps the identity graph. Implementations must make Resolve atomic
// and isolated: the conformance suite in internal/storetest checks it.
type Store interface {
	ConsentStore
	TraitStore
	RefusalStore
	MatchStore
	NoticeLog
	PrivacyStore
	// Holders returns the live profiles that hold any of ids, read from one
	// consistent snapshot without taking locks.
	Holders(ctx context.Context, ids []Identifier) ([]Profile, error)
	// Resolve runs decide on the live profiles that hold any of ids and
	// applies the Change it returns, in one atomic step: no other Resolve
	// touching one of ids or one of those profiles runs in between. decide
	// must be a pure function of its argument: a store may call it again
	// when it retries after a conflict.
	Resolve(ctx context.Context, ids []Identifier, decide func(holders []Profile) (Change, error)) error
	// Get returns the profile with id; a merged profile's id yields the
	// live profile it was merged into. It wraps ErrNotFound for unknown ids.
	Get(ctx context.Context, id string) (Profile, error)
	// Lookup returns the profile that holds id, or wraps ErrNotFound.
	Lookup(ctx context.Context, id Identifier) (Profile, error)
	// List returns at most limit live profiles with ids greater than after
	// ("" for the first), in id order, which is creation order.
	List(ctx context.Context, after string, limit int) ([]Profile, error)
	// Unmerge runs plan on the live survivor that profile id was merged
	// into, the merged profile as it was left (no identifiers, its traits
	// as they were) and the standing merge that absorbed it, and applies
	// the Split it returns, atomically. It wraps ErrNotFound for unknown
	// ids, ErrNotMerged when id is live, and ErrConflict when id's survivor
	// was itself merged away since.
	Unmerge(ctx context.Context, id string, plan func(survivor, merged Profile, m Merge) (Split, error)) error
	// Merges returns at most limit merges the profile took part in, as
	// survivor or as merged, with Seq greater than after, oldest first.
	Merges(ctx context.Context, id string, after int64, limit int) ([]Merge, error)
}

// notFoundError is an ErrNotFound with a message that names what is missing.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

func notFound(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}
