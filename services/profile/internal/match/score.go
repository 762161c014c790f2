// Package match finds profiles that probably belong to one person although
// no identifier joins them: blocking keys propose candidate pairs, a
// Fellegi–Sunter model scores each pair from weak signals (device
// fingerprint, IP and user agent, name, postcode, email local part), and
// thresholds send a pair to an automatic merge, to a review queue or away.
//
// Scoring and blocking are pure functions over Records; Matcher runs them in
// the background over the profiles whose signals changed, never in the
// resolve path.
package match

import (
	"math"
	"slices"
	"strings"
	"unicode"
)

// Comparison names, as reported in a pair's agreements and in the merge
// log.
const (
	// CompareFingerprint agrees when both profiles carry the same device
	// fingerprint.
	CompareFingerprint = "device_fingerprint"
	// CompareIPUserAgent agrees when both carry the same IP address and
	// the same user agent.
	CompareIPUserAgent = "ip_user_agent"
	// CompareName agrees when the names' Jaro–Winkler similarity reaches
	// Model.NameSimilarity.
	CompareName = "name"
	// ComparePostcode agrees when the normalized postcodes are equal.
	ComparePostcode = "postcode"
	// CompareEmailLocal agrees when the local parts of some email of each
	// reach Model.EmailSimilarity (the emails themselves differ, or they
	// would be one profile).
	CompareEmailLocal = "email_local_part"
)

// Comparisons lists the comparisons in the order of a Model's Fields.
var Comparisons = []string{CompareFingerprint, CompareIPUserAgent, CompareName, ComparePostcode, CompareEmailLocal}

// Hard identifier conflicts, as reported in a pair's conflicts.
const (
	// ConflictUserID: both profiles have a user id, and they differ. The
	// graph never merges such profiles, so the pair is dropped.
	ConflictUserID = "user_id"
	// ConflictEmail: both profiles have emails and share none. Such a pair
	// is never merged automatically; it goes to review.
	ConflictEmail = "email"
)

// Record is what matching knows about one profile.
type Record struct {
	// ID names the profile.
	ID string
	// Fingerprint, IP and UserAgent are the latest signals seen with the
	// profile.
	Fingerprint, IP, UserAgent string
	// Name and Postcode come from the profile's traits, normalized by
	// NormalizeName and NormalizePostcode.
	Name, Postcode string
	// UserID and Emails are the profile's hard identifiers.
	UserID string
	Emails []string
}

// Field holds the m and u probabilities of one comparison: how often it
// agrees among pairs that are one person (M) and among pairs that are not
// (U), both among candidate pairs.
type Field struct {
	M, U float64
}

// Agree returns the log2 weight an agreement adds to a pair's score.
func (f Field) Agree() float64 { return math.Log2(f.M / f.U) }

// Disagree returns the log2 weight a disagreement adds (negative).
func (f Field) Disagree() float64 { return math.Log2((1 - f.M) / (1 - f.U)) }

// Model is a Fellegi–Sunter model: m/u probabilities per comparison, in the
// order of Comparisons, and the similarity cut-offs of fuzzy comparisons.
type Model struct {
	Fields []Field
	// NameSimilarity is the Jaro–Winkler similarity at which names agree.
	NameSimilarity float64
	// EmailSimilarity is the Jaro–Winkler similarity at which email local
	// parts agree.
	EmailSimilarity float64
}

// DefaultModel returns the configured m/u probabilities the service runs
// with. They are set by hand for candidate pairs (pairs that share a
// blocking key), not for random pairs; the package's tests print EM
// estimates beside them, which on blocked pairs follow the blocks more than
// the persons (see Estimate), so they are not used as defaults:
//
//   - device fingerprint: a person's profiles share one only when they come
//     from one device (m 0.6); different people share one mainly on
//     identical phones or a family device (u 0.01).
//   - IP + user agent: the same browser at the same place (m 0.5); an
//     office or carrier NAT with a common browser build (u 0.02).
//   - name (Jaro–Winkler ≥ 0.92): nearly always for one person (m 0.95);
//     common names make it more likely by chance than in random pairs
//     (u 0.03).
//   - postcode: people move (m 0.85); within a name block the postcode is
//     part of the key, elsewhere neighbours share it (u 0.05).
//   - email local part (Jaro–Winkler ≥ 0.9): work and personal emails
//     often share it (m 0.4); rarely by chance (u 0.005).
func DefaultModel() Model {
	return Model{
		Fields: []Field{
			{M: 0.6, U: 0.01},
			{M: 0.5, U: 0.02},
			{M: 0.95, U: 0.03},
			{M: 0.85, U: 0.05},
			{M: 0.4, U: 0.005},
		},
		NameSimilarity:  0.92,
		EmailSimilarity: 0.9,
	}
}

// Outcome of one comparison.
const (
	missing  = -1
	disagree = 0
	agree    = 1
)

// Compare returns the outcome of each comparison for a and b, in the order
// of Comparisons: 1 agree, 0 disagree, -1 when either side lacks the value
// (a missing value adds no weight).
func (m Model) Compare(a, b Record) []int8 {
	out := make([]int8, len(Comparisons))
	out[0] = equal(a.Fingerprint, b.Fingerprint)
	out[1] = missing
	if a.IP != "" && a.UserAgent != "" && b.IP != "" && b.UserAgent != "" {
		out[1] = boolOutcome(a.IP == b.IP && a.UserAgent == b.UserAgent)
	}
	out[2] = missing
	if a.Name != "" && b.Name != "" {
		out[2] = boolOutcome(JaroWinkler(a.Name, b.Name) >= m.NameSimilarity)
	}
	out[3] = equal(a.Postcode, b.Postcode)
	out[4] = missing
	if len(a.Emails) > 0 && len(b.Emails) > 0 {
		best := 0.0
		for _, x := range a.Emails {
			for _, y := range b.Emails {
				best = max(best, JaroWinkler(localPart(x), localPart(y)))
			}
		}
		out[4] = boolOutcome(best >= m.EmailSimilarity)
	}
	return out
}

// Weight returns the match weight of a comparison vector: the sum of the
// log2 agreement and disagreement weights.
func (m Model) Weight(gamma []int8) float64 {
	w := 0.0
	for k, g := range gamma {
		switch g {
		case agree:
			w += m.Fields[k].Agree()
		case disagree:
			w += m.Fields[k].Disagree()
		}
	}
	return w
}

// Score is the comparison of two records.
type Score struct {
	// Weight is the match weight in bits (log2 likelihood ratio).
	Weight float64
	// Agreements are the comparisons that agreed.
	Agreements []string
	// Conflicts are the hard identifiers on which the records conflict.
	Conflicts []string
}

// Score compares a and b.
func (m Model) Score(a, b Record) Score {
	gamma := m.Compare(a, b)
	s := Score{Weight: m.Weight(gamma), Conflicts: Conflicts(a, b)}
	for k, g := range gamma {
		if g == agree {
			s.Agreements = append(s.Agreements, Comparisons[k])
		}
	}
	return s
}

// Conflicts returns the hard identifiers on which a and b conflict.
func Conflicts(a, b Record) []string {
	var out []string
	if a.UserID != "" && b.UserID != "" && a.UserID != b.UserID {
		out = append(out, ConflictUserID)
	}
	if len(a.Emails) > 0 && len(b.Emails) > 0 && !slices.ContainsFunc(a.Emails, func(e string) bool { return slices.Contains(b.Emails, e) }) {
		out = append(out, ConflictEmail)
	}
	return out
}

func equal(a, b string) int8 {
	if a == "" || b == "" {
		return missing
	}
	return boolOutcome(a == b)
}

func boolOutcome(ok bool) int8 {
	if ok {
		return agree
	}
	return disagree
}

func localPart(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}

// NormalizeName lower-cases a name and keeps its letters, one space
// between words.
func NormalizeName(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) }), " ")
}

// NormalizePostcode upper-cases a postcode and drops everything but
// letters and digits.
func NormalizePostcode(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToUpper(r)
		}
		return -1
	}, s)
}

// JaroWinkler returns the Jaro–Winkler similarity of a and b, from 0
// (nothing in common) to 1 (equal), with the standard prefix scale 0.1 over
// at most 4 characters.
func JaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	r1, r2 := []rune(a), []rune(b)
	if len(r1) == 0 || len(r2) == 0 {
		return 0
	}
	window := max(len(r1), len(r2))/2 - 1
	window = max(window, 0)
	m1 := make([]bool, len(r1))
	m2 := make([]bool, len(r2))
	matches := 0
	for i := range r1 {
		lo, hi := max(0, i-window), min(len(r2), i+window+1)
		for j := lo; j < hi; j++ {
			if !m2[j] && r1[i] == r2[j] {
				m1[i], m2[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := range r1 {
		if !m1[i] {
			continue
		}
		for !m2[j] {
			j++
		}
		if r1[i] != r2[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(r1)) + m/float64(len(r2)) + (m-float64(transpositions)/2)/m) / 3
	prefix := 0
	for prefix < min(4, len(r1), len(r2)) && r1[prefix] == r2[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}
