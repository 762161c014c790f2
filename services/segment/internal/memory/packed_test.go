package memory

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

func packedFact(seq int64, name string, at time.Time) segment.Fact {
	return segment.Fact{Profile: "profiles/p", Seq: seq, Event: condition.Event{Name: name, Time: at}}
}

// TestPackedKeepsEveryValue packs properties of every kind and edge value
// and reads them back unchanged.
func TestPackedKeepsEveryValue(t *testing.T) {
	var in intern
	f := packedFact(7, "Order Completed", t0)
	f.Numbers = map[string]float64{"whole": 42, "negative": -3, "fraction": 12.5, "big": 1 << 60, "max": math.MaxFloat64,
		"zero": 0, "negative-zero": math.Copysign(0, -1), "inf": math.Inf(-1), "nan": math.NaN(), "limit": 1<<53 - 1}
	f.Strings = map[string]string{"category": "shoes", "empty": "", "unicode": "café ☕"}
	f.Flags = map[string]bool{"yes": true, "no": false}
	zero := packedFact(8, "Page Viewed", time.Time{})
	p := pack(&in, []segment.Fact{f, zero})

	got := p.read(&in, "profiles/p", []string{"Order Completed", "Page Viewed"})
	require.Len(t, got, 2)
	require.Equal(t, f.Strings, got[0].Strings)
	require.Equal(t, f.Flags, got[0].Flags)
	require.Len(t, got[0].Numbers, len(f.Numbers))
	for k, v := range f.Numbers {
		require.Equal(t, math.Float64bits(v), math.Float64bits(got[0].Numbers[k]), k)
	}
	got[0].Numbers, f.Numbers = nil, nil
	require.Equal(t, f, got[0])
	require.Equal(t, zero, got[1], "the zero time and no properties (nil maps) read back as they were")
}

// TestPackedOrdersBySequence adds facts in and out of order, with
// duplicates, and reads them by sequence, the first of each sequence kept.
func TestPackedOrdersBySequence(t *testing.T) {
	var in intern
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p := pack(&in, []segment.Fact{packedFact(5, "b", at(5)), packedFact(2, "a", at(-100)), packedFact(5, "dup", at(0))})
	p = p.with(&in, []segment.Fact{packedFact(9, "c", at(9)), packedFact(9, "dup", at(0))})
	p = p.with(&in, []segment.Fact{packedFact(1, "a", at(1)), packedFact(7, "c", at(7)), packedFact(2, "dup", at(0))})
	again := p.with(&in, []segment.Fact{packedFact(5, "dup", at(0)), packedFact(1, "dup", at(0))})
	require.Equal(t, &p.data[0], &again.data[0], "facts delivered again change nothing")
	p = again

	got := p.read(&in, "profiles/p", []string{"a", "b", "c", "dup"})
	want := []segment.Fact{packedFact(1, "a", at(1)), packedFact(2, "a", at(-100)), packedFact(5, "b", at(5)),
		packedFact(7, "c", at(7)), packedFact(9, "c", at(9))}
	require.Equal(t, want, got)
	require.Equal(t, want[2:4], p.read(&in, "profiles/p", []string{"b", "c", "unknown"})[:2])
	require.Empty(t, p.read(&in, "profiles/p", nil))
	require.Empty(t, p.read(&in, "profiles/p", []string{"unknown"}))
}

// TestPackedSnapshots checks that a packed value taken before a write still
// reads the same after it, whether the write appended in place or merged.
func TestPackedSnapshots(t *testing.T) {
	var in intern
	var p packed
	for seq := range int64(40) {
		p = p.with(&in, []segment.Fact{packedFact(2*seq+10, "e", t0)})
	}
	before := p.read(&in, "profiles/p", []string{"e"})
	snapshot := p
	appended := p.with(&in, []segment.Fact{packedFact(1000, "e", t0)})
	merged := p.with(&in, []segment.Fact{packedFact(11, "e", t0)})
	require.Equal(t, before, snapshot.read(&in, "profiles/p", []string{"e"}))
	require.Len(t, appended.read(&in, "profiles/p", []string{"e"}), 41)
	require.Len(t, merged.read(&in, "profiles/p", []string{"e"}), 41)
}
