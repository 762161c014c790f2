package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

var matchTime = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func setSignals(t *testing.T, g *profile.Graph, id string, r match.Record) {
	t.Helper()
	s := profile.Signals{ProfileID: id, Fingerprint: r.Fingerprint, IP: r.IP, UserAgent: r.UserAgent, Name: r.Name, Postcode: r.Postcode,
		Keys: match.BlockKeys(r), UpdateTime: matchTime}
	require.NoError(t, g.MatchStore().SetMatchSignals(context.Background(), s))
}

func signalIDs(ss []profile.Signals) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ProfileID
	}
	return out
}

// testMatchSignals checks storing signals, reading those changed since a
// position in change order, and blocks, which hold live profiles only.
func testMatchSignals(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	st := g.MatchStore()
	a := resolve(t, g, nil, "anonymous_id:a").Profile.ID
	b := resolve(t, g, nil, "anonymous_id:b").Profile.ID
	c := resolve(t, g, nil, "anonymous_id:c").Profile.ID

	setSignals(t, g, a, match.Record{Fingerprint: "f1", IP: "10.0.0.1", UserAgent: "ua"})
	setSignals(t, g, b, match.Record{Fingerprint: "f1"})
	setSignals(t, g, c, match.Record{IP: "10.0.0.1", UserAgent: "ua", Name: "ann lee", Postcode: "AB1"})
	require.ErrorIs(t, st.SetMatchSignals(ctx, profile.Signals{ProfileID: "0190a3c4-0000-7000-8000-000000000000", UpdateTime: matchTime}), profile.ErrNotFound)

	got, err := st.MatchSignals(ctx, []string{c, "not-a-uuid"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "ann lee", got[0].Name)
	require.Equal(t, "AB1", got[0].Postcode)
	require.Equal(t, []string{"ipua:10.0.0.1|ua", "np:AB1|L000"}, got[0].Keys)
	require.Equal(t, matchTime, got[0].UpdateTime)

	changed, err := st.ChangedMatchSignals(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{a, b, c}, signalIDs(changed), "in change order")
	first, err := st.ChangedMatchSignals(ctx, 0, 1)
	require.NoError(t, err)
	rest, err := st.ChangedMatchSignals(ctx, first[0].Seq, 10)
	require.NoError(t, err)
	require.Equal(t, []string{b, c}, signalIDs(rest))

	// A rewrite moves the profile to the end of the change order.
	setSignals(t, g, a, match.Record{Fingerprint: "f2"})
	changed, err = st.ChangedMatchSignals(ctx, rest[len(rest)-1].Seq, 10)
	require.NoError(t, err)
	require.Equal(t, []string{a}, signalIDs(changed))
	require.Equal(t, "", changed[0].IP, "signals are replaced, not merged")

	setSignals(t, g, a, match.Record{Fingerprint: "f1", IP: "10.0.0.1", UserAgent: "ua"})
	blocks, err := st.MatchBlock(ctx, []string{"fp:f1", "ipua:10.0.0.1|ua", "fp:none"}, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a, b}, signalIDs(blocks["fp:f1"]))
	require.ElementsMatch(t, []string{a, c}, signalIDs(blocks["ipua:10.0.0.1|ua"]))
	require.Empty(t, blocks["fp:none"])
	blocks, err = st.MatchBlock(ctx, []string{"fp:f1"}, 1)
	require.NoError(t, err)
	require.Len(t, blocks["fp:f1"], 1, "at most limit per key")

	// Merged profiles leave blocks and the change order.
	resolve(t, g, nil, "anonymous_id:a", "anonymous_id:b")
	blocks, err = st.MatchBlock(ctx, []string{"fp:f1"}, 10)
	require.NoError(t, err)
	require.Equal(t, []string{a}, signalIDs(blocks["fp:f1"]))
	changed, err = st.ChangedMatchSignals(ctx, 0, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a, c}, signalIDs(changed))

	require.NoError(t, st.DeleteMatchData(ctx, []string{a, "not-a-uuid"}))
	got, err = st.MatchSignals(ctx, []string{a, c})
	require.NoError(t, err)
	require.Equal(t, []string{c}, signalIDs(got))
}

// testMatchCandidates checks the review queue: proposing, updating a
// pending pair, decided pairs staying decided, paging by state, erasure.
func testMatchCandidates(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	st := g.MatchStore()
	var p []string
	for _, id := range []string{"anonymous_id:a", "anonymous_id:b", "anonymous_id:c", "anonymous_id:d"} {
		p = append(p, resolve(t, g, nil, id).Profile.ID)
	}
	pair := func(i, j int) (string, string) {
		if p[i] < p[j] {
			return p[i], p[j]
		}
		return p[j], p[i]
	}
	propose := func(i, j int, score float64) profile.Candidate {
		t.Helper()
		a, b := pair(i, j)
		c, err := st.ProposeMatch(ctx, profile.Candidate{A: a, B: b, Score: score, Agreements: []string{"name"}, State: profile.CandidatePending, CreateTime: matchTime})
		require.NoError(t, err)
		return c
	}
	ab := propose(0, 1, 6)
	require.NotZero(t, ab.ID)
	require.Equal(t, profile.CandidatePending, ab.State)
	require.Equal(t, []string{"name"}, ab.Agreements)
	require.Empty(t, ab.Conflicts)
	require.Equal(t, matchTime, ab.CreateTime)
	require.True(t, ab.ReviewTime.IsZero())
	cd := propose(2, 3, 7)
	ac := propose(0, 2, 8)

	again := propose(0, 1, 9)
	require.Equal(t, ab.ID, again.ID, "one candidate per pair")
	require.InDelta(t, 9, again.Score, 1e-9, "a pending pair takes the new score")

	rejected, err := st.DecideMatch(ctx, ab.ID, profile.CandidateRejected, "siblings", matchTime.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, profile.CandidateRejected, rejected.State)
	require.Equal(t, "siblings", rejected.ReviewReason)
	require.Equal(t, matchTime.Add(time.Hour), rejected.ReviewTime)
	_, err = st.DecideMatch(ctx, ab.ID, profile.CandidateAccepted, "", matchTime)
	require.ErrorIs(t, err, profile.ErrNotPending)
	_, err = st.DecideMatch(ctx, 999999, profile.CandidateAccepted, "", matchTime)
	require.ErrorIs(t, err, profile.ErrNotFound)
	_, err = st.MatchCandidate(ctx, 999999)
	require.ErrorIs(t, err, profile.ErrNotFound)

	after := propose(0, 1, 20)
	require.Equal(t, profile.CandidateRejected, after.State, "a rejected pair stays rejected")
	require.InDelta(t, 9, after.Score, 1e-9)

	merged, err := st.ProposeMatch(ctx, profile.Candidate{A: cd.A, B: cd.B, Score: 12, State: profile.CandidateMerged, CreateTime: matchTime, ReviewTime: matchTime, ReviewReason: "auto"})
	require.NoError(t, err)
	require.Equal(t, profile.CandidateMerged, merged.State)

	list := func(state profile.CandidateState) []int64 {
		t.Helper()
		var ids []int64
		after := int64(0)
		for {
			page, err := st.MatchCandidates(ctx, state, after, 1)
			require.NoError(t, err)
			if len(page) == 0 {
				return ids
			}
			for _, c := range page {
				ids = append(ids, c.ID)
			}
			after = page[len(page)-1].ID
		}
	}
	require.Equal(t, []int64{ab.ID, cd.ID, ac.ID}, list(profile.CandidateAny))
	require.Equal(t, []int64{ac.ID}, list(profile.CandidatePending))
	require.Equal(t, []int64{ab.ID}, list(profile.CandidateRejected))
	require.Equal(t, []int64{cd.ID}, list(profile.CandidateMerged))

	require.NoError(t, st.DeleteMatchData(ctx, []string{p[0]}))
	require.Equal(t, []int64{cd.ID}, list(profile.CandidateAny), "candidates naming an erased profile go")
}

// testMatching runs the matcher over the store: a strong match merges
// automatically with rule "probabilistic" and can be unmerged; a pair with
// conflicting emails waits in review whatever its score; a rejected pair is
// not proposed again; an accepted one merges.
func testMatching(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	th := match.DefaultThresholds()
	th.AutoMerge = true
	m := match.New(g, g.MatchStore(), match.Options{Thresholds: th, Now: func() time.Time { return matchTime }})
	observe := func(id string, traits map[string]any, o match.Observation) string {
		t.Helper()
		p := resolve(t, g, traits, id).Profile
		require.NoError(t, m.Observe(ctx, p, o))
		return p.ID
	}
	phone := match.Observation{IP: "10.1.1.1", UserAgent: "Mobile Safari", Fingerprint: "fp-phone"}
	// The same phone after a cookie reset: fingerprint, IP and user agent.
	a1 := observe("anonymous_id:a1", nil, phone)
	a2 := observe("anonymous_id:a2", nil, phone)
	// One person's work and private emails, same name and postcode:
	// conflicting emails, so review only.
	e1 := observe("email:ann.lee@example.com", map[string]any{"name": "Ann Lee", "postcode": "ab1 2cd"}, match.Observation{Fingerprint: "fp-laptop"})
	e2 := observe("email:ann.lee@work.example", map[string]any{"first_name": "Anne", "last_name": "Lee", "address": map[string]any{"postal_code": "AB1 2CD"}}, match.Observation{})
	// A different person in the same office: IP and user agent only,
	// below the review threshold.
	observe("anonymous_id:o1", nil, match.Observation{IP: "10.1.1.1", UserAgent: "Mobile Safari"})

	stats, err := m.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, stats.Merged)
	require.Positive(t, stats.Proposed)

	survivor := get(t, g, a2)
	require.Equal(t, a1, survivor.ID, "the older profile survives")
	merges, err := g.Merges(ctx, a1)
	require.NoError(t, err)
	require.Len(t, merges, 1)
	require.Equal(t, profile.RuleProbabilistic, merges[0].Rule)
	require.Contains(t, merges[0].Reason, "device_fingerprint, ip_user_agent")

	all, _, err := m.Candidates(ctx, profile.CandidateAny, 0, 10)
	require.NoError(t, err)
	require.Len(t, all, 2)
	var review profile.Candidate
	for _, c := range all {
		switch c.State {
		case profile.CandidateMerged:
			require.ElementsMatch(t, []string{a1, a2}, []string{c.A, c.B})
		case profile.CandidatePending:
			review = c
		}
	}
	require.ElementsMatch(t, []string{e1, e2}, []string{review.A, review.B})
	require.Equal(t, []string{"email"}, review.Conflicts)
	require.Contains(t, review.Agreements, "name")
	require.Contains(t, review.Agreements, "postcode")

	// The automatic merge is undone like any other; the matcher, seeing
	// the pair decided, does not merge it again.
	_, _, err = g.Unmerge(ctx, a2)
	require.NoError(t, err)
	require.NoError(t, m.Observe(ctx, get(t, g, a2), match.Observation{IP: "10.1.1.2"}))
	_, err = m.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, a2, get(t, g, a2).ID, "an unmerged pair is not merged again")

	// Rejecting is remembered.
	rejected, _, merge, err := m.Review(ctx, review.ID, false, "two people")
	require.NoError(t, err)
	require.Nil(t, merge)
	require.Equal(t, profile.CandidateRejected, rejected.State)
	_, _, _, err = m.Review(ctx, review.ID, true, "changed my mind")
	require.ErrorIs(t, err, profile.ErrNotPending)
	require.NoError(t, m.Observe(ctx, get(t, g, e2), match.Observation{IP: "10.9.9.9"}))
	_, err = m.RunOnce(ctx)
	require.NoError(t, err)
	pending, _, err := m.Candidates(ctx, profile.CandidatePending, 0, 10)
	require.NoError(t, err)
	require.Empty(t, pending, "a rejected pair is not proposed again")

	// Accepting merges, with the reviewer's reason in the merge log.
	f1 := observe("email:bo.kim@example.com", map[string]any{"name": "Bo Kim", "zip": "X9"}, match.Observation{})
	f2 := observe("email:bokim@work.example", map[string]any{"name": "Bo Kim", "zip": "X9"}, match.Observation{})
	_, err = m.RunOnce(ctx)
	require.NoError(t, err)
	pending, _, err = m.Candidates(ctx, profile.CandidatePending, 0, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	accepted, p, merge, err := m.Review(ctx, pending[0].ID, true, "same customer per support ticket")
	require.NoError(t, err)
	require.Equal(t, profile.CandidateAccepted, accepted.State)
	require.NotNil(t, merge)
	require.Equal(t, profile.RuleProbabilistic, merge.Rule)
	require.Contains(t, merge.Reason, "same customer per support ticket")
	require.ElementsMatch(t, []string{f1, f2}, []string{merge.Survivor, merge.Merged})
	require.Equal(t, 2, countType(p, "email"))
}
