// Package condition compiles and evaluates segment conditions: CEL
// expressions over one profile's behavior (its events) and traits, extended
// with a small library of behavioral functions such as count and sum.
//
// Every argument of a behavioral function is a string literal, checked when
// the condition compiles, so the calls of a condition are known statically:
// they say which events a segment depends on, and their values are computed
// from a profile's facts before the program runs and handed to it as
// late-bound function implementations.
package condition

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
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
	// Property is the property summed, for functions that take one.
	Property string
	// Window is how far back the call looks; zero means all time.
	Window time.Duration

	overload *overload
	key      string
}

// Condition is a compiled condition, safe for concurrent use.
type Condition struct {
	source string
	prog   cel.Program
	calls  []Call
	names  []string
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
		return nil, issuesError(iss)
	}
	if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &Error{Issues: []Issue{{Line: 1, Column: 1, Message: fmt.Sprintf("a condition must be a bool, this one is %s", t)}}}
	}
	prog, err := env.Program(checked, cel.CostLimit(MaxCost))
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	c := &Condition{source: src, prog: prog}
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, call := range behavioralCalls(checked.NativeRep()) {
		fc, err := newCall(call)
		if err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
		if !seen[fc.key] {
			seen[fc.key] = true
			c.calls = append(c.calls, fc)
		}
		if !names[fc.Event] {
			names[fc.Event] = true
			c.names = append(c.names, fc.Event)
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

// Facts is what a condition is evaluated over: one profile's traits and
// events. The zero value is an empty profile.
type Facts struct {
	// Traits are the profile's latest traits.
	Traits map[string]any
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
		values[call.key] = call.overload.compute(call, facts.within(call.Event, call.Window, now))
	}
	bound := func(overloadID string, args ...ref.Val) ref.Val {
		if v, ok := values[callKey(overloadID, args)]; ok {
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
	act, err := cel.FunctionVars(map[string]any{TraitsVariable: traits}, funcs)
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

// within returns the events named name that happened after now-window, or
// all of them for a zero window. Events dated after now count: a window
// bounds how old an event may be, and clocks disagree.
func (f *Facts) within(name string, window time.Duration, now time.Time) []Event {
	events := f.byName[name]
	if window == 0 {
		return events
	}
	since := now.Add(-window)
	var in []Event
	for _, e := range events {
		if e.Time.After(since) {
			in = append(in, e)
		}
	}
	return in
}

// behavioralCalls returns the calls of library functions in a.
func behavioralCalls(a *ast.AST) []ast.NavigableExpr {
	return ast.MatchDescendants(ast.NavigateAST(a), func(e ast.NavigableExpr) bool {
		if e.Kind() != ast.CallKind || e.AsCall().IsMemberFunction() {
			return false
		}
		_, ok := lookupOverload(e.AsCall().FunctionName(), len(e.AsCall().Args()))
		return ok
	})
}

// literal returns the string literal of arg.
func literal(arg ast.Expr) (string, bool) {
	if arg.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := arg.AsLiteral().(types.String)
	return string(s), ok
}

func newCall(e ast.NavigableExpr) (Call, error) {
	name, args := e.AsCall().FunctionName(), e.AsCall().Args()
	o, _ := lookupOverload(name, len(args))
	c := Call{Function: name, overload: o}
	strs := make([]ref.Val, len(args))
	for i, kind := range o.args {
		s, ok := literal(args[i])
		if !ok {
			return Call{}, errors.New("behavioral call with a non-literal argument")
		}
		strs[i] = types.String(s)
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
		}
	}
	c.key = callKey(o.id, strs)
	return c, nil
}

func callKey(overloadID string, args []ref.Val) string {
	var b strings.Builder
	b.WriteString(overloadID)
	for _, a := range args {
		b.WriteByte(0)
		if s, ok := a.(types.String); ok {
			b.WriteString(string(s))
		}
	}
	return b.String()
}

// literalArgs is the validator that requires every argument of a
// behavioral function to be a valid string literal, and reports the
// position of each one that is not.
type literalArgs struct{}

func (literalArgs) Name() string { return "barista.validator.behavioral_literals" }

func (literalArgs) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	for _, call := range behavioralCalls(a) {
		name, args := call.AsCall().FunctionName(), call.AsCall().Args()
		o, _ := lookupOverload(name, len(args))
		for i, kind := range o.args {
			s, ok := literal(args[i])
			switch {
			case !ok:
				iss.ReportErrorAtID(args[i].ID(), "%s: the %s must be a string literal, such as %s", name, kind, example(kind))
			case kind == argEvent && s == "":
				iss.ReportErrorAtID(args[i].ID(), "%s: the event name must not be empty", name)
			case kind == argProperty && s == "":
				iss.ReportErrorAtID(args[i].ID(), "%s: the property must not be empty", name)
			case kind == argWindow:
				if _, err := ParseWindow(s); err != nil {
					iss.ReportErrorAtID(args[i].ID(), "%s: %v", name, err)
				}
			}
		}
	}
}

func example(k argKind) string {
	switch k {
	case argEvent:
		return `"Order Completed"`
	case argProperty:
		return `"revenue"`
	}
	return `"90d"`
}
