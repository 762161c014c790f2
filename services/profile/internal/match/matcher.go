package match

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/barista-cdp/barista/pkg/ident"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// Options configure a Matcher.
type Options struct {
	// Model scores pairs; DefaultModel when its Fields are nil.
	Model Model
	// Thresholds classify pairs.
	Thresholds Thresholds
	// MaxBlock caps blocks; DefaultMaxBlock when 0.
	MaxBlock int
	// Interval is the time between passes of Run; 0 means 30 seconds.
	Interval time.Duration
	// Logger receives pass errors; slog.Default when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// batch is how many changed profiles a pass reads at a time.
const batch = 200

// maxRemembered bounds the signals Observe remembers to skip rewriting
// unchanged ones.
const maxRemembered = 100_000

// Matcher keeps the signals of profiles and matches, in the background,
// the profiles whose signals changed against the profiles that share a
// blocking key with them.
type Matcher struct {
	graph *profile.Graph
	store profile.MatchStore
	opts  Options

	pass   sync.Mutex // one pass at a time
	cursor int64      // Seq of the last signals matched; guarded by pass

	mu         sync.Mutex
	remembered map[string]profile.Signals // latest written, by profile
}

// New returns a Matcher over graph and store (the graph's store).
func New(graph *profile.Graph, store profile.MatchStore, opts Options) *Matcher {
	if opts.Model.Fields == nil {
		opts.Model = DefaultModel()
	}
	if opts.MaxBlock == 0 {
		opts.MaxBlock = DefaultMaxBlock
	}
	if opts.Interval == 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Matcher{graph: graph, store: store, opts: opts, remembered: map[string]profile.Signals{}}
}

// Thresholds returns the thresholds the matcher runs with.
func (m *Matcher) Thresholds() Thresholds { return m.opts.Thresholds }

// Observation is what a resolve saw besides identifiers.
type Observation struct {
	IP, UserAgent, Fingerprint string
	// Created reports that the resolve created the profile, so that no
	// signals are stored for it yet and none need be read.
	Created bool
}

// Observe records the signals seen with profile p, as it is after a
// resolve: the observation's non-empty fields replace the stored ones, and
// name and postcode come from p's traits. It writes only when something
// changed, and does no matching.
func (m *Matcher) Observe(ctx context.Context, p profile.Profile, o Observation) error {
	name, postcode := TraitName(p.Traits), TraitPostcode(p.Traits)
	if o.IP == "" && o.UserAgent == "" && o.Fingerprint == "" && name == "" && postcode == "" {
		return nil
	}
	m.mu.Lock()
	cur, ok := m.remembered[p.ID]
	m.mu.Unlock()
	if !ok && o.Created {
		cur = profile.Signals{ProfileID: p.ID}
	} else if !ok {
		stored, err := m.store.MatchSignals(ctx, []string{p.ID})
		if err != nil {
			return err
		}
		cur = profile.Signals{ProfileID: p.ID}
		if len(stored) == 1 {
			cur = stored[0]
		}
	}
	next := cur
	next.Fingerprint = cmpOr(o.Fingerprint, cur.Fingerprint)
	next.IP = cmpOr(o.IP, cur.IP)
	next.UserAgent = cmpOr(o.UserAgent, cur.UserAgent)
	next.Name = cmpOr(name, cur.Name)
	next.Postcode = cmpOr(postcode, cur.Postcode)
	next.Keys = BlockKeys(Record{Fingerprint: next.Fingerprint, IP: next.IP, UserAgent: next.UserAgent, Name: next.Name, Postcode: next.Postcode})
	if sameSignals(cur, next) {
		m.remember(next)
		return nil
	}
	next.UpdateTime = m.opts.Now().UTC().Truncate(time.Microsecond)
	if err := m.store.SetMatchSignals(ctx, next); err != nil {
		return err
	}
	m.remember(next)
	return nil
}

func (m *Matcher) remember(s profile.Signals) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.remembered) >= maxRemembered {
		clear(m.remembered)
	}
	m.remembered[s.ProfileID] = s
}

func sameSignals(a, b profile.Signals) bool {
	return a.Fingerprint == b.Fingerprint && a.IP == b.IP && a.UserAgent == b.UserAgent && a.Name == b.Name && a.Postcode == b.Postcode
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TraitName returns the normalized name in traits: "name", or "first_name"
// (or "firstName") with "last_name" (or "lastName").
func TraitName(traits map[string]any) string {
	if s, ok := traits["name"].(string); ok && s != "" {
		return NormalizeName(s)
	}
	first, _ := cmpOrAny(traits, "first_name", "firstName").(string)
	last, _ := cmpOrAny(traits, "last_name", "lastName").(string)
	return NormalizeName(first + " " + last)
}

// TraitPostcode returns the normalized postcode in traits: "postcode",
// "postal_code", "postalCode" or "zip", at the top level or in "address".
func TraitPostcode(traits map[string]any) string {
	keys := []string{"postcode", "postal_code", "postalCode", "zip"}
	if s, ok := cmpOrAny(traits, keys...).(string); ok && s != "" {
		return NormalizePostcode(s)
	}
	if addr, ok := traits["address"].(map[string]any); ok {
		if s, ok := cmpOrAny(addr, keys...).(string); ok {
			return NormalizePostcode(s)
		}
	}
	return ""
}

func cmpOrAny(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil && v != "" {
			return v
		}
	}
	return nil
}

// Stats counts what a pass did.
type Stats struct {
	// Profiles is how many profiles with changed signals were matched.
	Profiles int
	// Pairs is how many candidate pairs were scored.
	Pairs int
	// Proposed is how many scored pairs went to (or stayed in) review; a
	// pair whose profiles both changed counts from each side.
	Proposed int
	// Merged is how many pairs merged automatically.
	Merged int
}

// Run runs a pass every interval until ctx ends, logging failed passes.
func (m *Matcher) Run(ctx context.Context) error {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		if _, err := m.RunOnce(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.Warn("probabilistic matching pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce matches every profile whose signals changed since the last pass.
// A process starts from the beginning, so that its first pass matches all
// profiles again: decided pairs are remembered by the store and not
// proposed again.
func (m *Matcher) RunOnce(ctx context.Context) (Stats, error) {
	m.pass.Lock()
	defer m.pass.Unlock()
	var st Stats
	for {
		changed, err := m.store.ChangedMatchSignals(ctx, m.cursor, batch)
		if err != nil {
			return st, err
		}
		if len(changed) == 0 {
			return st, nil
		}
		for _, s := range changed {
			if err := m.matchOne(ctx, s, &st); err != nil {
				return st, err
			}
			m.cursor = s.Seq
			st.Profiles++
		}
	}
}

// matchOne compares the profile of s with the profiles in its blocks.
func (m *Matcher) matchOne(ctx context.Context, s profile.Signals, st *Stats) error {
	self, err := m.record(ctx, s)
	if errors.Is(err, profile.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if self.ID != s.ProfileID {
		return nil // merged away since: the survivor's own signals count
	}
	blocks, err := m.store.MatchBlock(ctx, s.Keys, m.opts.MaxBlock+1)
	if err != nil {
		return err
	}
	var peers []profile.Signals
	seen := map[string]bool{s.ProfileID: true}
	for _, key := range s.Keys {
		block := blocks[key]
		if len(block) > m.opts.MaxBlock {
			continue
		}
		for _, p := range block {
			if !seen[p.ProfileID] {
				seen[p.ProfileID] = true
				peers = append(peers, p)
			}
		}
	}
	for _, peer := range peers {
		other, err := m.record(ctx, peer)
		if errors.Is(err, profile.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if other.ID != peer.ProfileID || other.ID == self.ID {
			continue
		}
		st.Pairs++
		merged, err := m.decide(ctx, self, other, st)
		if err != nil {
			return err
		}
		if merged {
			// The profile changed (or was absorbed): compare the live
			// survivor from here on.
			if self, err = m.record(ctx, s); err != nil {
				return err
			}
			if self.ID != s.ProfileID {
				return nil
			}
		}
	}
	return nil
}

// decide scores a pair and proposes or merges it; it reports a merge.
func (m *Matcher) decide(ctx context.Context, a, b Record, st *Stats) (bool, error) {
	score := m.opts.Model.Score(a, b)
	decision := m.opts.Thresholds.Decide(score)
	if decision == Drop {
		return false, nil
	}
	x, y := a.ID, b.ID
	if y < x {
		x, y = y, x
	}
	now := m.opts.Now().UTC().Truncate(time.Microsecond)
	c, err := m.store.ProposeMatch(ctx, profile.Candidate{
		A: x, B: y, Score: score.Weight, Agreements: score.Agreements, Conflicts: score.Conflicts,
		State: profile.CandidatePending, CreateTime: now,
	})
	if err != nil {
		return false, err
	}
	if c.State != profile.CandidatePending {
		return false, nil // decided before: never proposed again
	}
	if decision == Review {
		st.Proposed++
		return false, nil
	}
	reason := fmt.Sprintf("probabilistic match: %.1f bits (merge threshold %.1f), agreed on %s",
		score.Weight, m.opts.Thresholds.Merge, strings.Join(score.Agreements, ", "))
	_, merge, err := m.graph.MergeMatch(ctx, x, y, reason, func(pa, pb profile.Profile) error {
		// The profiles may have changed since they were scored: a hard
		// conflict now still stops an automatic merge.
		if c := Conflicts(hardIDs(pa), hardIDs(pb)); len(c) > 0 {
			return fmt.Errorf("%w: profiles/%s and profiles/%s now conflict on %s", profile.ErrConflict, pa.ID, pb.ID, strings.Join(c, ", "))
		}
		return nil
	})
	if errors.Is(err, profile.ErrConflict) {
		m.opts.Logger.Info("automatic merge refused; left for review", "candidate", c.ID, "error", err)
		st.Proposed++
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := m.store.DecideMatch(ctx, c.ID, profile.CandidateMerged, reason, now); err != nil && !errors.Is(err, profile.ErrNotPending) {
		return false, err
	}
	if merge != nil {
		st.Merged++
	}
	return merge != nil, nil
}

// record builds the Record of the live profile s names: the signals, with
// the hard identifiers of the profile it is (or was merged into).
func (m *Matcher) record(ctx context.Context, s profile.Signals) (Record, error) {
	p, err := m.graph.Get(ctx, s.ProfileID)
	if err != nil {
		return Record{}, err
	}
	r := hardIDs(p)
	r.Fingerprint, r.IP, r.UserAgent, r.Name, r.Postcode = s.Fingerprint, s.IP, s.UserAgent, s.Name, s.Postcode
	return r, nil
}

func hardIDs(p profile.Profile) Record {
	r := Record{ID: p.ID}
	for _, id := range p.Identifiers {
		switch id.Type {
		case ident.UserID:
			r.UserID = id.Value
		case ident.Email:
			r.Emails = append(r.Emails, id.Value)
		}
	}
	slices.Sort(r.Emails)
	return r
}

// Review accepts or rejects the pending candidate id. Accepting merges its
// profiles with rule "probabilistic", whatever their emails: the reviewer
// decided. It returns the candidate, and on accept the survivor and the
// merge (nil when the profiles were one already).
func (m *Matcher) Review(ctx context.Context, id int64, accept bool, reason string) (profile.Candidate, profile.Profile, *profile.Merge, error) {
	c, err := m.store.MatchCandidate(ctx, id)
	if err != nil {
		return profile.Candidate{}, profile.Profile{}, nil, err
	}
	if c.State != profile.CandidatePending {
		return profile.Candidate{}, profile.Profile{}, nil, fmt.Errorf("matchCandidates/%d is %s already: %w", id, c.State, profile.ErrNotPending)
	}
	now := m.opts.Now().UTC().Truncate(time.Microsecond)
	if !accept {
		c, err = m.store.DecideMatch(ctx, id, profile.CandidateRejected, reason, now)
		return c, profile.Profile{}, nil, err
	}
	logReason := fmt.Sprintf("match candidate matchCandidates/%d accepted (%.1f bits, agreed on %s): %s",
		id, c.Score, strings.Join(c.Agreements, ", "), reason)
	p, merge, err := m.graph.MergeMatch(ctx, c.A, c.B, logReason, nil)
	if err != nil {
		return profile.Candidate{}, profile.Profile{}, nil, err
	}
	c, err = m.store.DecideMatch(ctx, id, profile.CandidateAccepted, reason, now)
	return c, p, merge, err
}

// Candidates pages through candidates in state (CandidateAny for all);
// the returned after is 0 on the last page.
func (m *Matcher) Candidates(ctx context.Context, state profile.CandidateState, after int64, limit int) ([]profile.Candidate, int64, error) {
	cs, err := m.store.MatchCandidates(ctx, state, after, limit+1)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(cs) > limit {
		cs = cs[:limit]
		next = cs[limit-1].ID
	}
	return cs, next, nil
}
