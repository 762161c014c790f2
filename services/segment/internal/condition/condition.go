// Package condition compiles and evaluates segment conditions: CEL
// expressions over one profile's behavior (its events) and traits, extended
// with a small library of behavioral functions such as count, sum and
// days_since_last, with optional windows ("90d", "30d..90d") and property
// filters ({"category": "shoes"}), and with the scores the metrics service
// computes: the profile's RFM (rfm.recency, rfm.cell...) and the store's
// order statistics (store.avg_order_value...).
//
// Every argument of a behavioral function is a literal, checked when the
// condition compiles, so the calls of a condition are known statically:
// they say which events a segment depends on, their values are computed
// from a profile's facts before the program runs and handed to it as
// late-bound function implementations, and NextChange can tell, from the
// facts alone, the next instant at which time passing changes any of them.
package condition

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// Limits of a condition.
const (
	// MaxLength is the longest condition accepted, in code points.
	MaxLength = 16 << 10
	// MaxCost bounds the cost of one evaluation (CEL's runtime cost units);
	// an evaluation that exceeds it fails.
	MaxCost = 100_000
	// maxComprehensionNesting bounds nested macros such as all and exists,
	// whose cost grows as a power of the list sizes.
	maxComprehensionNesting = 2
)

// TraitsVariable is the variable holding the profile's traits.
const TraitsVariable = "traits"

// env is the CEL environment shared by every condition; cel.Env is safe for
// concurrent use once built.
var env = mustEnv()

func mustEnv() *cel.Env {
	opts := []cel.EnvOption{
		cel.Variable(TraitsVariable, cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxLength),
		cel.ASTValidators(literalArgs{}, cel.ValidateComprehensionNestingLimit(maxComprehensionNesting)),
	}
	opts = append(opts, scoreDeclarations()...)
	e, err := cel.NewEnv(append(opts, declarations()...)...)
	if err != nil {
		panic(fmt.Sprintf("condition: building the CEL environment: %v", err))
	}
	return e
}

// Call is one use of a behavioral function in a condition, with its literal
// arguments.
type Call struct {
	// Function is the function's name, such as "count".
	Function string
	// Event is the event name the call aggregates.
	Event string
	// Property is the numeric property aggregated, for functions that take
	// one.
	Property string
	// Window is the stretch of time the call looks at; zero means all time.
	Window Window
	// Filter selects the events by their properties; nil selects all.
	Filter Filter
	// Steps are the event names of a call over several of them, in order:
	// the steps of a sequence, or the event and the one that cancels it
	// for abandoned. Event is then the first step.
	Steps []string
	// Gap is the longest time between two steps of a sequence, or the time
	// an abandoned event must have been left alone.
	Gap time.Duration
	// Segment is the id of the segment an in_segment call tests.
	Segment string
	// Line and Column locate the call in the source, 1-based.
	Line, Column int

	fn       *function
	overload *overload
	key      string
}

// Condition is a compiled condition, safe for concurrent use.
type Condition struct {
	source   string
	prog     cel.Program
	calls    []Call
	names    []string
	segments []string
	// usesRFM and usesStore tell whether the condition reads rfm.* and
	// store.*.
	usesRFM, usesStore bool
	// expr is the checked expression; callKeys maps the id of each
	// behavioral call expression to the key of its call.
	expr     ast.Expr
	callKeys map[int64]string
}

// Issue is one problem found compiling a condition, at a 1-based line and
// column.
type Issue struct {
	Line, Column int
	Message      string
}

func (i Issue) String() string {
	return fmt.Sprintf("%d:%d: %s", i.Line, i.Column, i.Message)
}

// Error reports why a condition does not compile.
type Error struct {
	Issues []Issue
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		parts[i] = is.String()
	}
	return strings.Join(parts, "; ")
}

// Compile parses and type-checks src. It returns an *Error when src is not a
// valid condition: not CEL, not of type bool, an unknown function or
// variable, or a behavioral function called with anything but valid string
// literals.
func Compile(src string) (*Condition, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Issues: []Issue{{Line: 1, Column: 1, Message: "empty condition"}}}
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, scoreFieldIssues(src, issuesError(iss))
	}
	if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &Error{Issues: []Issue{{Line: 1, Column: 1, Message: fmt.Sprintf("a condition must be a bool, this one is %s", t)}}}
	}
	prog, err := env.Program(checked, cel.CostLimit(MaxCost))
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	c := &Condition{source: src, prog: prog, expr: checked.NativeRep().Expr(), callKeys: map[int64]string{}}
	c.usesRFM, c.usesStore = scoreUses(checked.NativeRep())
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, call := range behavioralCalls(checked.NativeRep()) {
		fc, err := newCall(checked.NativeRep(), call)
		if err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
		c.callKeys[call.ID()] = fc.key
		if !seen[fc.key] {
			seen[fc.key] = true
			c.calls = append(c.calls, fc)
		}
		if fc.Segment != "" && !slices.Contains(c.segments, fc.Segment) {
			c.segments = append(c.segments, fc.Segment)
		}
		for _, n := range append([]string{fc.Event}, fc.Steps...) {
			if n != "" && !names[n] {
				names[n] = true
				c.names = append(c.names, n)
			}
		}
	}
	return c, nil
}

func issuesError(iss *cel.Issues) *Error {
	e := &Error{}
	for _, ce := range iss.Errors() {
		line, col := 1, 1
		if ce.Location != nil && ce.Location.Line() > 0 {
			line, col = ce.Location.Line(), ce.Location.Column()+1
		}
		e.Issues = append(e.Issues, Issue{Line: line, Column: col, Message: ce.Message})
	}
	if len(e.Issues) == 0 {
		e.Issues = []Issue{{Line: 1, Column: 1, Message: iss.String()}}
	}
	return e
}

// Source returns the condition's text.
func (c *Condition) Source() string { return c.source }

// Calls returns the behavioral calls of the condition, each once.
func (c *Condition) Calls() []Call { return append([]Call(nil), c.calls...) }

// EventNames returns the names of the events the condition depends on.
func (c *Condition) EventNames() []string { return append([]string(nil), c.names...) }

// Segments returns the ids of the segments the condition tests with
// in_segment, each once.
func (c *Condition) Segments() []string { return append([]string(nil), c.segments...) }

// Facts is what a condition is evaluated over: one profile's traits and
// events. The zero value is an empty profile.
type Facts struct {
	// Traits are the profile's latest traits.
	Traits map[string]any
	// InSegment tells in_segment whether the profile is a member of a
	// segment; nil means of none.
	InSegment func(id string) bool
	// Consents are the profile's latest consents, granted or not, by
	// purpose; consent() is false for a purpose absent.
	Consents map[string]bool
	// RFM is the profile's RFM and Store the store's statistics, as of the
	// latest refresh from the metrics service.
	RFM    RFM
	Store  StoreStatistics
	byName map[string][]Event
}

// Add records events of the profile.
func (f *Facts) Add(events ...Event) {
	if f.byName == nil {
		f.byName = map[string][]Event{}
	}
	for _, e := range events {
		f.byName[e.Name] = append(f.byName[e.Name], e)
	}
}

// Eval evaluates the condition over facts at the instant now, which is the
// end of every window. An evaluation that fails (a missing trait compared,
// the cost limit exceeded) returns an error; callers treat the profile as
// not matching.
func (c *Condition) Eval(facts *Facts, now time.Time) (bool, error) {
	values := make(map[string]ref.Val, len(c.calls))
	for _, call := range c.calls {
		var v ref.Val
		var ok bool
		if call.fn.evaluate != nil {
			v, ok = call.fn.evaluate(call, facts, now)
		} else {
			v, ok = call.fn.compute(call, facts.matching(call, now), now)
		}
		if !ok {
			v = types.NewErr("%s: no %q events to compute it over", call.Function, call.Event)
		}
		values[call.key] = v
	}
	bound := func(overloadID string, args ...ref.Val) ref.Val {
		if v, ok := values[runtimeKey(overloadID, args)]; ok {
			return v
		}
		return types.NewErr("condition: no value computed for %s", overloadID)
	}
	funcs := make(map[string]cel.LateBoundFunction, len(library))
	for _, f := range library {
		funcs[f.name] = bound
	}
	traits := facts.Traits
	if traits == nil {
		traits = map[string]any{}
	}
	vars := map[string]any{TraitsVariable: traits}
	c.addScoreVariables(vars, facts)
	act, err := cel.FunctionVars(vars, funcs)
	if err != nil {
		return false, fmt.Errorf("condition: %w", err)
	}
	out, _, err := c.prog.Eval(act)
	if err != nil {
		return false, fmt.Errorf("evaluate condition: %w", err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("evaluate condition: result is %s, not a bool", out.Type())
	}
	return bool(b), nil
}

// NextChange returns the first instant after now at which the value of one
// of the condition's calls over facts changes by time passing alone: an
// event entering or leaving a window, or a whole day more since an event.
// It returns the zero time when no value can change without a new event or
// new traits, such as for counts over all time. Between now and that instant
// the condition keeps its value at now.
func (c *Condition) NextChange(facts *Facts, now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, call := range c.calls {
		switch {
		case call.fn.next != nil:
			earliest(call.fn.next(call, facts, now))
		case call.fn.sinceEvent:
			events := facts.matching(call, now)
			var since time.Time
			var ok bool
			if call.Function == "days_since_first" {
				since, ok = firstTime(events)
			} else {
				since, ok = lastTime(events)
			}
			if ok {
				earliest(since.Add(time.Duration(daysBetween(since, now)+1) * day))
			}
		case !call.Window.IsZero():
			for _, e := range facts.byName[call.Event] {
				if call.Filter.Matches(e) {
					earliest(call.Window.next(e.Time, now))
				}
			}
		}
	}
	return next
}

// matching returns the events of a call: of its name, matching its filter
// and, for windowed calls, in its window at now.
func (f *Facts) matching(c Call, now time.Time) []Event {
	events := f.byName[c.Event]
	if c.Window.IsZero() && len(c.Filter) == 0 {
		return events
	}
	var in []Event
	for _, e := range events {
		if c.Filter.Matches(e) && (c.Window.IsZero() || c.Window.Contains(e.Time, now)) {
			in = append(in, e)
		}
	}
	return in
}

// behavioralCalls returns the calls of library functions in a.
func behavioralCalls(a *ast.AST) []ast.NavigableExpr {
	return ast.MatchDescendants(ast.NavigateAST(a), func(e ast.NavigableExpr) bool {
		return e.Kind() == ast.CallKind && !e.AsCall().IsMemberFunction() && isLibraryFunction(e.AsCall().FunctionName())
	})
}

// resolved returns the function and overload the type checker chose for a
// call, when it could choose exactly one.
func resolved(a *ast.AST, e ast.Expr) (*function, *overload, bool) {
	ids := a.GetOverloadIDs(e.ID())
	if len(ids) != 1 {
		return nil, nil, false
	}
	return lookupOverload(ids[0])
}

// literal returns the string literal of arg.
func literal(arg ast.Expr) (string, bool) {
	if arg.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := arg.AsLiteral().(types.String)
	return string(s), ok
}

// filterLiteral reads a property filter from a map literal, or says what is
// wrong with it and where.
func filterLiteral(arg ast.Expr) (Filter, ast.Expr, string) {
	if arg.Kind() != ast.MapKind {
		return nil, arg, "the property filter must be a map literal, such as {\"category\": \"shoes\"}"
	}
	entries := arg.AsMap().Entries()
	if len(entries) == 0 {
		return nil, arg, "the property filter must not be empty"
	}
	if len(entries) > MaxFilterProperties {
		return nil, arg, fmt.Sprintf("the property filter tests %d properties; the limit is %d", len(entries), MaxFilterProperties)
	}
	f := Filter{}
	for _, en := range entries {
		me := en.AsMapEntry()
		k, ok := literal(me.Key())
		switch {
		case me.IsOptional():
			return nil, me.Key(), "the property filter must not have optional entries"
		case !ok:
			return nil, me.Key(), "the property filter's keys must be string literals, the property names"
		case k == "":
			return nil, me.Key(), "the property filter's keys must not be empty"
		}
		if _, dup := f[k]; dup {
			return nil, me.Key(), fmt.Sprintf("the property filter tests %q twice", k)
		}
		var v any
		if me.Value().Kind() == ast.LiteralKind {
			v, ok = filterValue(me.Value().AsLiteral())
		} else {
			ok = false
		}
		if !ok {
			return nil, me.Value(), fmt.Sprintf("the value of %q must be a string, number or bool literal", k)
		}
		f[k] = v
	}
	return f, nil, ""
}

func newCall(a *ast.AST, e ast.NavigableExpr) (Call, error) {
	name, args := e.AsCall().FunctionName(), e.AsCall().Args()
	fn, o, ok := resolved(a, e)
	if !ok {
		return Call{}, fmt.Errorf("%s: no single overload", name)
	}
	c := Call{Function: name, fn: fn, overload: o}
	if loc := a.SourceInfo().GetStartLocation(e.ID()); loc.Line() > 0 {
		// CEL places a call at its parenthesis; point at the name.
		c.Line, c.Column = loc.Line(), max(1, loc.Column()+1-len(name))
	}
	parts := make([]string, len(args))
	for i, kind := range o.args {
		if kind == argFilter {
			f, _, msg := filterLiteral(args[i])
			if msg != "" {
				return Call{}, errors.New(msg)
			}
			c.Filter, parts[i] = f, f.key()
			continue
		}
		if kind == argSteps {
			steps, _, msg := stepsLiteral(args[i])
			if msg != "" {
				return Call{}, errors.New(msg)
			}
			c.Steps, c.Event, parts[i] = steps, steps[0], stepsKey(steps)
			continue
		}
		s, ok := literal(args[i])
		if !ok {
			return Call{}, errors.New("behavioral call with a non-literal argument")
		}
		parts[i] = s
		switch kind {
		case argEvent:
			c.Event = s
		case argProperty:
			c.Property = s
		case argWindow:
			w, err := ParseWindow(s)
			if err != nil {
				return Call{}, err
			}
			c.Window = w
		case argSegment:
			c.Segment = s
		case argGap:
			d, err := parseDuration(s)
			if err != nil {
				return Call{}, fmt.Errorf("duration %q: %w", s, err)
			}
			c.Gap = d
		}
	}
	if fn.evaluate != nil && len(c.Steps) == 0 && c.Event != "" {
		c.Steps = []string{c.Event}
		for i, kind := range o.args {
			if kind == argUnless {
				s, _ := literal(args[i])
				c.Steps = append(c.Steps, s)
			}
		}
	}
	c.key = callKey(o.id, parts)
	return c, nil
}

func callKey(overloadID string, parts []string) string {
	var b strings.Builder
	b.WriteString(overloadID)
	for _, p := range parts {
		b.WriteByte(0)
		b.WriteString(p)
	}
	return b.String()
}

// runtimeKey is the callKey of a call's argument values.
func runtimeKey(overloadID string, args []ref.Val) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case types.String:
			parts[i] = string(a)
		case traits.Lister:
			var steps []string
			for it := a.Iterator(); it.HasNext() == types.True; {
				if s, ok := it.Next().(types.String); ok {
					steps = append(steps, string(s))
				}
			}
			parts[i] = stepsKey(steps)
		case traits.Mapper:
			f := Filter{}
			for it := a.Iterator(); it.HasNext() == types.True; {
				k := it.Next()
				if v, ok := filterValue(a.Get(k)); ok {
					f[fmt.Sprint(k.Value())] = v
				}
			}
			parts[i] = f.key()
		}
	}
	return callKey(overloadID, parts)
}

// literalArgs is the validator that requires every argument of a
// behavioral function to be a valid literal, and reports the position of
// each one that is not.
type literalArgs struct{}

func (literalArgs) Name() string { return "barista.validator.behavioral_literals" }

func (literalArgs) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	for _, call := range behavioralCalls(a) {
		name, args := call.AsCall().FunctionName(), call.AsCall().Args()
		_, o, ok := resolved(a, call)
		if !ok {
			for i, arg := range args {
				if _, lit := literal(arg); !lit && arg.Kind() != ast.MapKind && arg.Kind() != ast.ListKind {
					iss.ReportErrorAtID(arg.ID(), "%s: argument %d must be a literal, such as \"Order Completed\", \"90d\" or {\"category\": \"shoes\"}", name, i+1)
					break
				}
			}
			continue
		}
		for i, kind := range o.args {
			if kind == argFilter {
				if _, at, msg := filterLiteral(args[i]); msg != "" {
					iss.ReportErrorAtID(at.ID(), "%s: %s", name, msg)
				}
				continue
			}
			if kind == argSteps {
				if _, at, msg := stepsLiteral(args[i]); msg != "" {
					iss.ReportErrorAtID(at.ID(), "%s: %s", name, msg)
				}
				continue
			}
			s, ok := literal(args[i])
			switch {
			case !ok:
				iss.ReportErrorAtID(args[i].ID(), "%s: the %s must be a string literal, such as %s", name, kind, example(kind))
			case kind == argSegment && !segmentIDPattern.MatchString(s):
				iss.ReportErrorAtID(args[i].ID(), "%s: %q is not a segment id: 1 to 63 lowercase letters, digits and hyphens, starting with a letter", name, s)
			case (kind == argEvent || kind == argUnless) && s == "":
				iss.ReportErrorAtID(args[i].ID(), "%s: the event name must not be empty", name)
			case kind == argProperty && s == "":
				iss.ReportErrorAtID(args[i].ID(), "%s: the property must not be empty", name)
			case kind == argWindow:
				if _, err := ParseWindow(s); err != nil {
					iss.ReportErrorAtID(args[i].ID(), "%s: %v", name, err)
				}
			case kind == argGap:
				if _, err := parseDuration(s); err != nil {
					iss.ReportErrorAtID(args[i].ID(), "%s: duration %q: %v", name, s, err)
				}
			}
		}
	}
}

func example(k argKind) string {
	switch k {
	case argEvent, argUnless:
		return `"Order Completed"`
	case argGap:
		return `"4h"`
	case argSegment:
		return `"vip"`
	case argProperty:
		return `"revenue"`
	}
	return `"90d"`
}
