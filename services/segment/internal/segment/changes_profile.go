package segment

import (
	"context"
	"fmt"
	"time"

	"github.com/barista-cdp/barista/pkg/telemetry"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// Reasons of membership changes caused by a change of the identity graph.
const (
	// ReasonMerged is the reason of the changes of the profiles of a merge:
	// the survivor evaluated over the events of both, the profile merged
	// away leaving every segment.
	ReasonMerged = "profile merged"
	// ReasonUnmerged is the reason of the changes of the two profiles of an
	// unmerge, each evaluated over its own events again.
	ReasonUnmerged = "profile unmerged"
	// ReasonConsent is the reason of the changes a consent change causes.
	ReasonConsent = "consent changed"
)

// UpdateKind is what a ProfileUpdate announces.
type UpdateKind int

// Kinds of ProfileUpdate.
const (
	// UpdateMerged: Profiles[1] was merged into Profiles[0].
	UpdateMerged UpdateKind = iota + 1
	// UpdateUnmerged: Profiles[1] was split back out of Profiles[0].
	UpdateUnmerged
	// UpdateConsent: Profiles[0]'s consents are now Consents.
	UpdateConsent
	// UpdateErased: Profiles[0] was erased.
	UpdateErased
)

// ProfileUpdate is a marker of the event log: the identity graph changed
// at this position of the log, and the event service moved or deleted the
// events of the profiles it names.
type ProfileUpdate struct {
	// Seq is the marker's position in the event log.
	Seq  int64
	Kind UpdateKind
	// Profiles are resource names: the survivor first, then the profile
	// merged away or split out.
	Profiles []string
	// Consents are Profiles[0]'s consents by purpose, for UpdateConsent.
	Consents map[string]bool
}

// ProfileTx is the part of a Tx that applies changes of the identity
// graph.
type ProfileTx interface {
	// ReplaceFacts replaces every fact of a profile by facts.
	ReplaceFacts(ctx context.Context, profile string, facts []Fact) error
	// SetConsents creates the profile when it is unknown and replaces its
	// consents.
	SetConsents(ctx context.Context, profile string, consents map[string]bool) error
	// DeleteProfiles deletes what is kept of profiles (traits, consents,
	// facts, scheduled check); their memberships, history and scores stay.
	DeleteProfiles(ctx context.Context, profiles []string) error
	// EraseProfile deletes everything kept of a profile: what
	// DeleteProfiles deletes, its scores, its memberships, every change of
	// the membership history naming it, and its trigger deliveries.
	EraseProfile(ctx context.Context, profile string) error
}

// EventSource returns the events of a profile with a sequence below before,
// in sequence order, as the event service now holds them.
type EventSource func(ctx context.Context, profile string, before int64) ([]Event, error)

// ApplyProfileUpdate applies a marker of the event log in one transaction;
// a marker at or before the stored cursor was applied before and is
// skipped.
//
//   - UpdateMerged: the survivor's facts and traits are rebuilt from its
//     events (which now include the merged profile's) and it is evaluated
//     again; the merged profile leaves every segment and its state is
//     deleted. Changes have the reason "profile merged".
//   - UpdateUnmerged: both profiles are rebuilt from their events and
//     evaluated again, with the reason "profile unmerged". Memberships are
//     a function of a profile's events, traits and consents, so they come
//     back to exactly what they were before the merge.
//   - UpdateConsent: the consents are stored and the profile evaluated
//     again, with the reason "consent changed".
//   - UpdateErased: everything about the profile is deleted, including its
//     membership history, without recording exits: the history must not
//     name an erased person, and the erasure is not a behavioral exit.
//
// Rebuilds read the events below the marker from events, before the
// transaction: they are exactly those the consumer had applied, with the
// profile ids the merge gave them. Later events arrive after the marker.
func (e *Engine) ApplyProfileUpdate(ctx context.Context, u ProfileUpdate, events EventSource) error {
	cursor, err := e.store.Cursor(ctx)
	if err != nil || u.Seq <= cursor {
		return err
	}
	rebuild := map[string][]Event{}
	switch u.Kind {
	case UpdateMerged, UpdateUnmerged:
		if len(u.Profiles) != 2 {
			return fmt.Errorf("profile update %d: want 2 profiles, got %d", u.Seq, len(u.Profiles))
		}
		names := u.Profiles
		if u.Kind == UpdateMerged {
			names = names[:1]
		}
		for _, name := range names {
			evs, err := events(ctx, name, u.Seq)
			if err != nil {
				return fmt.Errorf("read events of %s: %w", name, err)
			}
			rebuild[name] = evs
		}
	case UpdateConsent, UpdateErased:
		if len(u.Profiles) == 0 {
			return fmt.Errorf("profile update %d: no profile", u.Seq)
		}
	default:
		return fmt.Errorf("profile update %d: unknown kind %d", u.Seq, u.Kind)
	}

	recorded, scheduled := 0, false
	err = e.store.Update(ctx, func(tx Tx) error {
		recorded, scheduled = 0, false
		cursor, err := tx.Cursor(ctx)
		if err != nil || u.Seq <= cursor {
			return err
		}
		p, err := e.segments(ctx, tx)
		if err != nil {
			return err
		}
		now := e.clock()
		traceContext := telemetry.Inject(ctx)
		var changes []Change
		var checks []Check
		switch u.Kind {
		case UpdateMerged, UpdateUnmerged:
			reason := ReasonMerged
			if u.Kind == UpdateUnmerged {
				reason = ReasonUnmerged
			}
			for _, name := range u.Profiles {
				evs, ok := rebuild[name]
				if !ok {
					out, err := e.leave(ctx, tx, p, name, now, reason, traceContext)
					if err != nil {
						return err
					}
					changes = append(changes, out...)
					continue
				}
				out, check, err := e.rebuild(ctx, tx, p, name, evs, now, reason, traceContext)
				if err != nil {
					return err
				}
				changes = append(changes, out...)
				checks = append(checks, check)
			}
		case UpdateConsent:
			name := u.Profiles[0]
			if err := tx.SetConsents(ctx, name, u.Consents); err != nil {
				return err
			}
			out, check, err := e.reevaluate(ctx, tx, p, name, now, ReasonConsent, traceContext)
			if err != nil {
				return err
			}
			changes, checks = out, []Check{check}
		case UpdateErased:
			if err := tx.EraseProfile(ctx, u.Profiles[0]); err != nil {
				return err
			}
		}
		if err := tx.SetNextChecks(ctx, checks); err != nil {
			return err
		}
		if _, err := tx.Record(ctx, changes); err != nil {
			return err
		}
		recorded = len(changes)
		for _, c := range checks {
			scheduled = scheduled || !c.At.IsZero()
		}
		return tx.SetCursor(ctx, u.Seq)
	})
	if err != nil {
		return err
	}
	e.notify(backfillResult{recorded: recorded, scheduled: scheduled})
	return nil
}

// leave records the exits of a profile merged away from every segment and
// deletes its state.
func (e *Engine) leave(ctx context.Context, tx Tx, p *plan, name string, now time.Time, reason string, traceContext map[string]string) ([]Change, error) {
	memberships, err := tx.Memberships(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	revision := map[string]int64{}
	for _, s := range p.segments {
		revision[s.ID] = s.Revision
	}
	changes := make([]Change, 0, len(memberships))
	for _, m := range memberships {
		rev, ok := revision[m.Segment]
		if !ok {
			rev = m.Revision
		}
		changes = append(changes, Change{Segment: m.Segment, Profile: name, Kind: Exited, Time: now, Revision: rev, Reason: reason, TraceContext: traceContext})
	}
	return changes, tx.DeleteProfiles(ctx, []string{name})
}

// rebuild replaces a profile's facts and traits by those of its events and
// evaluates it again, keeping its consents.
func (e *Engine) rebuild(ctx context.Context, tx Tx, p *plan, name string, events []Event, now time.Time, reason string, traceContext map[string]string) ([]Change, Check, error) {
	traits := map[string]any{}
	var facts []Fact
	for _, ev := range events {
		if ev.Identify {
			traits = mergeTraits(traits, ev.Traits)
		}
		if ev.Name != "" {
			facts = append(facts, Fact{Profile: name, Seq: ev.Seq, Event: condition.Event{
				Name: ev.Name, Time: ev.Time.UTC().Truncate(time.Microsecond), Numbers: ev.Numbers, Strings: ev.Strings, Flags: ev.Flags,
			}})
		}
	}
	// The profile is saved first: a profile unknown until now (split back
	// out) is known, with its facts, to the evaluation.
	if err := tx.SaveProfiles(ctx, []*Profile{{Name: name, Traits: traits}}); err != nil {
		return nil, Check{}, err
	}
	if err := tx.ReplaceFacts(ctx, name, facts); err != nil {
		return nil, Check{}, err
	}
	return e.reevaluate(ctx, tx, p, name, now, reason, traceContext)
}

// reevaluate evaluates a stored profile against every segment and returns
// the changes and its next check.
func (e *Engine) reevaluate(ctx context.Context, tx Tx, p *plan, name string, now time.Time, reason string, traceContext map[string]string) ([]Change, Check, error) {
	states, _, err := e.load(ctx, tx, []Event{{Profile: name}}, p.names)
	if err == nil {
		err = addScores(ctx, tx, p, states)
	}
	if err != nil {
		return nil, Check{}, err
	}
	st := states[name]
	changes := e.diff(ctx, st, p, nil, now, reason, traceContext)
	return changes, Check{Profile: name, At: nextCheck(&st.facts, p.conds, now)}, nil
}
