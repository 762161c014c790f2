package condition

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Event is what the library knows of one event of a profile: its name, its
// time and its scalar top-level properties, by type.
type Event struct {
	// Name of the event, such as "Order Completed".
	Name string
	// Time the event happened.
	Time time.Time
	// Numbers holds the event's numeric top-level properties.
	Numbers map[string]float64
	// Strings holds the event's string top-level properties, such as
	// "category" or "device".
	Strings map[string]string
	// Flags holds the event's boolean top-level properties, such as
	// "discount_used".
	Flags map[string]bool
}

// argKind says what a literal argument of a behavioral function means.
type argKind int

const (
	argEvent argKind = iota
	argProperty
	argWindow
	argFilter
	// argSteps is a list literal of event names, in order.
	argSteps
	// argGap is a duration literal, such as "4h".
	argGap
	// argUnless is the name of the event that cancels another.
	argUnless
	// argSegment is the id of another segment.
	argSegment
)

func (k argKind) String() string {
	switch k {
	case argEvent:
		return "event name"
	case argProperty:
		return "property"
	case argFilter:
		return "property filter"
	case argSteps:
		return "list of event names"
	case argGap:
		return "duration"
	case argUnless:
		return "cancelling event name"
	case argSegment:
		return "segment id"
	}
	return "window"
}

// idPart names the kind in overload ids.
func (k argKind) idPart() string {
	switch k {
	case argEvent:
		return "event"
	case argProperty:
		return "property"
	case argFilter:
		return "filter"
	case argSteps:
		return "steps"
	case argGap:
		return "gap"
	case argUnless:
		return "unless"
	case argSegment:
		return "segment"
	}
	return "window"
}

// celType is the declared type of an argument of the kind.
func (k argKind) celType() *cel.Type {
	switch k {
	case argFilter:
		return cel.MapType(cel.StringType, cel.DynType)
	case argSteps:
		return cel.ListType(cel.StringType)
	}
	return cel.StringType
}

// overload is one signature of a behavioral function. Every argument is a
// literal, so every call can be computed before the program runs.
type overload struct {
	id     string
	args   []argKind
	result *cel.Type
}

// function is a behavioral function of the segment language.
type function struct {
	name string
	// signature and doc document the function; Functions returns them.
	signature string
	doc       string
	// base are the arguments every overload takes; windowed functions also
	// take an optional window, and every function an optional filter.
	base     []argKind
	windowed bool
	result   *cel.Type
	// compute aggregates the events of a call that match its name, filter
	// and window, in the order they were added; ok false means the call has
	// no value (an average of no events).
	compute func(c Call, events []Event, now time.Time) (ref.Val, bool)
	// sinceEvent marks the functions whose value changes as time passes
	// even when no event enters or leaves a window: the days since an
	// event.
	sinceEvent bool
	// noFilter marks the functions that take no property filter.
	noFilter bool
	// evaluate, when set, computes a call from all of a profile's facts
	// instead of compute, for functions over several event names.
	evaluate func(c Call, f *Facts, now time.Time) (ref.Val, bool)
	// next, when set, returns the first instant after now at which the
	// value of a call of an evaluate function changes by time alone.
	next      func(c Call, f *Facts, now time.Time) time.Time
	overloads []overload
}

// library lists the behavioral functions. A new function is one more entry:
// its arguments are checked, extracted and computed generically.
var library = withOverloads(append([]function{
	{
		name: "count", signature: `count(event [, window] [, filter]) → int`,
		doc:  "number of events with the name (matching the filter), in the window or ever",
		base: []argKind{argEvent}, windowed: true, result: cel.IntType,
		compute: func(_ Call, events []Event, _ time.Time) (ref.Val, bool) { return types.Int(len(events)), true },
	},
	{
		name: "sum", signature: `sum(event, property [, window] [, filter]) → double`,
		doc:  "sum of a numeric property over those events; 0.0 when there are none, events without the property add nothing",
		base: []argKind{argEvent, argProperty}, windowed: true, result: cel.DoubleType,
		compute: func(c Call, events []Event, _ time.Time) (ref.Val, bool) {
			var total float64
			for _, e := range events {
				total += e.Numbers[c.Property]
			}
			return types.Double(total), true
		},
	},
	{
		name: "avg", signature: `avg(event, property [, window] [, filter]) → double`,
		doc:  "average of a numeric property over those of the events that have it; no value when none has",
		base: []argKind{argEvent, argProperty}, windowed: true, result: cel.DoubleType,
		compute: func(c Call, events []Event, _ time.Time) (ref.Val, bool) {
			var total float64
			n := 0
			for _, e := range events {
				if v, ok := e.Numbers[c.Property]; ok {
					total += v
					n++
				}
			}
			if n == 0 {
				return nil, false
			}
			return types.Double(total / float64(n)), true
		},
	},
	{
		name: "min", signature: `min(event, property [, window] [, filter]) → double`,
		doc:  "smallest value of a numeric property over those events; no value when none has it",
		base: []argKind{argEvent, argProperty}, windowed: true, result: cel.DoubleType,
		compute: func(c Call, events []Event, _ time.Time) (ref.Val, bool) {
			return extreme(c.Property, events, math.Min)
		},
	},
	{
		name: "max", signature: `max(event, property [, window] [, filter]) → double`,
		doc:  "largest value of a numeric property over those events; no value when none has it",
		base: []argKind{argEvent, argProperty}, windowed: true, result: cel.DoubleType,
		compute: func(c Call, events []Event, _ time.Time) (ref.Val, bool) {
			return extreme(c.Property, events, math.Max)
		},
	},
	{
		name: "first_time", signature: `first_time(event [, filter]) → timestamp`,
		doc:  "when the first event with the name (matching the filter) happened; no value when there is none",
		base: []argKind{argEvent}, result: cel.TimestampType,
		compute: func(_ Call, events []Event, _ time.Time) (ref.Val, bool) {
			t, ok := firstTime(events)
			return types.Timestamp{Time: t}, ok
		},
	},
	{
		name: "last_time", signature: `last_time(event [, filter]) → timestamp`,
		doc:  "when the last such event happened; no value when there is none",
		base: []argKind{argEvent}, result: cel.TimestampType,
		compute: func(_ Call, events []Event, _ time.Time) (ref.Val, bool) {
			t, ok := lastTime(events)
			return types.Timestamp{Time: t}, ok
		},
	},
	{
		name: "days_since_first", signature: `days_since_first(event [, filter]) → int`,
		doc:  "whole days (24h) since the first such event; no value when there is none",
		base: []argKind{argEvent}, result: cel.IntType, sinceEvent: true,
		compute: func(_ Call, events []Event, now time.Time) (ref.Val, bool) {
			t, ok := firstTime(events)
			return types.Int(daysBetween(t, now)), ok
		},
	},
	{
		name: "days_since_last", signature: `days_since_last(event [, filter]) → int`,
		doc:  "whole days (24h) since the last such event; no value when there is none",
		base: []argKind{argEvent}, result: cel.IntType, sinceEvent: true,
		compute: func(_ Call, events []Event, now time.Time) (ref.Val, bool) {
			t, ok := lastTime(events)
			return types.Int(daysBetween(t, now)), ok
		},
	},
}, append(append(sequenceFunctions(), membershipFunctions()...), consentFunctions()...)...))

// withOverloads fills in the overloads of each function: its base
// arguments, then an optional window (for windowed functions), then an
// optional filter.
func withOverloads(fs []function) []function {
	for i := range fs {
		f := &fs[i]
		variants := [][]argKind{f.base}
		if !f.noFilter {
			variants = append(variants, append(slices.Clone(f.base), argFilter))
		}
		if f.windowed {
			withWindow := append(slices.Clone(f.base), argWindow)
			variants = append(variants, withWindow)
			if !f.noFilter {
				variants = append(variants, append(slices.Clone(withWindow), argFilter))
			}
		}
		for _, args := range variants {
			parts := []string{f.name}
			for _, a := range args {
				parts = append(parts, a.idPart())
			}
			f.overloads = append(f.overloads, overload{id: strings.Join(parts, "_"), args: args, result: f.result})
		}
	}
	return fs
}

// FunctionDoc documents one behavioral function.
type FunctionDoc struct {
	// Signature shows the arguments and the result, optional ones in
	// brackets.
	Signature string
	// Doc says what the function returns.
	Doc string
}

// Functions documents the behavioral functions, in the order of the
// language reference.
func Functions() []FunctionDoc {
	out := make([]FunctionDoc, len(library))
	for i, f := range library {
		out[i] = FunctionDoc{Signature: f.signature, Doc: f.doc}
	}
	return out
}

func extreme(property string, events []Event, pick func(a, b float64) float64) (ref.Val, bool) {
	var out float64
	found := false
	for _, e := range events {
		if v, ok := e.Numbers[property]; ok {
			if !found {
				out, found = v, true
			} else {
				out = pick(out, v)
			}
		}
	}
	return types.Double(out), found
}

func firstTime(events []Event) (time.Time, bool) {
	var t time.Time
	for i, e := range events {
		if i == 0 || e.Time.Before(t) {
			t = e.Time
		}
	}
	return t, len(events) > 0
}

func lastTime(events []Event) (time.Time, bool) {
	var t time.Time
	for i, e := range events {
		if i == 0 || e.Time.After(t) {
			t = e.Time
		}
	}
	return t, len(events) > 0
}

const day = 24 * time.Hour

// daysBetween returns the whole days from t to now, rounded down (negative
// for an event dated in the future).
func daysBetween(t, now time.Time) int64 {
	d := now.Sub(t)
	n := int64(d / day)
	if d < 0 && d%day != 0 {
		n--
	}
	return n
}

// declarations returns the CEL declarations of the library; the
// implementations are bound late, per evaluation, to precomputed values.
func declarations() []cel.EnvOption {
	opts := make([]cel.EnvOption, 0, len(library))
	for _, f := range library {
		fopts := []cel.FunctionOpt{cel.FunctionDocs(f.signature + ": " + f.doc)}
		for _, o := range f.overloads {
			params := make([]*cel.Type, len(o.args))
			for i, a := range o.args {
				params[i] = a.celType()
			}
			fopts = append(fopts, cel.Overload(o.id, params, o.result, cel.LateFunctionBinding()))
		}
		opts = append(opts, cel.Function(f.name, fopts...))
	}
	return opts
}

// lookupOverload returns the overload with the id the type checker chose,
// and its function.
func lookupOverload(id string) (*function, *overload, bool) {
	for i := range library {
		for j := range library[i].overloads {
			if o := &library[i].overloads[j]; o.id == id {
				return &library[i], o, true
			}
		}
	}
	return nil, nil, false
}

// isLibraryFunction reports whether name is a behavioral function.
func isLibraryFunction(name string) bool {
	for _, f := range library {
		if f.name == name {
			return true
		}
	}
	return false
}

var durationPattern = regexp.MustCompile(`^([0-9]+)([smhdw])$`)

var windowUnits = map[string]time.Duration{
	"s": time.Second,
	"m": time.Minute,
	"h": time.Hour,
	"d": day,
	"w": 7 * day,
}

// MaxWindow is the longest window a condition may use.
const MaxWindow = 100 * 365 * day

// Window is the stretch of time before the evaluation instant that a call
// looks at: events that happened at most To ago and, when From is set, at
// least From ago. The zero Window is all time.
type Window struct {
	From, To time.Duration
}

// IsZero reports whether w is all time.
func (w Window) IsZero() bool { return w == Window{} }

// Contains reports whether an event at t is in the window at the instant
// now. Without From, events dated after now count: a window bounds how old
// an event may be, and clocks disagree.
func (w Window) Contains(t, now time.Time) bool {
	if w.To != 0 && !t.After(now.Add(-w.To)) {
		return false
	}
	return w.From == 0 || !t.After(now.Add(-w.From))
}

// next returns the first instant after now at which an event at t enters
// or leaves the window, or the zero time when it never will.
func (w Window) next(t, now time.Time) time.Time {
	var out time.Time
	for _, d := range []time.Duration{w.From, w.To} {
		if at := t.Add(d); d != 0 && at.After(now) && (out.IsZero() || at.Before(out)) {
			out = at
		}
	}
	return out
}

func (w Window) String() string {
	if w.From == 0 {
		return formatDuration(w.To)
	}
	return formatDuration(w.From) + ".." + formatDuration(w.To)
}

func formatDuration(d time.Duration) string {
	for _, u := range []string{"w", "d", "h", "m"} {
		if d%windowUnits[u] == 0 {
			return strconv.FormatInt(int64(d/windowUnits[u]), 10) + u
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// ParseWindow reads a window: "20s", "30m", "72h", "90d" or "2w" for the
// last stretch of that length, or "30d..90d" for between 30 and 90 days
// ago.
func ParseWindow(s string) (Window, error) {
	from, to, between := strings.Cut(s, "..")
	if !between {
		d, err := parseDuration(s)
		if err != nil {
			return Window{}, fmt.Errorf("window %q: %w", s, err)
		}
		return Window{To: d}, nil
	}
	f, err := parseDuration(from)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: start: %w", s, err)
	}
	t, err := parseDuration(to)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: end: %w", s, err)
	}
	if f >= t {
		return Window{}, fmt.Errorf("window %q: the start must be more recent than the end, such as \"30d..90d\"", s)
	}
	return Window{From: f, To: t}, nil
}

func parseDuration(s string) (time.Duration, error) {
	m := durationPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("want a positive number and a unit s, m, h, d or w, such as \"90d\", or a range such as \"30d..90d\"")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	unit := windowUnits[m[2]]
	if err != nil || n <= 0 || n > int64(MaxWindow/unit) {
		return 0, fmt.Errorf("want more than zero and at most 100 years")
	}
	return time.Duration(n) * unit, nil
}

// MaxFilterProperties is the most properties one filter may test.
const MaxFilterProperties = 8

// Filter selects events by the values of their top-level properties: an
// event matches when every property has the value given, a string, a
// number (float64) or a bool. The nil Filter matches every event.
type Filter map[string]any

// Matches reports whether e has every property of the filter, with its
// value.
func (f Filter) Matches(e Event) bool {
	for k, want := range f {
		var ok bool
		switch want := want.(type) {
		case string:
			v, has := e.Strings[k]
			ok = has && v == want
		case float64:
			v, has := e.Numbers[k]
			ok = has && v == want
		case bool:
			v, has := e.Flags[k]
			ok = has && v == want
		}
		if !ok {
			return false
		}
	}
	return true
}

// key encodes the filter canonically: keys sorted, values typed.
func (f Filter) key() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		switch v := f[k].(type) {
		case string:
			b.WriteString("s" + strconv.Quote(v))
		case float64:
			b.WriteString("n" + strconv.FormatFloat(v, 'g', -1, 64))
		case bool:
			b.WriteString("b" + strconv.FormatBool(v))
		}
		b.WriteByte(';')
	}
	return b.String()
}

// filterValue converts a CEL literal or value to a filter value.
func filterValue(v ref.Val) (any, bool) {
	switch v := v.(type) {
	case types.String:
		return string(v), true
	case types.Bool:
		return bool(v), true
	case types.Int:
		return float64(v), true
	case types.Uint:
		return float64(v), true
	case types.Double:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, false
		}
		return float64(v), true
	}
	return nil, false
}
