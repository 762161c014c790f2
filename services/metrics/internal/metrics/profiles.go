package metrics

import (
	"context"
	"errors"
	"fmt"
)

// UpdateKind is what a ProfileUpdate announces.
type UpdateKind int

// Kinds of ProfileUpdate, numbered as barista.event.v1.ProfileUpdateKind.
const (
	// UpdateMerged: Profiles[1] was merged into Profiles[0].
	UpdateMerged UpdateKind = iota + 1
	// UpdateUnmerged: Profiles[1] was split back out of Profiles[0].
	UpdateUnmerged
	// UpdateConsent: Profiles[0]'s consents changed; nothing to count.
	UpdateConsent
	// UpdateErased: Profiles[0] was erased.
	UpdateErased
)

// ProfileUpdate is a marker of the event log: the identity graph changed
// at this position, and the event service moved or deleted the events of
// the profiles it names.
type ProfileUpdate struct {
	// Seq is the marker's position in the event log.
	Seq  int64
	Kind UpdateKind
	// Profiles are resource names: the survivor first, then the profile
	// merged away or split out.
	Profiles []string
}

// EventSource returns the events of a profile with a position below
// before, in log order, as the event service now holds them.
type EventSource func(ctx context.Context, profile string, before int64) ([]Event, error)

// ProfileRewrite is what a marker does to the metrics kept of profiles.
type ProfileRewrite struct {
	// Seq is the marker's position: the event cursor moves to it.
	Seq int64
	// Rebuild holds every event of a profile below Seq: its days are
	// replaced by theirs, and its first-seen time becomes the earlier of
	// the stored one and theirs.
	Rebuild map[string][]Event
	// Delete are profiles whose days and first-seen time are deleted: a
	// profile merged away.
	Delete []string
	// Erase are profiles of which every row is deleted, the membership
	// changes naming them included; the segments' daily totals, which name
	// no one, stay.
	Erase []string
}

// ProfileStore applies markers. Implementations are checked by the
// conformance suite in internal/storetest.
type ProfileStore interface {
	// RewriteProfiles applies r and stores r.Seq as the event cursor, in
	// one transaction; when r.Seq is not after the stored event cursor it
	// does nothing and returns false.
	RewriteProfiles(ctx context.Context, r ProfileRewrite) (bool, error)
}

var errNoProfileStore = errors.New("the metrics store does not apply profile changes")

// ApplyProfileUpdate applies a marker of the event log: the profiles of a
// merge or an unmerge get their activity rebuilt from the events the event
// service now gives them (below the marker: those already counted), the
// profile merged away loses its own, and an erased profile is deleted
// everywhere. A marker at or before the stored event cursor is skipped.
func (t *Tracker) ApplyProfileUpdate(ctx context.Context, u ProfileUpdate, events EventSource) error {
	store, ok := t.store.(ProfileStore)
	if !ok {
		return errNoProfileStore
	}
	cursor, err := t.store.EventCursor(ctx)
	if err != nil || u.Seq <= cursor {
		return err
	}
	r := ProfileRewrite{Seq: u.Seq, Rebuild: map[string][]Event{}}
	switch u.Kind {
	case UpdateMerged, UpdateUnmerged:
		if len(u.Profiles) != 2 {
			return fmt.Errorf("profile update %d: want 2 profiles, got %d", u.Seq, len(u.Profiles))
		}
		rebuild := u.Profiles
		if u.Kind == UpdateMerged {
			rebuild = rebuild[:1]
			r.Delete = u.Profiles[1:]
		}
		for _, p := range rebuild {
			evs, err := events(ctx, p, u.Seq)
			if err != nil {
				return fmt.Errorf("read events of %s: %w", p, err)
			}
			r.Rebuild[p] = evs
		}
	case UpdateErased:
		r.Erase = u.Profiles
	}
	applied, err := store.RewriteProfiles(ctx, r)
	if err != nil || !applied || u.Kind == UpdateConsent {
		return err
	}
	// The cached fit and scores hold the profiles as they were: a merged
	// profile's orders under its old name, an erased person's at all.
	t.models.mu.Lock()
	t.models.latest = nil
	t.models.mu.Unlock()
	t.scores.mu.Lock()
	t.scores.latest = nil
	t.scores.mu.Unlock()
	return nil
}
