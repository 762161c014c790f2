package match_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/match"
)

// TestEstimateRecovers draws comparison vectors from a known model, with
// comparisons independent given the match status and some values missing,
// and checks that EM from the configured defaults recovers the m/u
// probabilities and the prevalence.
func TestEstimateRecovers(t *testing.T) {
	truth := []match.Field{{M: 0.9, U: 0.05}, {M: 0.7, U: 0.1}, {M: 0.95, U: 0.2}, {M: 0.8, U: 0.02}, {M: 0.5, U: 0.01}}
	const prevalence = 0.2
	rng := rand.New(rand.NewPCG(1, 2))
	var vectors [][]int8
	for range 20000 {
		isMatch := rng.Float64() < prevalence
		v := make([]int8, len(truth))
		for k, f := range truth {
			p := f.U
			if isMatch {
				p = f.M
			}
			switch {
			case rng.Float64() < 0.1:
				v[k] = -1
			case rng.Float64() < p:
				v[k] = 1
			}
		}
		vectors = append(vectors, v)
	}
	fit := match.Estimate(match.DefaultModel(), vectors, 500, false)
	require.InDelta(t, prevalence, fit.Prevalence, 0.02)
	for k, f := range fit.Model.Fields {
		require.InDelta(t, truth[k].M, f.M, 0.04, "m of %s", match.Comparisons[k])
		require.InDelta(t, truth[k].U, f.U, 0.03, "u of %s", match.Comparisons[k])
	}

	fixed := match.Estimate(match.Model{Fields: truth}, vectors, 500, true)
	for k, f := range fixed.Model.Fields {
		require.Equal(t, truth[k].U, f.U, "u of %s stays fixed", match.Comparisons[k])
		require.InDelta(t, truth[k].M, f.M, 0.04, "m of %s", match.Comparisons[k])
	}
}

func TestJaroWinkler(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.961},
		{"dwayne", "duane", 0.840},
		{"dixon", "dicksonx", 0.813},
		{"abc", "abc", 1},
		{"abc", "xyz", 0},
		{"", "abc", 0},
	} {
		require.InDelta(t, tc.want, match.JaroWinkler(tc.a, tc.b), 0.001, "%s/%s", tc.a, tc.b)
	}
}

func TestSoundex(t *testing.T) {
	for in, want := range map[string]string{"Robert": "R163", "Rupert": "R163", "Ashcraft": "A261", "Tymczak": "T522", "Pfister": "P236", "Lee": "L000", "": ""} {
		require.Equal(t, want, match.Soundex(in), in)
	}
}

func TestThresholdsDecide(t *testing.T) {
	th := match.Thresholds{Merge: 10, Review: 5, AutoMerge: true}
	for _, tc := range []struct {
		name  string
		score match.Score
		want  match.Decision
	}{
		{"above merge", match.Score{Weight: 11}, match.Merge},
		{"above merge, email conflict", match.Score{Weight: 20, Conflicts: []string{match.ConflictEmail}}, match.Review},
		{"above merge, user id conflict", match.Score{Weight: 20, Conflicts: []string{match.ConflictUserID}}, match.Drop},
		{"between", match.Score{Weight: 7}, match.Review},
		{"below", match.Score{Weight: 4.9}, match.Drop},
	} {
		require.Equal(t, tc.want, th.Decide(tc.score), tc.name)
	}
	th.AutoMerge = false
	require.Equal(t, match.Review, th.Decide(match.Score{Weight: 11}))
}

func TestCandidatePairsCapsBlocks(t *testing.T) {
	var records []match.Record
	for i := range 60 {
		records = append(records, match.Record{ID: string(rune('a' + i)), IP: "10.0.0.1", UserAgent: "ua"})
	}
	require.Empty(t, match.CandidatePairs(records, 50), "a block of 60 is over the cap of 50")
	require.Len(t, match.CandidatePairs(records[:10], 50), 45)
	records = append(records[:3:3], match.Record{ID: "x", Fingerprint: "f", Name: "ann lee", Postcode: "AB1"}, match.Record{ID: "y", Fingerprint: "f", Name: "anne lee", Postcode: "AB1"})
	require.Equal(t, [][2]int{{0, 1}, {0, 2}, {1, 2}, {3, 4}}, match.CandidatePairs(records, 50), "pairs sharing two keys come once")
}
