package metrics

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"time"
)

// MaxHoldoutShare is the largest share of a segment's members held out.
const MaxHoldoutShare = 0.5

// Experiment holds out a share of a segment's members.
type Experiment struct {
	// Segment is the segment id.
	Segment string
	// HoldoutShare is the share of members held out, in [0, MaxHoldoutShare].
	HoldoutShare float64
	// UpdateTime is when the experiment was last set, to the microsecond.
	UpdateTime time.Time
}

// Bucket returns a profile's bucket in a segment's experiment, in [0, 1):
// the first 8 bytes of SHA-256("segments/{segment}/{profile}") as a
// big-endian number divided by 2^64.
func Bucket(segment, profile string) float64 {
	sum := sha256.Sum256([]byte("segments/" + segment + "/" + profile))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// Holdout reports whether a profile is held out of the experiment.
func (e Experiment) Holdout(profile string) bool {
	return Bucket(e.Segment, profile) < e.HoldoutShare
}

// Arm is one group of an experiment.
type Arm struct {
	// Profiles counts the group's members over the range; Converted those
	// who ordered on a member-day.
	Profiles, Converted int64
}

// Rate is Converted / Profiles, 0 without profiles.
func (a Arm) Rate() float64 { return Ratio(a.Converted, a.Profiles) }

// z95 is the 97.5th percentile of the standard normal distribution.
const z95 = 1.959963984540054

// Analysis compares an experiment's treatment and holdout conversion.
type Analysis struct {
	// Experiment is the experiment analyzed.
	Experiment Experiment
	// From and To are the first and last day of the range.
	From, To time.Time
	// Treatment and Holdout are the two groups.
	Treatment, Holdout Arm
	// Lift is the treatment rate minus the holdout rate.
	Lift float64
	// Low and High bound the 95% Wald confidence interval of Lift.
	Low, High float64
	// Z is the pooled two-proportion z statistic; P its two-sided p-value.
	Z, P float64
}

// Significant reports whether P is below 0.05.
func (a Analysis) Significant() bool { return a.P < 0.05 }

// ZTest returns the lift, its confidence interval and the z-test of the
// two groups. Without both groups, or with a pooled rate of 0 or 1, the
// interval and z are 0 and p is 1.
func ZTest(treatment, holdout Arm) (lift, low, high, z, p float64) {
	n1, n2 := float64(treatment.Profiles), float64(holdout.Profiles)
	p1, p2 := treatment.Rate(), holdout.Rate()
	lift = p1 - p2
	pooled := Ratio(float64(treatment.Converted+holdout.Converted), n1+n2)
	if n1 == 0 || n2 == 0 || pooled == 0 || pooled == 1 {
		return lift, 0, 0, 0, 1
	}
	se := math.Sqrt(p1*(1-p1)/n1 + p2*(1-p2)/n2)
	low, high = lift-z95*se, lift+z95*se
	z = lift / math.Sqrt(pooled*(1-pooled)*(1/n1+1/n2))
	return lift, low, high, z, math.Erfc(math.Abs(z) / math.Sqrt2)
}
