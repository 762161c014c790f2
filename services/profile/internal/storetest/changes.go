package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// notices returns the whole change log.
func notices(t *testing.T, g *profile.Graph) []profile.Notice {
	t.Helper()
	var all []profile.Notice
	after := int64(0)
	for {
		page, err := g.Notices(context.Background(), after, 3)
		require.NoError(t, err)
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

// noticeTexts describes notices in one line each, without times.
func noticeTexts(ns []profile.Notice, names map[string]string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprintf("%d %s %s", n.Seq, n.Kind, names[n.Profile])
		if n.Other != "" {
			out[i] += " " + names[n.Other]
		}
		if len(n.Identifiers) > 0 {
			out[i] += fmt.Sprintf(" moved=%v", texts(n.Identifiers))
		}
		if len(n.Kept) > 0 {
			out[i] += fmt.Sprintf(" kept=%v", texts(n.Kept))
		}
		if n.Rule != "" {
			out[i] += " rule=" + n.Rule
		}
		if len(n.Consents) > 0 {
			out[i] += fmt.Sprintf(" %v", consentTexts(n.Consents))
		}
	}
	return out
}

func testNotices(t *testing.T, g *profile.Graph) {
	ctx := context.Background()
	at := func(h int) time.Time { return time.Date(2026, 2, 1, h, 0, 0, 0, time.UTC) }
	a := resolve(t, g, nil, "anonymous_id:a1").Profile
	b := resolve(t, g, nil, "email:b@example.com", "device_id:d1").Profile
	c := resolve(t, g, nil, "user_id:c").Profile
	names := map[string]string{a.ID: "a", b.ID: "b", c.ID: "c"}
	require.Empty(t, notices(t, g), "creating and linking profiles announces nothing")

	_, _, err := g.SetConsents(ctx, b.ID, []profile.Consent{{Purpose: "email", Granted: true, Source: "signup", Time: at(10)}})
	require.NoError(t, err)
	require.Equal(t, []string{b.ID}, resolve(t, g, nil, "anonymous_id:a1", "email:b@example.com").Merged)
	_, m, err := g.MergeProfiles(ctx, profile.Identifier{Type: "user_id", Value: "c"}, profile.Identifier{Type: "anonymous_id", Value: "a1"}, "support")
	require.NoError(t, err)
	require.NotNil(t, m)
	require.Equal(t, c.ID, m.Merged)
	_, _, err = g.Unmerge(ctx, c.ID)
	require.NoError(t, err)
	_, _, err = g.Unmerge(ctx, b.ID)
	require.NoError(t, err)
	_, _, err = g.SetConsents(ctx, a.ID, []profile.Consent{{Purpose: "sms", Source: "form", Time: at(11)}})
	require.NoError(t, err)

	all := notices(t, g)
	require.Equal(t, []string{
		"1 consent b [email=granted by signup at 10:00]",
		"2 merged a b moved=[email:b@example.com device_id:d1] rule=seen_together",
		"3 consent a [email=granted by signup at 10:00]",
		"4 merged a c moved=[user_id:c] rule=manual",
		"5 unmerged a c moved=[user_id:c] kept=[email:b@example.com device_id:d1 anonymous_id:a1]",
		"6 consent a [email=granted by signup at 10:00]",
		"7 unmerged a b moved=[email:b@example.com device_id:d1] kept=[anonymous_id:a1]",
		"8 consent b [email=granted by signup at 10:00]",
		"9 consent a [sms=denied by form at 11:00]",
	}, noticeTexts(all, names))
	merges, err := g.Merges(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, merges[0].Time, all[1].Time, "a merge is announced at its time")
	require.Equal(t, merges[0].UnmergeTime, all[6].Time, "an unmerge is announced at its time")
	require.Equal(t, at(11), all[8].Time, "a consent change is announced at the time of the answer")

	tail, err := g.Notices(ctx, 7, 100)
	require.NoError(t, err)
	require.Equal(t, all[7:], tail, "reading after a position resumes there")
	none, err := g.Notices(ctx, 9, 100)
	require.NoError(t, err)
	require.Empty(t, none)
}

// testNoticesConcurrent merges many pairs of profiles at once: the change
// log gets one notice per merge, numbered 1..n without gaps, whatever the
// interleaving.
func testNoticesConcurrent(t *testing.T, g *profile.Graph) {
	const pairs = 12
	for i := range pairs {
		resolve(t, g, nil, fmt.Sprintf("anonymous_id:l%d", i))
		resolve(t, g, nil, fmt.Sprintf("anonymous_id:r%d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, pairs)
	for i := range pairs {
		wg.Go(func() {
			_, err := g.Resolve(context.Background(), profile.Request{Identifiers: ids(fmt.Sprintf("anonymous_id:l%d", i), fmt.Sprintf("anonymous_id:r%d", i))})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	all := notices(t, g)
	require.Len(t, all, pairs)
	merged := map[string]bool{}
	for i, n := range all {
		require.EqualValues(t, i+1, n.Seq, "sequence numbers are gap-free")
		require.Equal(t, profile.NoticeMerged, n.Kind)
		merged[n.Other] = true
	}
	require.Len(t, merged, pairs, "each merge is announced once")
}
