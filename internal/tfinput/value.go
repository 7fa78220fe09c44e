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
	expr, diags := hclsyntax.ParseExpression([]byte(src), "value", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, cty.NilVal, errors.New("is not a valid HCL expression (a string needs its quotes)")
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
		return nil, cty.NilVal, errors.New("must be a constant HCL value (no for expressions)")
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, cty.NilVal, errors.New("must be a constant HCL value (no references or function calls; a string needs its quotes)")
	}
	if !val.IsWhollyKnown() {
		return nil, cty.NilVal, errors.New("must be a known HCL value")
	}
	if err := checkNumbers(val); err != nil {
		return nil, cty.NilVal, err
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return nil, cty.NilVal, errors.New("cannot be written as JSON")
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
			return false, errors.New("holds a number out of range")
		}
		return true, nil
	})
}
