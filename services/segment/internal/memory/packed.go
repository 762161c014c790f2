package memory

import (
	"cmp"
	"encoding/binary"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
	"github.com/barista-cdp/barista/services/segment/internal/segment"
)

// intern numbers the strings that repeat across profiles (event names,
// property keys, segment ids) so that the store keeps each one once and
// refers to it by a small integer. Numbers are never reused or forgotten:
// these strings name the schema, not a person.
type intern struct {
	ids   map[string]uint32
	names []string
}

// id returns the number of s, numbering it if it is new.
func (in *intern) id(s string) uint32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	if in.ids == nil {
		in.ids = map[string]uint32{}
	}
	id := uint32(len(in.names))
	in.ids[s] = id
	in.names = append(in.names, s)
	return id
}

// lookup returns the number of s, if it has one.
func (in *intern) lookup(s string) (uint32, bool) {
	id, ok := in.ids[s]
	return id, ok
}

// name returns the string numbered id.
func (in *intern) name(id uint32) string { return in.names[id] }

// micros and fromMicros convert the times the store keeps: microseconds
// since the Unix epoch, the precision every store keeps (the engine
// truncates to it), read back in UTC. Every time from year 1 (the zero
// time) to year 9999 fits.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// packed holds the facts of one profile, sorted by sequence, in one byte
// slice: a single allocation without pointers per profile, which the
// garbage collector never scans, instead of a struct and three maps per
// fact. Each fact is encoded after the one before it:
//
//	uvarint  seq − the previous fact's seq (the first fact: seq)
//	varint   time − the previous fact's time, in microseconds
//	uvarint  event name, interned
//	uvarint  length in bytes of the properties that follow
//	each property: uvarint key, interned, << kindBits | kind; then
//	  kindFloat: the float64's 8 bytes, little endian
//	  kindWhole: varint, for a float64 that holds a whole number
//	  kindString: uvarint length, then the bytes
//	  kindFalse, kindTrue: nothing
//
// Writes never change the bytes below the slice's length, so a copy of a
// packed value stays as it is: undoing a write restores the copy taken
// before it (and drops the values made from it since, whose bytes the
// next write may reuse).
type packed struct {
	data []byte
}

// Kinds of property.
const (
	kindFloat = iota
	kindWhole
	kindString
	kindFalse
	kindTrue
	kindBits = 3
)

// maxWhole bounds the whole numbers stored as varints: every integer of
// smaller magnitude is exactly a float64.
const maxWhole = 1 << 53

// entry is a decoded fact whose properties are still encoded.
type entry struct {
	seq, time int64
	name      uint32
	props     []byte
}

// entries returns p's facts in order.
func (p packed) entries() iter.Seq[entry] {
	return func(yield func(entry) bool) {
		r := reader{data: p.data}
		var e entry
		for r.off < len(r.data) {
			e.seq += int64(r.uvarint())
			e.time += r.varint()
			e.name = uint32(r.uvarint())
			e.props = r.bytes(int(r.uvarint()))
			if !yield(e) {
				return
			}
		}
	}
}

// with returns p with the facts of fs whose sequences it does not hold
// yet; of facts of fs with the same sequence, the first counts. When every
// new fact comes after the stored ones, the usual case, they are appended,
// in place when there is room; otherwise the facts are merged into a new
// slice.
func (p packed) with(in *intern, fs []segment.Fact) packed {
	fresh := slices.Clone(fs)
	slices.SortStableFunc(fresh, func(a, b segment.Fact) int { return cmp.Compare(a.Seq, b.Seq) })
	fresh = slices.CompactFunc(fresh, func(a, b segment.Fact) bool { return a.Seq == b.Seq })
	if len(fresh) == 0 {
		return p
	}
	prev, ok := p.last()
	if ok && fresh[0].Seq <= prev.seq {
		return p.merged(in, fresh)
	}
	var buf []byte
	for _, f := range fresh {
		e := encode(in, f)
		buf = appendEntry(buf, prev, e)
		prev = e
	}
	p.data = append(grow(p.data, len(buf)), buf...)
	return p
}

// last returns p's last fact; false when p is empty.
func (p packed) last() (entry, bool) {
	var last entry
	for e := range p.entries() {
		last = e
	}
	return last, len(p.data) > 0
}

// merged returns a new packed value holding p's facts and those of fs,
// sorted by sequence, that p does not hold; p itself when it holds them
// all (facts delivered again).
func (p packed) merged(in *intern, fs []segment.Fact) packed {
	var all []entry
	held := map[int64]bool{}
	for e := range p.entries() {
		all = append(all, e)
		held[e.seq] = true
	}
	n := len(all)
	for _, f := range fs {
		if !held[f.Seq] {
			all = append(all, encode(in, f))
		}
	}
	if len(all) == n {
		return p
	}
	slices.SortStableFunc(all, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	var buf []byte
	prev := entry{}
	for _, e := range all {
		buf = appendEntry(buf, prev, e)
		prev = e
	}
	return packed{data: slices.Clone(buf)}
}

// pack returns the facts of fs, sorted by sequence; of facts with the same
// sequence, the first counts.
func pack(in *intern, fs []segment.Fact) packed {
	return packed{}.with(in, fs)
}

// grow returns s with room for n more bytes: the growth is an eighth of
// what is needed rather than the doubling of append, as facts are read
// far more often than they grow.
func grow(s []byte, n int) []byte {
	need := len(s) + n
	if need <= cap(s) {
		return s
	}
	c := need
	if len(s) > 0 {
		c += need / 8
	}
	out := make([]byte, len(s), c)
	copy(out, s)
	return out
}

// encode returns f as an entry, interning its name and property keys.
func encode(in *intern, f segment.Fact) entry {
	var props []byte
	for k, v := range f.Numbers {
		if v == math.Trunc(v) && math.Abs(v) < maxWhole && (v != 0 || !math.Signbit(v)) {
			props = binary.AppendUvarint(props, uint64(in.id(k))<<kindBits|kindWhole)
			props = binary.AppendVarint(props, int64(v))
		} else {
			props = binary.AppendUvarint(props, uint64(in.id(k))<<kindBits|kindFloat)
			props = binary.LittleEndian.AppendUint64(props, math.Float64bits(v))
		}
	}
	for k, v := range f.Strings {
		props = binary.AppendUvarint(props, uint64(in.id(k))<<kindBits|kindString)
		props = binary.AppendUvarint(props, uint64(len(v)))
		props = append(props, v...)
	}
	for k, v := range f.Flags {
		kind := uint64(kindFalse)
		if v {
			kind = kindTrue
		}
		props = binary.AppendUvarint(props, uint64(in.id(k))<<kindBits|kind)
	}
	return entry{seq: f.Seq, time: micros(f.Time), name: in.id(f.Name), props: props}
}

// appendEntry appends e, which follows prev, to dst.
func appendEntry(dst []byte, prev, e entry) []byte {
	dst = binary.AppendUvarint(dst, uint64(e.seq-prev.seq))
	dst = binary.AppendVarint(dst, e.time-prev.time)
	dst = binary.AppendUvarint(dst, uint64(e.name))
	dst = binary.AppendUvarint(dst, uint64(len(e.props)))
	return append(dst, e.props...)
}

// fact returns e as a segment.Fact of profile with fresh property maps; a
// kind of property the fact does not have is a nil map. Its string values
// are taken from seen, where new ones are added, when they are equal: the
// facts of a profile repeat a few values, and one string each is enough.
func (e entry) fact(in *intern, profile string, seen *values) segment.Fact {
	ev := condition.Event{Name: in.name(e.name), Time: fromMicros(e.time)}
	r := reader{data: e.props}
	for r.off < len(r.data) {
		head := r.uvarint()
		key := in.name(uint32(head >> kindBits))
		switch head & (1<<kindBits - 1) {
		case kindFloat:
			ev.Numbers = put(ev.Numbers, key, math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(8))))
		case kindWhole:
			ev.Numbers = put(ev.Numbers, key, float64(r.varint()))
		case kindString:
			ev.Strings = put(ev.Strings, key, seen.string(r.bytes(int(r.uvarint()))))
		case kindFalse:
			ev.Flags = put(ev.Flags, key, false)
		case kindTrue:
			ev.Flags = put(ev.Flags, key, true)
		}
	}
	return segment.Fact{Profile: profile, Seq: e.seq, Event: ev}
}

// put sets m[k] = v, making m when it is nil.
func put[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[k] = v
	return m
}

// read returns the facts of profile with the given event names, by
// sequence; none when names is empty.
func (p packed) read(in *intern, profile string, names []string) []segment.Fact {
	ids := make([]uint32, 0, len(names))
	for _, n := range names {
		if id, ok := in.lookup(n); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	n := 0
	for e := range p.entries() {
		if slices.Contains(ids, e.name) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]segment.Fact, 0, n)
	var seen values
	for e := range p.entries() {
		if slices.Contains(ids, e.name) {
			out = append(out, e.fact(in, profile, &seen))
		}
	}
	return out
}

// values holds the last string property values read.
type values struct {
	last [8]string
	next int
}

// string returns b as a string, one of the last ones if equal.
func (v *values) string(b []byte) string {
	for _, s := range v.last {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	v.last[v.next] = s
	v.next = (v.next + 1) % len(v.last)
	return s
}

// reader decodes packed bytes.
type reader struct {
	data []byte
	off  int
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.data[r.off:])
	if n <= 0 {
		panic("memory: corrupt packed facts")
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.data[r.off:])
	if n <= 0 {
		panic("memory: corrupt packed facts")
	}
	r.off += n
	return v
}

func (r *reader) bytes(n int) []byte {
	b := r.data[r.off : r.off+n]
	r.off += n
	return b
}
