package event

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"
)

// UpdateKind is what a ProfileUpdate announces.
type UpdateKind int

// Kinds of ProfileUpdate, numbered as barista.event.v1.ProfileUpdateKind.
const (
	// UpdateMerged: Profiles[1] was merged into Profiles[0].
	UpdateMerged UpdateKind = iota + 1
	// UpdateUnmerged: Profiles[1] was split back out of Profiles[0].
	UpdateUnmerged
	// UpdateConsent: the consents of Profiles[0] changed.
	UpdateConsent
	// UpdateErased: Profiles[0] was erased.
	UpdateErased
)

// Consent is a person's answer for one purpose.
type Consent struct {
	Purpose string    `json:"purpose"`
	Granted bool      `json:"granted"`
	Source  string    `json:"source"`
	Time    time.Time `json:"time"`
}

// ProfileUpdate is a marker in the event log: the identity graph changed
// and the store applied the change to the events it holds at this position
// of the log. A log entry is either an event or a marker: a marker has only
// Seq and Update set.
type ProfileUpdate struct {
	Kind UpdateKind
	// Profiles are the profiles affected: the survivor first, then the
	// profile merged away or split out.
	Profiles []string
	// Consents are all of Profiles[0]'s consents, for UpdateConsent.
	Consents []Consent
	// Time is when the change happened in the profile service.
	Time time.Time
}

// ProfileChange is one entry of the profile service's change log, as the
// event service applies it.
type ProfileChange struct {
	// Seq is the entry's position in the profile change log.
	Seq  int64
	Kind UpdateKind
	Time time.Time
	// Profile is the survivor of a merge or an unmerge, the profile whose
	// consents changed, or the profile erased.
	Profile string
	// Other is the profile merged away or split back out.
	Other string
	// Identifiers are those that went back to Other on an unmerge; Kept
	// those Profile still holds.
	Identifiers, Kept []Identifier
	// Consents are Profile's consents after an UpdateConsent.
	Consents []Consent
}

// ProfileChangeStore applies the profile change log to the event log.
// Implementations are checked by the conformance suite in
// internal/storetest.
type ProfileChangeStore interface {
	// ProfileCursor returns the Seq of the last profile change applied; 0
	// when none was.
	ProfileCursor(ctx context.Context) (int64, error)
	// ApplyProfileChange applies c in one transaction: it moves the events
	// (UpdateMerged: Other's events become Profile's; UpdateUnmerged:
	// Profile's events that carry one of Identifiers and none of Kept
	// become Other's; UpdateErased: Profile's events and their message ids
	// are deleted), appends a marker (an Event with Update set) to the log,
	// and stores c.Seq as the cursor. A change at or before the cursor is
	// skipped, and applied reports false: applying is idempotent.
	ApplyProfileChange(ctx context.Context, c ProfileChange) (applied bool, err error)
}

// Marker returns the ProfileUpdate the change appends to the log.
func (c ProfileChange) Marker() *ProfileUpdate {
	u := &ProfileUpdate{Kind: c.Kind, Profiles: []string{c.Profile}, Time: c.Time}
	if c.Other != "" {
		u.Profiles = append(u.Profiles, c.Other)
	}
	if c.Kind == UpdateConsent {
		u.Consents = c.Consents
	}
	return u
}

// Unmerge is an unmerge as the log keeps it: the events of Survivor for
// which MovesBack holds go back to Restored when it is applied, and so does
// an event resolved to Survivor before it was applied (ResolvedAfter below
// Seq) and appended after. Identifiers are kept as their IdentifierHash, so
// that no identifier of a person outlives the erasure of their events.
type Unmerge struct {
	// Seq is the unmerge's position in the profile change log.
	Seq                int64
	Survivor, Restored string
	Moved, Kept        map[[32]byte]bool
}

// UnmergeOf returns the Unmerge of c, an UpdateUnmerged change.
func UnmergeOf(c ProfileChange) Unmerge {
	return Unmerge{Seq: c.Seq, Survivor: c.Profile, Restored: c.Other, Moved: HashSet(c.Identifiers), Kept: HashSet(c.Kept)}
}

// IdentifierHash is the SHA-256 of an identifier's text form, type:value.
func IdentifierHash(id Identifier) [32]byte {
	return sha256.Sum256([]byte(id.String()))
}

// HashSet returns the set of the IdentifierHash of ids.
func HashSet(ids []Identifier) map[[32]byte]bool {
	out := make(map[[32]byte]bool, len(ids))
	for _, id := range ids {
		out[IdentifierHash(id)] = true
	}
	return out
}

// MovesBack reports whether an event with ids goes back to the restored
// profile: it must carry one of the identifiers moved back and none of
// those kept. An event that carried identifiers of both (the one that
// joined them) stays with the survivor.
func (u Unmerge) MovesBack(ids []Identifier) bool {
	back := false
	for _, id := range ids {
		h := IdentifierHash(id)
		if u.Kept[h] {
			return false
		}
		back = back || u.Moved[h]
	}
	return back
}

// Places reports whether ev, resolved to u.Survivor before u was applied,
// belongs to u.Restored.
func (u Unmerge) Places(ev *Event) bool {
	return ev.ProfileID == u.Survivor && ev.ResolvedAfter < u.Seq && u.MovesBack(ev.Identifiers)
}

// PlaceAfterUnmerges gives ev the profile it belongs to after unmerges,
// ordered by Seq, of which it may have been resolved before: restored
// maps a restored profile to the profile it now belongs to (itself, or the
// profile it was merged into since). It reports whether ev moved.
func PlaceAfterUnmerges(ev *Event, unmerges []Unmerge, restored func(string) string) bool {
	moved := false
	for _, u := range unmerges {
		if u.Places(ev) {
			ev.ProfileID = restored(u.Restored)
			moved = true
		}
	}
	return moved
}

// ApplyProfileChange applies a change of the profile change log and wakes
// readers of the log, which now holds its marker.
//
// Every change, applied here or already by another replica, clears the
// resolution cache, before and after the store applies it: no resolution
// read before the change is reused after it.
func (l *Log) ApplyProfileChange(ctx context.Context, c ProfileChange) error {
	store, ok := l.store.(ProfileChangeStore)
	if !ok {
		return errProfileChangesUnsupported
	}
	l.ClearResolutions()
	applied, err := store.ApplyProfileChange(ctx, c)
	l.ClearResolutions()
	if err != nil {
		return err
	}
	// Applied here or before: either way the store holds it.
	l.knowProfileChanges(c.Seq)
	if applied {
		l.signal.Notify()
	}
	return nil
}

// ProfileCursor returns the position of the last profile change applied.
func (l *Log) ProfileCursor(ctx context.Context) (int64, error) {
	store, ok := l.store.(ProfileChangeStore)
	if !ok {
		return 0, errProfileChangesUnsupported
	}
	cursor, err := store.ProfileCursor(ctx)
	if err == nil {
		l.knowProfileChanges(cursor)
	}
	return cursor, err
}

// knowProfileChanges records that the profile changes up to seq are
// applied to the store.
func (l *Log) knowProfileChanges(seq int64) {
	for {
		known := l.profileChanges.Load()
		if seq <= known || l.profileChanges.CompareAndSwap(known, seq) {
			return
		}
	}
}

var errProfileChangesUnsupported = errors.New("the event store does not apply profile changes")

// ClearResolutions forgets the cached resolutions. The profile change
// consumer calls it whenever it (re)connects, as changes applied by another
// replica meanwhile reach this one's cache through no notice.
func (l *Log) ClearResolutions() {
	if l.cache != nil {
		l.cache.clear()
	}
}
