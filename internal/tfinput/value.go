package tfinput

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// MaxValue bounds a run variable's HCL source.
const MaxValue = 64 << 10

// maxExponent bounds numbers' binary exponent (2^1100 ≈ 1e331): writing
// 1e100000000 as JSON means writing every digit.
const maxExponent = 1100

// Key checks a variable name: an HCL identifier, as a root module's
// variable block names it.
func Key(k string) error {
	if k == "" || len(k) > 128 || !hclsyntax.ValidIdentifier(k) {
		return errors.New("must be a variable name: a letter or underscore, then letters, digits, underscores or dashes (at most 128)")
	}
	return nil
}

// Value evaluates src as Terraform evaluates a value in a .tfvars file: a
// constant HCL expression, no references, functions or for expressions.
// It returns the value and its JSON. Errors never quote src: it may be
// sensitive.
func Value(src string) (json.RawMessage, cty.Value, error) {
	if len(src) > MaxValue {
		return nil, cty.NilVal, fmt.Errorf("is longer than %d bytes", MaxValue)
	}
	b, v, err := Constant(src, "value")
	switch {
	case errors.Is(err, ErrSyntax):
		return nil, cty.NilVal, errors.New("is not a valid HCL expression (a string needs its quotes)")
	case errors.Is(err, ErrForExpr):
		return nil, cty.NilVal, errors.New("must be a constant HCL value (no for expressions)")
	case errors.Is(err, ErrNotConstant):
		return nil, cty.NilVal, errors.New("must be a constant HCL value (no references or function calls; a string needs its quotes)")
	case errors.Is(err, ErrUnknown):
		return nil, cty.NilVal, errors.New("must be a known HCL value")
	case errors.Is(err, ErrNumberRange):
		return nil, cty.NilVal, errors.New("holds a number out of range")
	case errors.Is(err, ErrJSON):
		return nil, cty.NilVal, errors.New("cannot be written as JSON")
	}
	return b, v, err
}

// Why Constant refused a source; callers word their own messages, which
// never quote the source.
var (
	ErrSyntax      = errors.New("not a valid HCL expression")
	ErrForExpr     = errors.New("a for expression")
	ErrNotConstant = errors.New("not a constant value")
	ErrUnknown     = errors.New("not a known value")
	ErrNumberRange = errors.New("a number out of range")
	ErrJSON        = errors.New("cannot be written as JSON")
)

// Constant evaluates src, named filename in HCL's diagnostics, as a
// constant HCL value with no for expressions and numbers within 2^±1100,
// and returns its JSON and the value. It bounds nothing else: callers cap
// the source's size. Its errors are the Err values above.
func Constant(src, filename string) (json.RawMessage, cty.Value, error) {
	expr, diags := hclsyntax.ParseExpression([]byte(src), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, cty.NilVal, ErrSyntax
	}
	// for expressions (also %{for} in templates) multiply what they are
	// given; constants never need them, and they could make an agent write
	// gigabytes from a short value.
	if hclsyntax.VisitAll(expr.(hclsyntax.Node), func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.ForExpr); ok {
			return hcl.Diagnostics{{Severity: hcl.DiagError}}
		}
		return nil
	}).HasErrors() {
		return nil, cty.NilVal, ErrForExpr
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, cty.NilVal, ErrNotConstant
	}
	if !val.IsWhollyKnown() {
		return nil, cty.NilVal, ErrUnknown
	}
	if err := checkNumbers(val); err != nil {
		return nil, cty.NilVal, err
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return nil, cty.NilVal, ErrJSON
	}
	return b, val, nil
}

// checkNumbers refuses numbers whose magnitude lies outside 2^±1100.
func checkNumbers(v cty.Value) error {
	return cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
			return true, nil
		}
		f := v.AsBigFloat()
		if f.Sign() != 0 && (f.MantExp(nil) > maxExponent || f.MantExp(nil) < -maxExponent) {
			return false, ErrNumberRange
		}
		return true, nil
	})
}
