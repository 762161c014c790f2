package condition

import "cel.dev/cel-go/common/ast"

// Expr returns the condition's type-checked CEL expression, for a store
// that computes some conditions itself: its behavioral calls are resolved
// with CallOf.
func (c *Condition) Expr() ast.Expr { return c.expr }

// CallOf returns the behavioral call that e, a call expression of Expr,
// is; false when e is not a behavioral call of the condition.
func (c *Condition) CallOf(e ast.Expr) (Call, bool) {
	key, ok := c.callKeys[e.ID()]
	if !ok {
		return Call{}, false
	}
	for _, call := range c.calls {
		if call.key == key {
			return call, true
		}
	}
	return Call{}, false
}
