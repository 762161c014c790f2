package segment

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/barista-cdp/barista/pkg/telemetry"
	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// ReasonScores is the reason of the changes a refresh of the scores
// causes: the profile's RFM or the store's statistics changed.
const ReasonScores = "scores refreshed"

// refreshBatch is how many profiles with new scores a refresh evaluates at
// a time.
const refreshBatch = 500

// ScoreReader reads the scores kept from the metrics service.
type ScoreReader interface {
	// StoreStatistics returns the store's statistics of the latest
	// refresh; zero before the first.
	StoreStatistics(ctx context.Context) (condition.StoreStatistics, error)
	// ProfileScores returns the RFM of the profiles among names that have
	// one; the others, without orders in the window, are absent.
	ProfileScores(ctx context.Context, names []string) (map[string]condition.RFM, error)
}

// ScoreTx reads and replaces the scores in a write transaction.
type ScoreTx interface {
	ScoreReader
	// SetStoreStatistics replaces the store's statistics.
	SetStoreStatistics(ctx context.Context, s condition.StoreStatistics) error
	// ReplaceScores replaces every profile's RFM by scores (a profile
	// absent from scores has none) and returns the names of the profiles
	// whose RFM was added, removed or changed, by name.
	ReplaceScores(ctx context.Context, scores map[string]condition.RFM) ([]string, error)
}

// Scores are what a refresh fetched from the metrics service.
type Scores struct {
	// Store are the store's statistics.
	Store condition.StoreStatistics
	// RFM holds the RFM of every profile with orders in the window, by
	// profile name.
	RFM map[string]condition.RFM
}

// ScoresResult says what applying scores did.
type ScoresResult struct {
	// Profiles counts the profiles whose RFM changed.
	Profiles int
	// StoreChanged tells whether the store's statistics changed.
	StoreChanged bool
	// Changes counts the membership changes recorded.
	Changes int
}

// ApplyScores stores fetched scores and, in the same transaction,
// re-evaluates what they can change: the profiles whose RFM changed
// against the segments whose conditions read rfm.*, and, when the store's
// statistics changed, every profile against the segments that read
// store.* (each with the segments of their exclusive groups and those that
// test them). The changes have the reason "scores refreshed". Applying the
// same scores again changes nothing.
func (e *Engine) ApplyScores(ctx context.Context, s Scores) (ScoresResult, error) {
	var result ScoresResult
	var scheduled bool
	err := e.store.Update(ctx, func(tx Tx) error {
		result, scheduled = ScoresResult{}, false
		old, err := tx.StoreStatistics(ctx)
		if err != nil {
			return err
		}
		result.StoreChanged = old != s.Store
		if result.StoreChanged {
			if err := tx.SetStoreStatistics(ctx, s.Store); err != nil {
				return err
			}
		}
		changed, err := tx.ReplaceScores(ctx, s.RFM)
		if err != nil {
			return err
		}
		result.Profiles = len(changed)
		p, err := e.segments(ctx, tx)
		if err != nil {
			return err
		}
		now := e.clock()
		if result.StoreChanged && len(p.store) > 0 {
			b, err := e.backfill(ctx, tx, p, p.affected(p.store...), now, ReasonScores)
			if err != nil {
				return err
			}
			result.Changes += b.recorded
			scheduled = scheduled || b.scheduled
		}
		if len(changed) == 0 || len(p.rfm) == 0 {
			return nil
		}
		b, err := e.rescore(ctx, tx, p, p.affected(p.rfm...), changed, now, ReasonScores)
		result.Changes += b.recorded
		scheduled = scheduled || b.scheduled
		return err
	})
	if err != nil {
		return ScoresResult{}, err
	}
	e.notify(backfillResult{recorded: result.Changes, scheduled: scheduled})
	return result, nil
}

// rescore evaluates the known profiles among names against the affected
// segments of p, like backfill does for every profile.
func (e *Engine) rescore(ctx context.Context, tx Tx, p *plan, affected map[string]bool, names []string, now time.Time, reason string) (backfillResult, error) {
	var result backfillResult
	traceContext := telemetry.Inject(ctx)
	var conds []*condition.Condition
	var events []string
	for i, s := range p.segments {
		if affected[s.ID] && p.conds[i] != nil {
			conds = append(conds, p.conds[i])
			events = append(events, p.conds[i].EventNames()...)
		}
	}
	slices.Sort(events)
	events = slices.Compact(events)
	for batch := range slices.Chunk(names, refreshBatch) {
		known, err := tx.Profiles(ctx, batch, events)
		if err != nil {
			return result, err
		}
		profiles := make([]*Profile, 0, len(known))
		for _, name := range slices.Sorted(maps.Keys(known)) {
			profiles = append(profiles, known[name])
		}
		if err := e.evaluatePage(ctx, tx, p, profiles, affected, conds, now, reason, traceContext, &result); err != nil {
			return result, err
		}
	}
	return result, nil
}

// scoreSet is the scores an evaluation of some profiles reads.
type scoreSet struct {
	store condition.StoreStatistics
	rfm   map[string]condition.RFM
}

// loadScores reads the profiles' RFM when rfm is true and the store's
// statistics when store is: what conditions that read rfm.* and store.*
// need, and nothing when none does.
func loadScores(ctx context.Context, r ScoreReader, rfm, store bool, names []string) (scoreSet, error) {
	var s scoreSet
	var err error
	if store && len(names) > 0 {
		if s.store, err = r.StoreStatistics(ctx); err != nil {
			return scoreSet{}, err
		}
	}
	if rfm && len(names) > 0 {
		if s.rfm, err = r.ProfileScores(ctx, names); err != nil {
			return scoreSet{}, err
		}
	}
	return s, nil
}

// add gives a profile's facts its scores.
func (s scoreSet) add(f *condition.Facts, profile string) {
	f.Store, f.RFM = s.store, s.rfm[profile]
}

// addScores gives the states the scores their evaluation against p needs.
func addScores(ctx context.Context, r ScoreReader, p *plan, states map[string]*profileState) error {
	s, err := loadScores(ctx, r, len(p.rfm) > 0, len(p.store) > 0, slices.Collect(maps.Keys(states)))
	if err != nil {
		return err
	}
	for name, st := range states {
		s.add(&st.facts, name)
	}
	return nil
}
