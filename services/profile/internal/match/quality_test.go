package match_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/match"
)

// Floors on the synthetic population at the default thresholds, with
// automatic merges on. They sit a few points under what the defaults
// measure, so that a change to scoring, blocking or defaults that costs
// real quality fails here.
// Recall counts against every pair of profiles of one person, including
// the many (anonymous profiles on different devices) that share no signal
// and that no matcher could find; the test also prints the ceiling that
// blocking leaves.
const (
	floorAutoPrecision   = 0.97
	floorAutoRecall      = 0.18
	floorReviewedRecall  = 0.21
	floorReviewPrecision = 0.80
)

var testPopulation = populationOptions{People: 3000, Postcodes: 400, Offices: 40, CarrierIPs: 30, Seed: 4}

// TestQuality measures precision and recall of automatic merges and of
// automatic merges plus the review queue on a synthetic population with
// known truth, with the configured model and with a model fitted by EM.
func TestQuality(t *testing.T) {
	pop := newPopulation(testPopulation)
	th := match.DefaultThresholds()
	th.AutoMerge = true
	pairs := match.Link(pop.records, match.DefaultModel(), th, match.DefaultMaxBlock)
	auto, reviewed, queue := pop.evaluate(pairs)
	ceiling := pop.ceiling(pairs)
	t.Logf("population: %d profiles of %d people, %d true pairs, %d candidate pairs", len(pop.records), testPopulation.People, pop.truePairs(), len(pairs))
	t.Logf("blocking ceiling (every true candidate pair merged): recall %.3f", ceiling.recall())
	t.Logf("configured model, merge ≥ %g bits, review ≥ %g bits:", th.Merge, th.Review)
	t.Logf("  automatic merges:   %s; %.3f of the ceiling", auto, auto.recall()/ceiling.recall())
	t.Logf("  automatic + review: %s; %.3f of the ceiling (review queue %d pairs, %.3f of them true)",
		reviewed, reviewed.recall()/ceiling.recall(), queue, reviewPrecision(auto, reviewed, queue))

	// EM over the candidate pairs, from the configured model, for
	// comparison only: among candidate pairs the blocking keys agree by
	// construction and EM's latent classes follow the blocks rather than
	// the persons, which is why the service runs the configured model.
	var vectors [][]int8
	m := match.DefaultModel()
	for _, p := range pairs {
		vectors = append(vectors, m.Compare(pop.records[p.A], pop.records[p.B]))
	}
	fit := match.Estimate(m, vectors, 200, false)
	for k, f := range fit.Model.Fields {
		t.Logf("  EM %-18s m %.3f (configured %.3f)  u %.4f (configured %.4f)", match.Comparisons[k], f.M, m.Fields[k].M, f.U, m.Fields[k].U)
	}
	emAuto, emReviewed, emQueue := pop.evaluate(match.Link(pop.records, fit.Model, th, match.DefaultMaxBlock))
	t.Logf("EM model (prevalence %.3f, %d iterations), same thresholds:", fit.Prevalence, fit.Iterations)
	t.Logf("  automatic merges:   %s", emAuto)
	t.Logf("  automatic + review: %s (review queue %d pairs)", emReviewed, emQueue)

	require.GreaterOrEqual(t, auto.precision(), floorAutoPrecision, "precision of automatic merges")
	require.GreaterOrEqual(t, auto.recall(), floorAutoRecall, "recall of automatic merges")
	require.GreaterOrEqual(t, reviewed.recall(), floorReviewedRecall, "recall of automatic merges and review")
	require.GreaterOrEqual(t, reviewPrecision(auto, reviewed, queue), floorReviewPrecision, "share of true matches in the review queue")
}

// reviewPrecision is the share of the review queue that are true matches.
func reviewPrecision(auto, reviewed quality, queue int) float64 {
	if queue == 0 {
		return 1
	}
	return float64(reviewed.correct-auto.correct) / float64(queue)
}

// TestQualityAutoMergeOff checks that with automatic merges off (the
// default) nothing merges and the pairs above the merge threshold wait in
// review.
func TestQualityAutoMergeOff(t *testing.T) {
	pop := newPopulation(populationOptions{People: 300, Postcodes: 40, Offices: 5, CarrierIPs: 5, Seed: 9})
	pairs := match.Link(pop.records, match.DefaultModel(), match.DefaultThresholds(), match.DefaultMaxBlock)
	high := 0
	for _, p := range pairs {
		require.NotEqual(t, match.Merge, p.Decision)
		if p.Weight >= match.DefaultMergeThreshold && len(p.Conflicts) == 0 {
			high++
			require.Equal(t, match.Review, p.Decision)
		}
	}
	require.Positive(t, high, "the population must have pairs above the merge threshold")
}

// BenchmarkLink measures blocking, scoring and classifying a population.
// It reports the cost per profile and the ratio to scoring the same
// candidate pairs alone, measured in the same run: what blocking adds.
func BenchmarkLink(b *testing.B) {
	pop := newPopulation(testPopulation)
	m, th := match.DefaultModel(), match.DefaultThresholds()
	pairs := match.CandidatePairs(pop.records, match.DefaultMaxBlock)
	b.Run("link", func(b *testing.B) {
		var scoring time.Duration
		for b.Loop() {
			b.StopTimer()
			start := time.Now()
			for _, p := range pairs {
				m.Score(pop.records[p[0]], pop.records[p[1]])
			}
			scoring += time.Since(start)
			b.StartTimer()
			match.Link(pop.records, m, th, match.DefaultMaxBlock)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pop.records)), "ns/profile")
		b.ReportMetric(float64(b.Elapsed())/float64(scoring), "x-scoring-alone")
		b.ReportMetric(float64(len(pairs))/float64(len(pop.records)), "pairs/profile")
	})
	b.Run("em", func(b *testing.B) {
		vectors := make([][]int8, len(pairs))
		for i, p := range pairs {
			vectors[i] = m.Compare(pop.records[p[0]], pop.records[p[1]])
		}
		for b.Loop() {
			match.Estimate(m, vectors, 200, false)
		}
	})
}
