package postgres

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/barista-cdp/barista/services/segment/internal/condition"
)

// maxExactInt is the largest integer constant compared in SQL: every
// integer up to it is a float64, so comparing in float8 is what CEL's
// comparison of an int or uint with a double does.
const maxExactInt = 1 << 53

// comparisons maps CEL's comparison operators to SQL's.
var comparisons = map[string]string{
	operators.Less:          "<",
	operators.LessEquals:    "<=",
	operators.Greater:       ">",
	operators.GreaterEquals: ">=",
	operators.Equals:        "=",
	operators.NotEquals:     "<>",
}

// aggregates are the behavioral functions computed in SQL.
var aggregates = []string{"count", "sum", "avg", "min", "max"}

// pushdown compiles a condition to SQL over the facts of one profile
// grouped by profile (alias f): the supported subset is comparisons of
// count, sum, avg, min and max calls and numeric constants, combined with
// && and ||. Values are bound parameters, numbered after those given.
type pushdown struct {
	cond *condition.Condition
	now  time.Time
	args []any
	// columns are the aggregates of the distinct calls, named c0, c1...,
	// computed in any order; byCall maps each call to the expression of
	// its value; checks are the expressions of the next instants at which
	// time alone changes a windowed call's value.
	columns []string
	byCall  map[string]string
	checks  []string
	// projected are the expressions over one fact that the aggregates
	// read, by expression in projectedBy.
	projected   []string
	projectedBy map[string]string
	// ordered are the columns of the sums and averages computed in the
	// order of the facts; exact are the conditions under which any order
	// gives the same result.
	ordered, exact []string
	// bound maps each value bound to its placeholder.
	bound map[string]string
	// since, when not zero, is the lower bound (exclusive) of the times
	// of the facts read: now minus the largest upper age bound of the
	// windows, when every call has one (see scope); sinceCond is its
	// condition in the WHERE clause of the facts read. only, when not
	// empty, is the one event name of the facts read. The conditions
	// that this WHERE clause implies are left out of the aggregates'
	// filters.
	since     time.Time
	sinceCond string
	only      string
}

// compilePushdown compiles cond at now, with args the parameters already
// bound. It returns false when cond is outside the supported subset.
func compilePushdown(cond *condition.Condition, now time.Time, args []any) (*pushdown, string, bool) {
	p := &pushdown{cond: cond, now: now, args: args, byCall: map[string]string{}, bound: map[string]string{}, projectedBy: map[string]string{}}
	p.since, p.only = p.scope()
	if !p.since.IsZero() {
		p.sinceCond = " AND f.event_time > " + p.param(p.since, "timestamptz")
	}
	member, ok := p.boolean(cond.Expr())
	if !ok {
		return nil, "", false
	}
	return p, member, true
}

// scope returns the bounds of the facts that can change the value of a
// call or a check (see pushdown.since and pushdown.only): when every call
// has a window with an upper age bound, a fact at or before now minus the
// largest is in no window, and can neither enter nor leave one after now
// (addChecks), so it changes nothing. A profile whose facts are all older
// then has the values of a profile without facts, which is left out as it
// was: it does not match (the engine only pushes the conditions false for
// a profile without facts) and has no check.
func (p *pushdown) scope() (since time.Time, only string) {
	if names := p.cond.EventNames(); len(names) == 1 {
		only = names[0]
	}
	var widest time.Duration
	for _, c := range p.cond.Calls() {
		if c.Window.To == 0 {
			return time.Time{}, only
		}
		widest = max(widest, c.Window.To)
	}
	if widest == 0 {
		return time.Time{}, only
	}
	return p.now.Add(-widest), only
}

// after is the condition that a fact is after t, "" when the facts read
// are all after it.
func (p *pushdown) after(t time.Time) string {
	if !p.since.IsZero() && t.Equal(p.since) {
		return ""
	}
	return "f.event_time > " + p.param(t, "timestamptz")
}

// filter returns the FILTER clause of an aggregate over the facts where
// every one of conds holds, "" when they all hold; empty conditions are
// left out.
func filter(conds ...string) string {
	conds = slices.DeleteFunc(slices.Clone(conds), func(c string) bool { return c == "" })
	if len(conds) == 0 {
		return ""
	}
	return " FILTER (WHERE " + strings.Join(conds, " AND ") + ")"
}

// param binds v and returns its placeholder cast to typ; a value bound
// before keeps its placeholder, so that equal expressions are the same
// text and Postgres computes their aggregates once.
func (p *pushdown) param(v any, typ string) string {
	key := fmt.Sprintf("%T\x00%v\x00%s", v, v, typ)
	if ph, ok := p.bound[key]; ok {
		return ph
	}
	p.args = append(p.args, v)
	ph := fmt.Sprintf("$%d::%s", len(p.args), typ)
	p.bound[key] = ph
	return ph
}

// boolean compiles a bool expression: && and || of comparisons and bool
// constants. SQL's three-valued logic matches CEL's on errors: a call
// without a value (an average of no events) is NULL, and NULL OR TRUE is
// TRUE as an error || true is true in CEL; a NULL result is no match.
func (p *pushdown) boolean(e ast.Expr) (string, bool) {
	switch e.Kind() {
	case ast.LiteralKind:
		b, ok := e.AsLiteral().(types.Bool)
		if !ok {
			return "", false
		}
		return strings.ToUpper(fmt.Sprint(bool(b))), true
	case ast.CallKind:
	default:
		return "", false
	}
	call := e.AsCall()
	if call.IsMemberFunction() {
		return "", false
	}
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case operators.LogicalAnd, operators.LogicalOr:
		op := " AND "
		if fn == operators.LogicalOr {
			op = " OR "
		}
		parts := make([]string, len(args))
		for i, a := range args {
			s, ok := p.boolean(a)
			if !ok {
				return "", false
			}
			parts[i] = s
		}
		return "(" + strings.Join(parts, op) + ")", true
	default:
		op, ok := comparisons[fn]
		if !ok || len(args) != 2 {
			return "", false
		}
		l, okl := p.number(args[0])
		r, okr := p.number(args[1])
		if !okl || !okr {
			return "", false
		}
		return fmt.Sprintf("(%s %s %s)", l, op, r), true
	}
}

// number compiles a numeric operand of a comparison, as float8: a numeric
// constant or a supported call.
func (p *pushdown) number(e ast.Expr) (string, bool) {
	switch e.Kind() {
	case ast.LiteralKind:
		var f float64
		switch v := e.AsLiteral().(type) {
		case types.Int:
			if v > maxExactInt || v < -maxExactInt {
				return "", false
			}
			f = float64(v)
		case types.Uint:
			if v > maxExactInt {
				return "", false
			}
			f = float64(v)
		case types.Double:
			f = float64(v)
		default:
			return "", false
		}
		return p.param(f, "float8"), true
	case ast.CallKind:
		c, ok := p.cond.CallOf(e)
		if !ok || !slices.Contains(aggregates, c.Function) {
			return "", false
		}
		return p.column(c), true
	}
	return "", false
}

// column returns the expression of a call's aggregate, adding its column
// (and the check of its window) on first use. A sum or an average is
// computed twice: in any order, which is the engine's result when every
// value added is an integer and their magnitudes add up to less than 2^53
// (every partial sum is then exact), and in the order of the facts'
// sequence numbers, as the engine adds them up, for the profiles where
// that does not hold (g.exact false).
func (p *pushdown) column(c condition.Call) string {
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%#v", c.Function, c.Event, c.Property, c.Window, map[string]any(c.Filter))
	if ref, ok := p.byCall[key]; ok {
		return ref
	}
	col := fmt.Sprintf("c%d", len(p.columns))
	var selected string
	if sel := p.selection(c); sel != "" {
		selected = p.project(sel, "s")
	}
	inWindow := filter(append([]string{selected}, p.window(c.Window)...)...)
	ref := "g." + col
	var v string
	if c.Function != "count" {
		v = p.project(numberOf(p.param(c.Property, "text")), "n")
	}
	switch c.Function {
	case "count":
		p.columns = append(p.columns, fmt.Sprintf("(count(*)%s)::float8 AS %s", inWindow, col))
	case "sum", "avg":
		agg := func(order string) string {
			sum := fmt.Sprintf("sum(%s%s)%s", v, order, inWindow)
			if c.Function == "sum" {
				return fmt.Sprintf("coalesce(%s, 0) AS %s", sum, col)
			}
			return fmt.Sprintf("%s / (count(%s)%s)::float8 AS %s", sum, v, inWindow, col)
		}
		p.columns = append(p.columns, agg(""))
		p.ordered = append(p.ordered, agg(" ORDER BY f.seq"))
		p.exact = append(p.exact, fmt.Sprintf("coalesce(bool_and(%[1]s = trunc(%[1]s))%[2]s, true) AND coalesce(sum(abs(%[1]s))%[2]s, 0) < %[3]s",
			v, inWindow, p.param(float64(maxExactInt), "float8")))
		ref = fmt.Sprintf("(CASE WHEN g.exact THEN g.%[1]s ELSE o.%[1]s END)", col)
	default: // min, max
		p.columns = append(p.columns, fmt.Sprintf("%s(%s)%s AS %s", c.Function, v, inWindow, col))
	}
	p.byCall[key] = ref
	p.addChecks(c.Window, selected)
	return ref
}

// project returns the column of expr, an expression over one fact,
// computed once per fact before the aggregates read it: a fact's
// properties are read from jsonb once however many aggregates use them.
func (p *pushdown) project(expr, prefix string) string {
	if col, ok := p.projectedBy[expr]; ok {
		return col
	}
	alias := fmt.Sprintf("%s%d", prefix, len(p.projected))
	p.projected = append(p.projected, expr+" AS "+alias)
	p.projectedBy[expr] = "f." + alias
	return "f." + alias
}

// numberOf is the value of a numeric property of the fact, NULL when it
// has none, parsed from its text as Go parses it. The facts' numbers are
// all JSON numbers: they are written from float64s, and read back into
// float64s. Testing each value's type first (jsonb_typeof) read the jsonb
// twice and made grouping the facts about a fifth slower; a value that is
// not a number fails the cast with a data exception instead, which leaves
// the backfill to the engine (PushBackfill).
func numberOf(key string) string {
	return fmt.Sprintf("(f.numbers ->> %s)::float8", key)
}

// selection is the condition that a fact is of the call's event and
// matches its filter, as condition.Filter.Matches decides; "" when every
// fact read does (see pushdown.only).
func (p *pushdown) selection(c condition.Call) string {
	var parts []string
	if c.Event != p.only {
		parts = append(parts, "f.name = "+p.param(c.Event, "text"))
	}
	keys := make([]string, 0, len(c.Filter))
	for k := range c.Filter {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		key := p.param(k, "text")
		switch v := c.Filter[k].(type) {
		case string:
			parts = append(parts, fmt.Sprintf("f.strings -> %s = to_jsonb(%s)", key, p.param(v, "text")))
		case float64:
			parts = append(parts, fmt.Sprintf("%s = %s", numberOf(key), p.param(v, "float8")))
		case bool:
			parts = append(parts, fmt.Sprintf("f.flags -> %s = to_jsonb(%s)", key, p.param(v, "boolean")))
		default:
			parts = append(parts, "FALSE")
		}
	}
	return strings.Join(parts, " AND ")
}

// window is the condition that a fact is in w at now, as
// condition.Window.Contains decides: after now-To, at or before now-From;
// the parts that every fact read meets are left out (see after).
func (p *pushdown) window(w condition.Window) []string {
	var parts []string
	if w.To != 0 {
		parts = append(parts, p.after(p.now.Add(-w.To)))
	}
	if w.From != 0 {
		parts = append(parts, "f.event_time <= "+p.param(p.now.Add(-w.From), "timestamptz"))
	}
	return parts
}

// addChecks adds the first instant after now at which a fact that selected
// picks enters or leaves w, as Condition.NextChange finds it: t+From or
// t+To, whichever is the first after now, over every such fact.
func (p *pushdown) addChecks(w condition.Window, selected string) {
	for _, d := range []time.Duration{w.From, w.To} {
		if d == 0 {
			continue
		}
		check := fmt.Sprintf("min(f.event_time)%s + %s",
			filter(selected, p.after(p.now.Add(-d))), p.param(pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}, "interval"))
		if !slices.Contains(p.checks, check) {
			p.checks = append(p.checks, check)
		}
	}
}

// nextCheck is the expression of a profile's next check: the earliest of
// the checks, NULL when there is none.
func (p *pushdown) nextCheck() string {
	switch len(p.checks) {
	case 0:
		return "NULL::timestamptz"
	case 1:
		return p.checks[0]
	}
	return "LEAST(" + strings.Join(p.checks, ", ") + ")"
}

// columnList returns columns, each after a comma.
func columnList(columns []string) string {
	var b strings.Builder
	for _, c := range columns {
		b.WriteString(",\n    " + c)
	}
	return b.String()
}

// exactness is the expression telling whether the sums of a profile are
// the same in any order.
func (p *pushdown) exactness() string {
	if len(p.exact) == 0 {
		return "true"
	}
	return "(" + strings.Join(p.exact, ")\n    AND (") + ")"
}

// statement returns pushBackfillSQL for the condition whose membership
// expression is member: without reordered when there are no sums to
// compute in order, and reading only the facts after p.since when set.
func (p *pushdown) statement(member string) string {
	reordered, reorderedJoin := pushReorderedSQL, pushReorderedJoinSQL
	if len(p.ordered) == 0 {
		reordered, reorderedJoin = "", ""
	}
	sql := strings.NewReplacer("{reordered}", reordered, "{reorderedJoin}", reorderedJoin).Replace(pushBackfillSQL)
	return strings.NewReplacer(
		"{since}", p.sinceCond,
		"{member}", member,
		"{check}", p.nextCheck(),
		"{exact}", p.exactness(),
		"{columns}", columnList(p.columns),
		"{ordered}", columnList(p.ordered),
		"{projected}", columnList(p.projected),
	).Replace(sql)
}
