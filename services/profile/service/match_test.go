package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/profile/internal/match"
)

func TestMatchOptions(t *testing.T) {
	opts, err := matchOptions(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, defaultMatchInterval, opts.Interval)
	require.Equal(t, match.DefaultThresholds(), opts.Thresholds)
	require.False(t, opts.Thresholds.AutoMerge, "automatic merges are off by default")

	opts, err = matchOptions(map[string]string{MatchIntervalFlag: "0", MatchAutoMergeFlag: "true", MatchMergeThresholdFlag: "14", MatchReviewThresholdFlag: "6.5"})
	require.NoError(t, err)
	require.Equal(t, time.Duration(0), opts.Interval)
	require.Equal(t, match.Thresholds{Merge: 14, Review: 6.5, AutoMerge: true}, opts.Thresholds)

	for flags, want := range map[[2]string]string{
		{MatchIntervalFlag, "soon"}:        `--match-interval: want a duration such as 30s, or 0 to turn matching off; got "soon"`,
		{MatchIntervalFlag, "-1s"}:         `--match-interval: want a duration such as 30s, or 0 to turn matching off; got "-1s"`,
		{MatchAutoMergeFlag, "maybe"}:      `--match-auto-merge: want true or false; got "maybe"`,
		{MatchMergeThresholdFlag, "x"}:     `--match-merge-threshold: want a number of bits; got "x"`,
		{MatchReviewThresholdFlag, "20.5"}: "--match-review-threshold, --match-merge-threshold: review threshold 20.5 is above the merge threshold 10",
	} {
		_, err := matchOptions(map[string]string{flags[0]: flags[1]})
		require.EqualError(t, err, want)
	}
}
