package match

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// DefaultMaxBlock is the most profiles a blocking key may gather before it
// is ignored: an office or carrier IP, or a fingerprint every phone of a
// model shares, would otherwise propose a quadratic number of pairs that
// say nothing.
const DefaultMaxBlock = 50

// Default thresholds on the match weight, in bits, with the configured
// model. A device fingerprint with the same IP and user agent (≈ 10.5 bits:
// one browser after a cookie reset) or any strong signal with name and
// postcode passes the merge threshold. Name and postcode alone (6–8 bits)
// go to review. A fingerprint alone (≈ 5 bits) or an IP and user agent
// alone (3–4.6 bits) are dropped: identical phones and offices share them,
// and a reviewer could not tell either from what the pair shows.
const (
	DefaultMergeThreshold  = 10.0
	DefaultReviewThreshold = 5.0
)

// Decision is what thresholds make of a scored pair.
type Decision int

// Decisions, from weakest to strongest.
const (
	// Drop: below the review threshold, or the profiles have different
	// user ids and could never merge.
	Drop Decision = iota
	// Review: between the thresholds, or above the merge threshold with
	// conflicting emails or with automatic merges off.
	Review
	// Merge: above the merge threshold, no conflicting hard identifier,
	// automatic merges on.
	Merge
)

func (d Decision) String() string {
	switch d {
	case Review:
		return "review"
	case Merge:
		return "merge"
	}
	return "drop"
}

// Thresholds classify scored pairs.
type Thresholds struct {
	// Merge is the weight at or above which a pair merges automatically.
	Merge float64
	// Review is the weight at or above which a pair goes to review.
	Review float64
	// AutoMerge turns automatic merges on; off, pairs above Merge go to
	// review too.
	AutoMerge bool
}

// DefaultThresholds returns the default thresholds, automatic merges off.
func DefaultThresholds() Thresholds {
	return Thresholds{Merge: DefaultMergeThreshold, Review: DefaultReviewThreshold}
}

// Validate reports thresholds that make no sense.
func (t Thresholds) Validate() error {
	if t.Review > t.Merge {
		return fmt.Errorf("review threshold %g is above the merge threshold %g", t.Review, t.Merge)
	}
	return nil
}

// Decide classifies a scored pair. A user id conflict always drops: the
// graph refuses to merge two user ids. An email conflict at most reviews:
// two people sharing a device and a surname differ by email, and only a
// person can tell them from one person's work and private addresses.
func (t Thresholds) Decide(s Score) Decision {
	switch {
	case slices.Contains(s.Conflicts, ConflictUserID), s.Weight < t.Review:
		return Drop
	case s.Weight >= t.Merge && t.AutoMerge && len(s.Conflicts) == 0:
		return Merge
	}
	return Review
}

// BlockKeys returns the blocking keys of r: pairs of records that share a
// key are compared. Keys are the device fingerprint, the IP with the user
// agent, and the postcode with a phonetic code of the last name (so that a
// typo in the name still meets).
func BlockKeys(r Record) []string {
	var keys []string
	if r.Fingerprint != "" {
		keys = append(keys, "fp:"+r.Fingerprint)
	}
	if r.IP != "" && r.UserAgent != "" {
		keys = append(keys, "ipua:"+r.IP+"|"+r.UserAgent)
	}
	if r.Name != "" && r.Postcode != "" {
		words := strings.Fields(r.Name)
		keys = append(keys, "np:"+r.Postcode+"|"+Soundex(words[len(words)-1]))
	}
	return keys
}

// CandidatePairs returns the pairs of records (as indexes, lower first)
// that share a blocking key, each once, skipping keys held by more than
// maxBlock records.
func CandidatePairs(records []Record, maxBlock int) [][2]int {
	blocks := map[string][]int{}
	for i, r := range records {
		for _, k := range BlockKeys(r) {
			blocks[k] = append(blocks[k], i)
		}
	}
	seen := map[[2]int]bool{}
	var out [][2]int
	for _, members := range blocks {
		if len(members) > maxBlock {
			continue
		}
		for x := range members {
			for y := x + 1; y < len(members); y++ {
				p := [2]int{min(members[x], members[y]), max(members[x], members[y])}
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return out
}

// Pair is a scored candidate pair.
type Pair struct {
	// A and B index the records, A < B.
	A, B int
	Score
	Decision Decision
}

// Link blocks, scores and classifies all candidate pairs among records.
func Link(records []Record, m Model, t Thresholds, maxBlock int) []Pair {
	cands := CandidatePairs(records, maxBlock)
	out := make([]Pair, len(cands))
	for i, c := range cands {
		s := m.Score(records[c[0]], records[c[1]])
		out[i] = Pair{A: c[0], B: c[1], Score: s, Decision: t.Decide(s)}
	}
	return out
}

// Soundex returns the American Soundex code of a word's letters ("" when
// it has none).
func Soundex(word string) string {
	codes := map[rune]byte{
		'b': '1', 'f': '1', 'p': '1', 'v': '1',
		'c': '2', 'g': '2', 'j': '2', 'k': '2', 'q': '2', 's': '2', 'x': '2', 'z': '2',
		'd': '3', 't': '3', 'l': '4', 'm': '5', 'n': '5', 'r': '6',
	}
	var out []byte
	var last byte
	for _, r := range strings.ToLower(word) {
		if r < 'a' || r > 'z' {
			continue
		}
		c := codes[r]
		if len(out) == 0 {
			out = append(out, byte(r-'a'+'A'))
			last = c
			continue
		}
		if r == 'h' || r == 'w' {
			continue
		}
		if c != 0 && c != last {
			out = append(out, c)
			if len(out) == 4 {
				break
			}
		}
		last = c
	}
	if len(out) == 0 {
		return ""
	}
	for len(out) < 4 {
		out = append(out, '0')
	}
	return string(out)
}
