package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/zclconf/go-cty/cty"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/tfinput"
)

// minLeaf is the shortest string or number inside a sensitive HCL value
// that the redactor masks.
const minLeaf = 4

// phaseVars are a phase's workspace variables, sorted for their uses.
type phaseVars struct {
	terraform map[string]any    // into the .auto.tfvars.json file
	env       map[string]string // into the environment; TFC_* settings too
	secrets   []secret.Value    // sensitive values, for the redactor
}

// splitVariables sorts variables by category. An HCL value is evaluated as
// Terraform evaluates a tfvars file, with no variables or functions, and
// written as JSON: the file then holds data only, never configuration.
func splitVariables(vs []jobapi.Variable) (phaseVars, error) {
	out := phaseVars{terraform: map[string]any{}, env: map[string]string{}}
	for _, v := range vs {
		if v.Sensitive && v.Value != "" {
			out.secrets = append(out.secrets, secret.FromString(v.Value))
		}
	}
	addLeaves := func(val cty.Value) {
		// Terraform shows an HCL value as evaluated, not as written:
		// every string and number in it is a secret of its own, except
		// ones too short to tell from ordinary output (masking every "1"
		// would shred the log and the plan JSON).
		add := func(s string) {
			if len(s) >= minLeaf {
				out.secrets = append(out.secrets, secret.FromString(s))
			}
		}
		_ = cty.Walk(val, func(_ cty.Path, v cty.Value) (bool, error) {
			switch {
			case !v.IsKnown() || v.IsNull():
			case v.Type() == cty.String:
				add(v.AsString())
			case v.Type() == cty.Number:
				add(v.AsBigFloat().Text('f', -1))
			}
			return true, nil
		})
	}
	for _, v := range vs {
		switch v.Category {
		case "env":
			out.env[v.Key] = v.Value
		case "terraform":
			if !v.HCL {
				out.terraform[v.Key] = v.Value
				continue
			}
			raw, val, err := hclEval(v.Key, v.Value)
			if err != nil {
				return out, err
			}
			if v.Sensitive {
				addLeaves(val)
			}
			out.terraform[v.Key] = raw
		default:
			return out, fmt.Errorf("variable %q has unknown category %q", v.Key, v.Category)
		}
	}
	return out, nil
}

// hclValue turns an HCL expression into the JSON of its value. The error
// never quotes the value: it may be sensitive.
func hclValue(key, src string) (json.RawMessage, error) {
	raw, _, err := hclEval(key, src)
	return raw, err
}

// hclEval is hclValue that also returns the value.
func hclEval(key, src string) (json.RawMessage, cty.Value, error) {
	raw, val, err := tfinput.Constant(src, key)
	switch {
	case errors.Is(err, tfinput.ErrSyntax):
		return nil, cty.NilVal, fmt.Errorf("variable %q is marked HCL but is not a valid HCL expression", key)
	case errors.Is(err, tfinput.ErrForExpr):
		return nil, cty.NilVal, fmt.Errorf("variable %q: an HCL variable must be a constant value (no for expressions)", key)
	case errors.Is(err, tfinput.ErrNotConstant):
		return nil, cty.NilVal, fmt.Errorf("variable %q: an HCL variable must be a constant value (no references or function calls)", key)
	case errors.Is(err, tfinput.ErrNumberRange):
		return nil, cty.NilVal, fmt.Errorf("variable %q: a number in an HCL variable is out of range", key)
	case err != nil: // ErrUnknown, ErrJSON
		return nil, cty.NilVal, fmt.Errorf("variable %q: its HCL value cannot be written as JSON", key)
	}
	return raw, val, nil
}

// builtins are the variables every run gets (reference §2.8), also as
// Terraform input variables through TF_VAR_.
func builtins(j *jobapi.Job) map[string]string {
	m := map[string]string{
		"TFC_RUN_ID":                               j.RunID,
		"TFE_RUN_ID":                               j.RunID,
		"TFC_WORKSPACE_ID":                         j.WorkspaceID,
		"TFC_WORKSPACE_NAME":                       j.Workspace,
		"TFC_WORKSPACE_SLUG":                       j.Organization + "/" + j.Workspace,
		"TFC_PROJECT_NAME":                         j.Project,
		"TFC_CONFIGURATION_VERSION_GIT_BRANCH":     "",
		"TFC_CONFIGURATION_VERSION_GIT_COMMIT_SHA": "",
		"TFC_CONFIGURATION_VERSION_GIT_TAG":        "",
	}
	for k, v := range maps.Clone(m) {
		m["TF_VAR_"+k] = v
	}
	return m
}

// mergeEnv layers environments; later ones win. Built-ins come last, so no
// workspace variable can pose as another run.
func mergeEnv(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		maps.Copy(out, l)
	}
	return out
}
