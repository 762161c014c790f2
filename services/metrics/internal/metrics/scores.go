package metrics

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ProfileScores is one profile's RFM over a range of days.
type ProfileScores struct {
	// Profile is the profile's resource name.
	Profile string
	// RFM scores the profile over the range.
	RFM RFM
}

// Scores are the RFM of every customer of a range of days, by profile, and
// the store's statistics over the range, from one read of its activity.
type Scores struct {
	// ID identifies the computation, so that the pages of one listing read
	// the same one.
	ID int64
	// Statistics are the store's order statistics over the range.
	Statistics StoreStatistics
	// Profiles holds the customers of the range, by profile (bytewise).
	Profiles []ProfileScores
}

// Page returns up to limit profiles after the profile after, and whether
// more follow.
func (s *Scores) Page(after string, limit int) ([]ProfileScores, bool) {
	i := sort.Search(len(s.Profiles), func(i int) bool { return s.Profiles[i].Profile > after })
	end := min(len(s.Profiles), i+limit)
	return s.Profiles[i:end], end < len(s.Profiles)
}

// scoresCache keeps the latest computation of Scores: listing 100k
// customers takes many pages, and recomputing the whole range for each
// would make the listing quadratic.
type scoresCache struct {
	mu     sync.Mutex
	lastID int64
	latest *Scores
}

// Scores returns the RFM of every customer from from to to (midnights
// UTC, both included) and the store's statistics over the same days. id,
// when not 0, names an earlier computation to return again if it is still
// kept for the same range; otherwise the activity is read and scored anew.
func (t *Tracker) Scores(ctx context.Context, from, to time.Time, id int64) (*Scores, error) {
	t.scores.mu.Lock()
	defer t.scores.mu.Unlock()
	if s := t.scores.latest; id != 0 && s != nil && s.ID == id && s.Statistics.From.Equal(from) && s.Statistics.To.Equal(to) {
		return s, nil
	}
	activity, err := t.store.Activity(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("read activity: %w", err)
	}
	rfm := ScoreRFM(activity, to)
	s := &Scores{Statistics: Statistics(activity, from, to), Profiles: make([]ProfileScores, 0, len(rfm))}
	for p, r := range rfm {
		s.Profiles = append(s.Profiles, ProfileScores{Profile: p, RFM: r})
	}
	slices.SortFunc(s.Profiles, func(a, b ProfileScores) int { return strings.Compare(a.Profile, b.Profile) })
	// Ids from the clock stay unique across restarts, so a page token of an
	// earlier process never names a later computation.
	t.scores.lastID = max(t.scores.lastID+1, time.Now().UnixNano())
	s.ID = t.scores.lastID
	t.scores.latest = s
	return s, nil
}
