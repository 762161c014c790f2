package condition

import (
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
)

// Variables of the scores the metrics service computes: rfm.* for the
// profile, store.* for the whole store.
const (
	RFMVariable   = "rfm"
	StoreVariable = "store"
)

// RFM is a profile's recency, frequency and monetary value over the
// metrics service's window (a year by default), with their quintile scores
// among the store's customers. The zero value is a profile without orders
// in the window.
type RFM struct {
	// Recency, Frequency and Monetary are scores from 1 (worst) to 5
	// (best); 0 without orders.
	Recency, Frequency, Monetary int
	// RecencyDays counts the days since the last order; Orders counts the
	// orders and Revenue adds up their revenue.
	RecencyDays int64
	Orders      int64
	Revenue     float64
}

// Cell is the three scores as digits, recency first, such as "545"; "000"
// without orders.
func (r RFM) Cell() string {
	return fmt.Sprintf("%d%d%d", r.Recency, r.Frequency, r.Monetary)
}

// StoreStatistics are the store's order statistics over the metrics
// service's window. The zero value is what conditions see before the first
// refresh.
type StoreStatistics struct {
	// AverageOrderValue is the revenue per order.
	AverageOrderValue float64
	// P25 to P99 are percentiles of the order values.
	P25, P50, P75, P90, P99 float64
	// Orders counts the orders and Customers the profiles with one.
	Orders, Customers int64
}

// scoreField is one field of the rfm or store variable.
type scoreField struct {
	name string
	typ  *cel.Type
	doc  string
	rfm  func(RFM) any
	st   func(StoreStatistics) any
}

// rfmFields and storeFields are the fields conditions can read, in the
// order error messages list them.
var (
	rfmFields = []scoreField{
		{name: "recency", typ: cel.IntType, doc: "recency score, 1 to 5 (5: ordered most recently); 0 without orders", rfm: func(r RFM) any { return r.Recency }},
		{name: "frequency", typ: cel.IntType, doc: "frequency score, 1 to 5; 0 without orders", rfm: func(r RFM) any { return r.Frequency }},
		{name: "monetary", typ: cel.IntType, doc: "monetary score, 1 to 5; 0 without orders", rfm: func(r RFM) any { return r.Monetary }},
		{name: "recency_days", typ: cel.IntType, doc: "days since the last order in the window; 0 without orders", rfm: func(r RFM) any { return r.RecencyDays }},
		{name: "orders", typ: cel.IntType, doc: "orders in the window", rfm: func(r RFM) any { return r.Orders }},
		{name: "revenue", typ: cel.DoubleType, doc: "revenue in the window", rfm: func(r RFM) any { return r.Revenue }},
		{name: "cell", typ: cel.StringType, doc: `the three scores as digits, such as "545"; "000" without orders`, rfm: func(r RFM) any { return r.Cell() }},
	}
	storeFields = []scoreField{
		{name: "avg_order_value", typ: cel.DoubleType, doc: "revenue per order", st: func(s StoreStatistics) any { return s.AverageOrderValue }},
		{name: "order_value_p25", typ: cel.DoubleType, doc: "25th percentile order value", st: func(s StoreStatistics) any { return s.P25 }},
		{name: "order_value_p50", typ: cel.DoubleType, doc: "median order value", st: func(s StoreStatistics) any { return s.P50 }},
		{name: "order_value_p75", typ: cel.DoubleType, doc: "75th percentile order value", st: func(s StoreStatistics) any { return s.P75 }},
		{name: "order_value_p90", typ: cel.DoubleType, doc: "90th percentile order value", st: func(s StoreStatistics) any { return s.P90 }},
		{name: "order_value_p99", typ: cel.DoubleType, doc: "99th percentile order value", st: func(s StoreStatistics) any { return s.P99 }},
		{name: "orders", typ: cel.IntType, doc: "orders in the window", st: func(s StoreStatistics) any { return s.Orders }},
		{name: "customers", typ: cel.IntType, doc: "profiles with an order in the window", st: func(s StoreStatistics) any { return s.Customers }},
	}
)

// scoreDeclarations declares every field as a variable of its own, named
// with a dot ("rfm.recency"), so the type checker knows each field's type
// and refuses unknown ones.
func scoreDeclarations() []cel.EnvOption {
	var opts []cel.EnvOption
	for _, f := range rfmFields {
		opts = append(opts, cel.VariableWithDoc(RFMVariable+"."+f.name, f.typ, f.doc))
	}
	for _, f := range storeFields {
		opts = append(opts, cel.VariableWithDoc(StoreVariable+"."+f.name, f.typ, f.doc))
	}
	return opts
}

// UsesRFM reports whether the condition reads rfm.*: its value can change
// when the profile's scores do.
func (c *Condition) UsesRFM() bool { return c.usesRFM }

// UsesStore reports whether the condition reads store.*: its value can
// change when the store's statistics do.
func (c *Condition) UsesStore() bool { return c.usesStore }

// scoreUses tells which score variables a checked condition reads.
func scoreUses(a *ast.AST) (rfm, store bool) {
	for _, e := range ast.MatchDescendants(ast.NavigateAST(a), ast.KindMatcher(ast.IdentKind)) {
		name := e.AsIdent()
		rfm = rfm || strings.HasPrefix(name, RFMVariable+".")
		store = store || strings.HasPrefix(name, StoreVariable+".")
	}
	return rfm, store
}

// addScoreVariables adds the values of the score fields a condition reads
// to vars.
func (c *Condition) addScoreVariables(vars map[string]any, facts *Facts) {
	if c.usesRFM {
		for _, f := range rfmFields {
			vars[RFMVariable+"."+f.name] = f.rfm(facts.RFM)
		}
	}
	if c.usesStore {
		for _, f := range storeFields {
			vars[StoreVariable+"."+f.name] = f.st(facts.Store)
		}
	}
}

// scoreFieldIssues replaces the type checker's "undeclared reference to
// 'rfm'" for rfm.nope (and likewise for store) by an issue that names the
// unknown field and the known ones. It leaves the other issues as they are.
func scoreFieldIssues(src string, e *Error) *Error {
	parsed, iss := env.Parse(src)
	if iss.Err() != nil {
		return e
	}
	known := map[string][]scoreField{RFMVariable: rfmFields, StoreVariable: storeFields}
	type fix struct {
		line, column int
		message      string
	}
	fixed := map[[2]int]fix{}
	for _, sel := range ast.MatchDescendants(ast.NavigateAST(parsed.NativeRep()), ast.KindMatcher(ast.SelectKind)) {
		operand := sel.AsSelect().Operand()
		if operand.Kind() != ast.IdentKind {
			continue
		}
		variable := operand.AsIdent()
		fields, ok := known[variable]
		field := sel.AsSelect().FieldName()
		if !ok || slices.ContainsFunc(fields, func(f scoreField) bool { return f.name == field }) {
			continue
		}
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.name
		}
		info := parsed.NativeRep().SourceInfo()
		start := info.GetStartLocation(operand.ID())
		f := fix{start.Line(), start.Column() + 1, fmt.Sprintf("%s has no field %q; it has %s", variable, field, strings.Join(names, ", "))}
		// The checker reports the name at the variable, or at the dot when
		// it suggests a close field name.
		for _, loc := range []int64{operand.ID(), sel.ID()} {
			if l := info.GetStartLocation(loc); l.Line() > 0 {
				fixed[[2]int{l.Line(), l.Column() + 1}] = f
			}
		}
	}
	for i, is := range e.Issues {
		if f, ok := fixed[[2]int{is.Line, is.Column}]; ok && strings.HasPrefix(is.Message, "undeclared reference") {
			msg := f.message
			if _, hint, ok := strings.Cut(is.Message, "(did you mean "); ok {
				msg = strings.Replace(msg, ";", " (did you mean "+hint+";", 1)
			}
			e.Issues[i] = Issue{Line: f.line, Column: f.column, Message: msg}
			continue
		}
		for variable, fields := range known {
			if strings.HasPrefix(is.Message, "undeclared reference to '"+variable+"'") {
				e.Issues[i].Message = fmt.Sprintf("%s is not a value of its own: use one of its fields, such as %s.%s", variable, variable, fields[0].name)
			}
		}
	}
	return e
}
