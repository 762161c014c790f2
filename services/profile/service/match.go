package service

import (
	"fmt"
	"strconv"
	"time"

	"github.com/barista-cdp/barista/pkg/app"
	"github.com/barista-cdp/barista/services/profile/internal/api"
	"github.com/barista-cdp/barista/services/profile/internal/match"
	"github.com/barista-cdp/barista/services/profile/internal/profile"
)

// Flags of probabilistic matching (also BARISTA_PROFILE_MATCH_…).
const (
	// MatchIntervalFlag is the time between matching passes; "0" turns
	// matching off: no signals are kept and nothing is proposed.
	MatchIntervalFlag = "match-interval"
	// MatchAutoMergeFlag turns automatic merges on ("true"); off, the
	// default, every match goes to the review queue.
	MatchAutoMergeFlag = "match-auto-merge"
	// MatchMergeThresholdFlag is the match weight, in bits, from which a
	// pair merges automatically.
	MatchMergeThresholdFlag = "match-merge-threshold"
	// MatchReviewThresholdFlag is the match weight, in bits, from which a
	// pair goes to review.
	MatchReviewThresholdFlag = "match-review-threshold"
)

const defaultMatchInterval = 30 * time.Second

// The matching flags join Spec's here, so that they are declared next to
// the code that reads them.
func init() {
	for name, usage := range map[string]string{
		MatchIntervalFlag:        "time between probabilistic matching passes, such as 30s (the default); 0 turns matching off",
		MatchAutoMergeFlag:       "true merges probable matches above the merge threshold automatically; false (the default) sends every match to review",
		MatchMergeThresholdFlag:  fmt.Sprintf("match weight in bits from which a match merges automatically (default %g)", match.DefaultMergeThreshold),
		MatchReviewThresholdFlag: fmt.Sprintf("match weight in bits from which a match goes to review (default %g)", match.DefaultReviewThreshold),
	} {
		Spec.Flags[name] = usage
	}
}

// matchOptions reads the matching flags; a zero Interval means matching
// is off.
func matchOptions(flags map[string]string) (match.Options, error) {
	opts := match.Options{Thresholds: match.DefaultThresholds(), Interval: defaultMatchInterval}
	if v := flags[MatchIntervalFlag]; v != "" {
		d, err := time.ParseDuration(v)
		if v == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return opts, fmt.Errorf("--%s: want a duration such as 30s, or 0 to turn matching off; got %q", MatchIntervalFlag, v)
		}
		opts.Interval = d
	}
	if v := flags[MatchAutoMergeFlag]; v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return opts, fmt.Errorf("--%s: want true or false; got %q", MatchAutoMergeFlag, v)
		}
		opts.Thresholds.AutoMerge = on
	}
	for flag, dst := range map[string]*float64{MatchMergeThresholdFlag: &opts.Thresholds.Merge, MatchReviewThresholdFlag: &opts.Thresholds.Review} {
		if v := flags[flag]; v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return opts, fmt.Errorf("--%s: want a number of bits; got %q", flag, v)
			}
			*dst = f
		}
	}
	if err := opts.Thresholds.Validate(); err != nil {
		return opts, fmt.Errorf("--%s, --%s: %w", MatchReviewThresholdFlag, MatchMergeThresholdFlag, err)
	}
	return opts, nil
}

// newMatcher returns the matcher the flags ask for, wired into server, or
// nil when matching is off. The flags were checked by Spec.New.
func newMatcher(env app.Env, graph *profile.Graph, server *api.Server) *match.Matcher {
	opts, err := matchOptions(env.Flags)
	if err != nil || opts.Interval == 0 {
		return nil
	}
	opts.Logger = env.Logger
	m := match.New(graph, graph.MatchStore(), opts)
	server.SetMatcher(m)
	return m
}
