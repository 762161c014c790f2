package match

import (
	"math"
	"strings"
)

// EMResult is a model fitted by Estimate.
type EMResult struct {
	// Model has the fitted m/u probabilities.
	Model Model
	// Prevalence is the fitted share of candidate pairs that are one
	// person.
	Prevalence float64
	// Iterations is how many EM steps ran.
	Iterations int
}

// Estimate fits the m/u probabilities of start to the comparison vectors
// of candidate pairs by expectation–maximisation, under the usual
// Fellegi–Sunter assumption that comparisons are independent given the
// match status. Missing comparisons count toward neither. start's m > u
// orientation is kept by starting from it; probabilities are kept within
// [0.001, 0.999] so that no weight becomes infinite.
//
// Among candidate pairs a comparison on a blocking key agrees by
// construction, so free u estimates can settle on the blocks instead of on
// the match status; with fixU the u probabilities stay as configured (as
// when they are measured on random pairs) and only m and the prevalence
// are fitted.
func Estimate(start Model, vectors [][]int8, maxIter int, fixU bool) EMResult {
	// Identical vectors are few (3^k patterns): weigh each pattern once.
	counts := map[string]float64{}
	patterns := map[string][]int8{}
	for _, v := range vectors {
		k := patternKey(v)
		counts[k]++
		patterns[k] = v
	}
	model := start
	model.Fields = append([]Field(nil), start.Fields...)
	p := 0.1
	it := 0
	for it = 1; it <= maxIter; it++ {
		k := len(model.Fields)
		mNum, mDen := make([]float64, k), make([]float64, k)
		uNum, uDen := make([]float64, k), make([]float64, k)
		var gSum, total float64
		for key, v := range patterns {
			n := counts[key]
			lm, lu := math.Log(p), math.Log(1-p)
			for j, g := range v {
				f := model.Fields[j]
				switch g {
				case agree:
					lm += math.Log(f.M)
					lu += math.Log(f.U)
				case disagree:
					lm += math.Log(1 - f.M)
					lu += math.Log(1 - f.U)
				}
			}
			g := 1 / (1 + math.Exp(lu-lm))
			gSum += n * g
			total += n
			for j, o := range v {
				if o == missing {
					continue
				}
				mDen[j] += n * g
				uDen[j] += n * (1 - g)
				if o == agree {
					mNum[j] += n * g
					uNum[j] += n * (1 - g)
				}
			}
		}
		if total == 0 {
			break
		}
		delta := math.Abs(gSum/total - p)
		p = clamp(gSum / total)
		for j := range model.Fields {
			f := model.Fields[j]
			if mDen[j] > 0 {
				f.M = clamp(mNum[j] / mDen[j])
			}
			if uDen[j] > 0 && !fixU {
				f.U = clamp(uNum[j] / uDen[j])
			}
			delta = max(delta, math.Abs(f.M-model.Fields[j].M), math.Abs(f.U-model.Fields[j].U))
			model.Fields[j] = f
		}
		if delta < 1e-6 {
			break
		}
	}
	return EMResult{Model: model, Prevalence: p, Iterations: min(it, maxIter)}
}

func clamp(x float64) float64 { return min(max(x, 0.001), 0.999) }

func patternKey(v []int8) string {
	var b strings.Builder
	for _, x := range v {
		b.WriteByte(byte('1' + x))
	}
	return b.String()
}
