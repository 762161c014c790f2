package memory

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// BenchmarkReadFacts measures reading a profile's facts of two event
// names, as evaluation does, from packed facts, against the same facts
// kept unpacked (a slice of segment.Fact whose property maps are cloned on
// read), in the same run: packed/unpacked is the ratio of their times.
func BenchmarkReadFacts(b *testing.B) {
	for _, n := range []int{20, 500} {
		b.Run(fmt.Sprintf("facts=%d", n), func(b *testing.B) {
			var in intern
			facts := randomFacts(n)
			p := pack(&in, facts)
			names := []string{"Order Completed", "Page Viewed"}
			var packedTime, unpackedTime time.Duration
			for b.Loop() {
				start := time.Now()
				p.read(&in, "profiles/p", names)
				packedTime += time.Since(start)
				start = time.Now()
				readUnpacked(facts, names)
				unpackedTime += time.Since(start)
			}
			b.ReportMetric(float64(packedTime)/float64(unpackedTime), "packed/unpacked")
		})
	}
}

// readUnpacked reads facts as the store did before it packed them.
func readUnpacked(facts []segment.Fact, names []string) []segment.Fact {
	var out []segment.Fact
	for _, f := range facts {
		if slices.Contains(names, f.Name) {
			f.Numbers, f.Strings, f.Flags = maps.Clone(f.Numbers), maps.Clone(f.Strings), maps.Clone(f.Flags)
			out = append(out, f)
		}
	}
	return out
}

// randomFacts returns n facts of the typical mix of the resident memory
// benchmark, by sequence.
func randomFacts(n int) []segment.Fact {
	r := rand.New(rand.NewPCG(1, 1))
	facts := make([]segment.Fact, n)
	for i := range facts {
		ev := condition.Event{Name: "Page Viewed", Time: t0.Add(-time.Duration(r.Int64N(int64(90 * 24 * time.Hour)))).Truncate(time.Second)}
		switch k := r.IntN(10); {
		case k < 3:
			ev.Name = "Order Completed"
			ev.Numbers = map[string]float64{"revenue": float64(r.IntN(150))}
			ev.Strings = map[string]string{"category": []string{"shoes", "bags", "hats"}[r.IntN(3)]}
		case k >= 8:
			ev.Name = "Product Viewed"
		}
		facts[i] = segment.Fact{Profile: "profiles/p", Seq: int64(i + 1), Event: ev}
	}
	return facts
}
