package profile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/barista-cdp/barista/pkg/apierror"
)

// RuleProbabilistic merges profiles that probabilistic matching found to
// be one person, automatically or on a reviewer's acceptance.
const RuleProbabilistic = "probabilistic"

// ErrNotPending is wrapped by errors about reviewing a match candidate that
// was already merged, accepted or rejected.
var ErrNotPending = fmt.Errorf("match candidate not pending: %w", apierror.ErrFailedPrecondition)

// Signals are the weak evidence kept about one profile for probabilistic
// matching: never identifiers, they only propose and score candidate pairs.
type Signals struct {
	// ProfileID is the profile.
	ProfileID string
	// Fingerprint, IP and UserAgent are the latest seen with the profile.
	Fingerprint, IP, UserAgent string
	// Name and Postcode are the profile's, from its traits, normalized.
	Name, Postcode string
	// Keys are the blocking keys derived from the signals.
	Keys []string
	// Seq orders changes of signals; stores set it on every write.
	Seq int64
	// UpdateTime is when the signals were last written.
	UpdateTime time.Time
}

// CandidateState is where a match candidate stands.
type CandidateState int

// Candidate states. A pending candidate becomes merged, accepted or
// rejected, and stays so: a decided pair is never proposed again.
const (
	// CandidateAny selects candidates in every state when listing.
	CandidateAny CandidateState = iota
	CandidatePending
	CandidateMerged
	CandidateAccepted
	CandidateRejected
)

func (s CandidateState) String() string {
	switch s {
	case CandidatePending:
		return "pending"
	case CandidateMerged:
		return "merged"
	case CandidateAccepted:
		return "accepted"
	case CandidateRejected:
		return "rejected"
	}
	return "any"
}

// Candidate is a pair of profiles that may be one person.
type Candidate struct {
	// ID names the candidate "matchCandidates/{ID}"; stores assign it.
	ID int64
	// A and B are the profiles, A < B, as they were when scored.
	A, B string
	// Score is the match weight in bits.
	Score float64
	// Agreements are the comparisons that agreed; Conflicts the hard
	// identifiers on which the profiles differ.
	Agreements, Conflicts []string
	// State is where the candidate stands.
	State CandidateState
	// CreateTime is when the pair was first proposed; ReviewTime when it
	// left the pending state.
	CreateTime, ReviewTime time.Time
	// ReviewReason is the reviewer's note.
	ReviewReason string
}

// MatchStore keeps the signals and the match candidates of probabilistic
// matching. Implementations are checked by the conformance suite in
// internal/storetest.
type MatchStore interface {
	// MatchSignals returns the stored signals of the profiles ids, those
	// that have any, in no particular order.
	MatchSignals(ctx context.Context, ids []string) ([]Signals, error)
	// SetMatchSignals replaces the signals of s.ProfileID and gives them
	// the next Seq.
	SetMatchSignals(ctx context.Context, s Signals) error
	// ChangedMatchSignals returns at most limit signals of live profiles
	// with Seq greater than after, in Seq order.
	ChangedMatchSignals(ctx context.Context, after int64, limit int) ([]Signals, error)
	// MatchBlock returns, for each of keys, the signals of at most limit
	// live profiles whose signals carry the key.
	MatchBlock(ctx context.Context, keys []string, limit int) (map[string][]Signals, error)
	// ProposeMatch stores c for the pair c.A, c.B (A < B) in state c.State
	// when the pair has no candidate yet, or updates the pair's pending
	// candidate with c's score, agreements, conflicts and state. A pair
	// decided already (merged, accepted, rejected) is left as it is. It
	// returns the pair's candidate as stored.
	ProposeMatch(ctx context.Context, c Candidate) (Candidate, error)
	// MatchCandidate returns the candidate with id, or wraps ErrNotFound.
	MatchCandidate(ctx context.Context, id int64) (Candidate, error)
	// MatchCandidates returns at most limit candidates in state
	// (CandidateAny for all) with ID greater than after, in ID order.
	MatchCandidates(ctx context.Context, state CandidateState, after int64, limit int) ([]Candidate, error)
	// DecideMatch moves the pending candidate id to state, with reason and
	// time. It wraps ErrNotFound for unknown ids and ErrNotPending when
	// the candidate is not pending.
	DecideMatch(ctx context.Context, id int64, state CandidateState, reason string, at time.Time) (Candidate, error)
	// DeleteMatchData deletes the signals of the profiles ids and the
	// candidates naming any of them, for erasure.
	DeleteMatchData(ctx context.Context, ids []string) error
}

// MergeMatch merges the live profiles that the profiles a and b are (or
// were merged into) with rule RuleProbabilistic, for reason. check, when
// not nil, vets the two locked profiles first. It returns the survivor and
// the merge, or nil when both are one profile already.
func (g *Graph) MergeMatch(ctx context.Context, a, b, reason string, check func(a, b Profile) error) (Profile, *Merge, error) {
	pa, err := g.Get(ctx, a)
	if err != nil {
		return Profile{}, nil, err
	}
	pb, err := g.Get(ctx, b)
	if err != nil {
		return Profile{}, nil, err
	}
	if pa.ID == pb.ID {
		return pa, nil, nil
	}
	if len(pa.Identifiers) == 0 || len(pb.Identifiers) == 0 {
		return Profile{}, nil, fmt.Errorf("%w: profiles/%s or profiles/%s holds no identifier", ErrConflict, pa.ID, pb.ID)
	}
	p, m, err := g.mergePair(ctx, pa.Identifiers[0], pb.Identifiers[0], RuleProbabilistic, reason, check)
	if errors.Is(err, ErrNotFound) {
		// An identifier moved between the reads and the lock: the caller
		// retries on its next pass.
		return Profile{}, nil, fmt.Errorf("%w: profiles/%s and profiles/%s changed while merging", ErrConflict, pa.ID, pb.ID)
	}
	return p, m, err
}

// MatchStore returns the store's signals and match candidates.
func (g *Graph) MatchStore() MatchStore { return g.store }
