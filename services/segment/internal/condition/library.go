package condition

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Event is what the library knows of one event of a profile: enough to
// count events and add up their numeric properties.
type Event struct {
	// Name of the event, such as "Order Completed".
	Name string
	// Time the event happened.
	Time time.Time
	// Numbers holds the event's numeric top-level properties.
	Numbers map[string]float64
}

// argKind says what a literal argument of a behavioral function means.
type argKind int

const (
	argEvent argKind = iota
	argProperty
	argWindow
)

func (k argKind) String() string {
	switch k {
	case argEvent:
		return "event name"
	case argProperty:
		return "property"
	}
	return "window"
}

// overload is one signature of a behavioral function. All arguments are
// string literals, so every call can be computed before the program runs.
type overload struct {
	id     string
	args   []argKind
	result *cel.Type
	// compute aggregates the events of the call's name inside its window.
	compute func(c Call, events []Event) ref.Val
}

// function is a behavioral function of the segment language.
type function struct {
	name      string
	doc       string
	overloads []overload
}

// library lists the behavioral functions. A new function is one more entry:
// its arguments are checked, extracted and computed generically.
var library = []function{
	{
		name: "count",
		doc:  "number of events with a name, all time or in the last window",
		overloads: []overload{
			{id: "count_event", args: []argKind{argEvent}, result: cel.IntType, compute: countEvents},
			{id: "count_event_window", args: []argKind{argEvent, argWindow}, result: cel.IntType, compute: countEvents},
		},
	},
	{
		name: "sum",
		doc:  "sum of a numeric property over the events with a name in the last window",
		overloads: []overload{
			{id: "sum_event_property_window", args: []argKind{argEvent, argProperty, argWindow}, result: cel.DoubleType, compute: sumProperty},
		},
	},
}

func countEvents(_ Call, events []Event) ref.Val {
	return types.Int(len(events))
}

func sumProperty(c Call, events []Event) ref.Val {
	var total float64
	for _, e := range events {
		total += e.Numbers[c.Property]
	}
	return types.Double(total)
}

// declarations returns the CEL declarations of the library; the
// implementations are bound late, per evaluation, to precomputed values.
func declarations() []cel.EnvOption {
	opts := make([]cel.EnvOption, 0, len(library))
	for _, f := range library {
		fopts := []cel.FunctionOpt{cel.FunctionDocs(f.doc)}
		for _, o := range f.overloads {
			params := make([]*cel.Type, len(o.args))
			for i := range params {
				params[i] = cel.StringType
			}
			fopts = append(fopts, cel.Overload(o.id, params, o.result, cel.LateFunctionBinding()))
		}
		opts = append(opts, cel.Function(f.name, fopts...))
	}
	return opts
}

func lookupOverload(name string, nargs int) (*overload, bool) {
	for i := range library {
		if library[i].name != name {
			continue
		}
		for j := range library[i].overloads {
			if o := &library[i].overloads[j]; len(o.args) == nargs {
				return o, true
			}
		}
	}
	return nil, false
}

var windowPattern = regexp.MustCompile(`^([0-9]+)([smhdw])$`)

var windowUnits = map[string]time.Duration{
	"s": time.Second,
	"m": time.Minute,
	"h": time.Hour,
	"d": 24 * time.Hour,
	"w": 7 * 24 * time.Hour,
}

// MaxWindow is the longest window a condition may use.
const MaxWindow = 100 * 365 * 24 * time.Hour

// ParseWindow reads a window such as "20s", "30m", "72h", "90d" or "2w".
func ParseWindow(s string) (time.Duration, error) {
	m := windowPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("window %q: want a positive number and a unit s, m, h, d or w, such as \"90d\"", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	unit := windowUnits[m[2]]
	if err != nil || n <= 0 || n > int64(MaxWindow/unit) {
		return 0, fmt.Errorf("window %q: want more than zero and at most 100 years", s)
	}
	return time.Duration(n) * unit, nil
}
