package tfinput

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// MaxAddress bounds an address's length.
const MaxAddress = 1024

// Address is what a parsed address names.
type Address struct {
	Modules  int  // module calls on the path
	Resource bool // names a resource, not only a module
	Data     bool // a data resource
	Instance bool // has an instance key (count or for_each)
}

// Target checks a -target address: a module, a resource or a resource
// instance, as OpenTofu's addrs.ParseTarget accepts it.
func Target(s string) error {
	_, err := Parse(s)
	return err
}

// Replace checks a -replace address: a managed resource (instance), as
// OpenTofu's addrs.ParseAbsResourceInstance accepts it for -replace.
func Replace(s string) error {
	a, err := Parse(s)
	switch {
	case err != nil:
		return err
	case !a.Resource:
		return errors.New("must name a resource, not a module")
	case a.Data:
		return errors.New("must name a managed resource, not a data source")
	}
	return nil
}

// Parse reads an absolute resource address: (module.NAME[KEY]?)* then
// optionally [data.]TYPE.NAME[KEY]?, where KEY is a string or a whole
// number. Its grammar is OpenTofu's; HCL's traversal parser does the
// lexing, so names and quoted keys follow HCL's rules exactly.
func Parse(s string) (Address, error) {
	var a Address
	if s == "" {
		return a, errors.New("is empty")
	}
	if len(s) > MaxAddress {
		return a, fmt.Errorf("is longer than %d bytes", MaxAddress)
	}
	if !utf8.ValidString(s) {
		return a, errors.New("is not valid UTF-8")
	}
	// One command-line argument, as written: no control characters, no
	// surrounding space.
	if strings.TrimSpace(s) != s || strings.ContainsFunc(s, unicode.IsControl) {
		return a, errors.New("is not a resource address: it holds control characters or surrounding space")
	}
	trav, diags := hclsyntax.ParseTraversalAbs([]byte(s), "", hcl.InitialPos)
	if diags.HasErrors() {
		return a, fmt.Errorf("is not a resource address: %s", diags[0].Summary)
	}
	steps := []hcl.Traverser(trav)
	for len(steps) > 0 && stepName(steps[0]) == "module" {
		if len(steps) < 2 || stepName(steps[1]) == "" {
			return a, errors.New("is not a resource address: module needs a name (module.NAME)")
		}
		a.Modules++
		steps = steps[2:]
		if len(steps) > 0 {
			if ix, ok := steps[0].(hcl.TraverseIndex); ok {
				if err := checkKey(ix.Key); err != nil {
					return a, err
				}
				steps = steps[1:]
			}
		}
	}
	if len(steps) == 0 {
		if a.Modules == 0 {
			return a, errors.New("is not a resource address")
		}
		return a, nil
	}
	if stepName(steps[0]) == "data" {
		a.Data = true
		steps = steps[1:]
	}
	if len(steps) < 2 || stepName(steps[0]) == "" || stepName(steps[1]) == "" {
		return a, errors.New("is not a resource address: a resource is TYPE.NAME (or data.TYPE.NAME)")
	}
	a.Resource = true
	steps = steps[2:]
	if len(steps) > 0 {
		ix, ok := steps[0].(hcl.TraverseIndex)
		if !ok {
			return a, errors.New("is not a resource address: unexpected attribute after the resource name")
		}
		if err := checkKey(ix.Key); err != nil {
			return a, err
		}
		a.Instance = true
		steps = steps[1:]
	}
	if len(steps) > 0 {
		return a, errors.New("is not a resource address: unexpected operators after the instance key")
	}
	return a, nil
}

// stepName is the name of a root or attribute step, "" for an index.
func stepName(t hcl.Traverser) string {
	switch t := t.(type) {
	case hcl.TraverseRoot:
		return t.Name
	case hcl.TraverseAttr:
		return t.Name
	}
	return ""
}

// checkKey allows what OpenTofu's instance keys are: a string, or a whole
// number that fits an int.
func checkKey(k cty.Value) error {
	if k.IsNull() || !k.IsKnown() {
		return errors.New("is not a resource address: an instance key must be a string or a whole number")
	}
	switch k.Type() {
	case cty.String:
		return nil
	case cty.Number:
		i, acc := k.AsBigFloat().Int(nil)
		if acc != big.Exact || i.Sign() < 0 || !i.IsInt64() || i.Int64() > 1<<31-1 {
			return errors.New("is not a resource address: a numeric instance key must be a whole number from 0 to 2147483647")
		}
		return nil
	}
	return errors.New("is not a resource address: an instance key must be a string or a whole number")
}
