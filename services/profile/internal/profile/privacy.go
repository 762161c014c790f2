package profile

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// RuleSuppressed ignores an identifier of an erased person.
const RuleSuppressed = "suppressed"

// ErrErasedMeanwhile is wrapped by the error of a resolution that found a
// profile erased while it ran; a retry sees the erasure and treats its
// identifiers as suppressed.
var ErrErasedMeanwhile = fmt.Errorf("a profile holding these identifiers was erased during the call: %w", apierror.ErrUnavailable)

// Erasure is what erasing a person removed.
type Erasure struct {
	// Profile is the live profile erased.
	Profile string
	// Profiles are every profile erased: Profile, then the profiles merged
	// into it, in id order.
	Profiles []string
	// Identifiers are the identifiers erased, in priority order; each is
	// suppressed.
	Identifiers []Identifier
	// Consents is the number of consent records erased.
	Consents int
	// Merges is the number of merge log entries erased: those naming an
	// erased profile.
	Merges int
	// MergesScrubbed is the number of other merge log entries from which
	// erased identifiers were removed.
	MergesScrubbed int
	// Time is when the erasure happened.
	Time time.Time
}

// RecordedConsent is a consent as recorded on one profile.
type RecordedConsent struct {
	// Profile is the id of the profile it was recorded on.
	Profile string
	Consent
}

// Export is everything the profile service holds on a person.
type Export struct {
	// Profile is the live profile.
	Profile Profile
	// Merged are the profiles merged into it, directly or not, as they
	// were left, in id order.
	Merged []Profile
	// Consents are every consent recorded on Profile or Merged, by profile
	// then purpose.
	Consents []RecordedConsent
	// Merges are the merge log entries naming Profile or one of Merged,
	// oldest first.
	Merges []Merge
	// TraitChanges are the recorded changes of the traits of Profile and
	// Merged, newest first.
	TraitChanges []TraitChange
	// Time is when the export was taken.
	Time time.Time
}

// PrivacyStore erases and exports people and keeps the suppressed
// identifiers. Implementations are checked by the conformance suite in
// internal/storetest (RunPrivacy).
type PrivacyStore interface {
	// Erase deletes, atomically, the live profile that id is or was merged
	// into and every profile merged into it: their identifiers, traits and
	// consents, the merge log entries naming them, and erased identifiers
	// from other merge log entries. It records hash(x) of every erased
	// identifier x as suppressed, appends a NoticeErased to the change log
	// and redacts the older notices about the erased profiles. It leaves a
	// record of the erasure that names no profile and no identifier. It
	// wraps ErrNotFound for unknown ids.
	Erase(ctx context.Context, id string, at time.Time, hash func(Identifier) []byte) (Erasure, error)
	// Suppressed returns which of hashes are suppressed, as a set keyed by
	// string(hash).
	Suppressed(ctx context.Context, hashes [][]byte) (map[string]bool, error)
	// SuppressionKey returns the store's own secret key for hashing
	// suppressed identifiers; it is the same for every caller on the same
	// store, and kept with the data.
	SuppressionKey(ctx context.Context) ([]byte, error)
	// Tree returns the live profile that id is or was merged into, the
	// profiles merged into it, directly or not, as they were left (in id
	// order), and every consent recorded on any of them. It wraps
	// ErrNotFound for unknown ids.
	Tree(ctx context.Context, id string) (Profile, []Profile, []RecordedConsent, error)
}

// suppression hashes identifiers for the suppression list: HMAC-SHA256 of
// "type:value" under a secret key, so that the list can refuse an erased
// identifier without holding it.
type suppression struct {
	mu  sync.Mutex
	key []byte
}

// suppressionKey returns the configured key, or the store's own, read
// once.
func (g *Graph) suppressionKey(ctx context.Context) ([]byte, error) {
	g.suppress.mu.Lock()
	defer g.suppress.mu.Unlock()
	if g.suppress.key != nil {
		return g.suppress.key, nil
	}
	key, err := g.store.SuppressionKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("read suppression key: %w", err)
	}
	g.suppress.key = key
	return key, nil
}

// SuppressionHash returns the keyed hash under which id is suppressed.
func SuppressionHash(key []byte, id Identifier) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id.String()))
	return mac.Sum(nil)
}

// screen drops from the identifiers of each resolution of rs the
// suppressed ones among those no profile of its snapshot holds (a held
// identifier was never erased), adding a violation to its invalid and an
// Ignored to its blocked for each, with one read of the suppressions for
// them all. Most resolutions name only held identifiers and cost nothing
// here.
func (g *Graph) screen(ctx context.Context, rs []*resolution) error {
	var (
		key    []byte
		hashes [][]byte
		hashOf = map[Identifier]string{}
	)
	for _, r := range rs {
		if r == nil {
			continue
		}
		held := heldBy(r.snapshot)
		for _, id := range r.req.Identifiers {
			if _, ok := hashOf[id]; ok || held[id] {
				continue
			}
			if key == nil {
				var err error
				if key, err = g.suppressionKey(ctx); err != nil {
					return err
				}
			}
			h := SuppressionHash(key, id)
			hashOf[id] = string(h)
			hashes = append(hashes, h)
		}
	}
	if len(hashes) == 0 {
		return nil
	}
	suppressed, err := g.store.Suppressed(ctx, hashes)
	if err != nil {
		return fmt.Errorf("read suppressions: %w", err)
	}
	if len(suppressed) == 0 {
		return nil
	}
	for _, r := range rs {
		if r == nil {
			continue
		}
		held := heldBy(r.snapshot)
		var kept []Identifier
		for _, id := range r.req.Identifiers {
			if held[id] || !suppressed[hashOf[id]] {
				kept = append(kept, id)
				continue
			}
			r.blocked = append(r.blocked, Ignored{Identifier: id, Rule: RuleSuppressed, Reason: "the identifier belonged to an erased person"})
			r.invalid.Add("identifiers", "%s is suppressed: it belonged to a person who was erased, and creates or joins no profile", id.Type)
		}
		r.req.Identifiers = kept
	}
	return nil
}

// vanished reports an error when one of ids that a profile held in the
// snapshot is held by none of holders, read under the store's locks: only
// an erasure unlinks identifiers, and the snapshot's suppression check did
// not cover held ones.
func vanished(ids []Identifier, snapshot, holders []Profile) error {
	before, now := heldBy(snapshot), heldBy(holders)
	for _, id := range ids {
		if before[id] && !now[id] {
			return ErrErasedMeanwhile
		}
	}
	return nil
}

func heldBy(profiles []Profile) map[Identifier]bool {
	held := map[Identifier]bool{}
	for _, p := range profiles {
		for _, id := range p.Identifiers {
			held[id] = true
		}
	}
	return held
}

// Erase erases the person whose live profile id is or was merged into, and
// suppresses their identifiers.
func (g *Graph) Erase(ctx context.Context, id string) (Erasure, error) {
	key, err := g.suppressionKey(ctx)
	if err != nil {
		return Erasure{}, err
	}
	e, err := g.store.Erase(ctx, id, g.clock(), func(x Identifier) []byte { return SuppressionHash(key, x) })
	if errors.Is(err, ErrNotFound) {
		return Erasure{}, notFound("no profile named profiles/%s", id)
	}
	if err != nil {
		return Erasure{}, err
	}
	slices.SortFunc(e.Identifiers, Compare)
	g.count(ctx, "erased")
	return e, nil
}

// Suppressed reports whether id belonged to an erased person.
func (g *Graph) Suppressed(ctx context.Context, id Identifier) (bool, error) {
	key, err := g.suppressionKey(ctx)
	if err != nil {
		return false, err
	}
	h := SuppressionHash(key, id)
	got, err := g.store.Suppressed(ctx, [][]byte{h})
	return got[string(h)], err
}

// Export returns everything the profile service holds on the person whose
// live profile id is or was merged into.
func (g *Graph) Export(ctx context.Context, id string) (Export, error) {
	at := g.clock()
	root, merged, consents, err := g.store.Tree(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Export{}, notFound("no profile named profiles/%s", id)
	}
	if err != nil {
		return Export{}, err
	}
	out := Export{Profile: sorted(root), Merged: merged, Consents: consents, Time: at}
	seen := map[int64]bool{}
	for _, p := range append([]Profile{root}, merged...) {
		merges, err := g.Merges(ctx, p.ID)
		if err != nil {
			return Export{}, err
		}
		for _, m := range merges {
			if !seen[m.Seq] {
				seen[m.Seq] = true
				out.Merges = append(out.Merges, m)
			}
		}
	}
	slices.SortFunc(out.Merges, func(a, b Merge) int { return cmp.Compare(a.Seq, b.Seq) })
	if out.TraitChanges, err = g.AllTraitChanges(ctx, root.ID); err != nil {
		return Export{}, err
	}
	return out, nil
}
