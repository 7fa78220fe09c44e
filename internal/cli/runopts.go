package cli

import (
	"strings"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/runcred/runcred/internal/fail"
)

// runOpts are `run start`'s plan options, HCP Terraform's run options
// under OpenTofu's flag names. The server checks addresses and values.
type runOpts struct {
	destroy, refreshOnly, noRefresh bool
	targets, replaces               []string
	vars, hclVars                   []string // KEY=VALUE
}

func addRunOptionFlags(cmd *cobra.Command) *runOpts {
	o, f := &runOpts{}, cmd.Flags()
	f.BoolVar(&o.destroy, "destroy", false, "plan to destroy every resource of the workspace")
	f.BoolVar(&o.refreshOnly, "refresh-only", false, "only update the state (and outputs) to match the real resources")
	f.BoolVar(&o.noRefresh, "no-refresh", false, "plan without refreshing the state first (OpenTofu's -refresh=false)")
	f.StringArrayVar(&o.targets, "target", nil, "plan only this resource or module address and what it depends on (repeatable)")
	f.StringArrayVar(&o.replaces, "replace", nil, "replace this resource instance even if it has not changed (repeatable)")
	f.StringArrayVar(&o.vars, "var", nil, "KEY=VALUE: a Terraform variable for this run alone, VALUE a string (repeatable)")
	f.StringArrayVar(&o.hclVars, "var-hcl", nil, `KEY=EXPR: a Terraform variable for this run alone, EXPR an HCL literal such as ["a", "b"] (repeatable)`)
	return o
}

// apply sets o on a run's create options.
func (o *runOpts) apply(c *tfe.RunCreateOptions) error {
	if o.destroy {
		c.IsDestroy = tfe.Bool(true)
	}
	if o.refreshOnly {
		c.RefreshOnly = tfe.Bool(true)
	}
	if o.noRefresh {
		c.Refresh = tfe.Bool(false)
	}
	c.TargetAddrs, c.ReplaceAddrs = o.targets, o.replaces
	for _, l := range []struct {
		flag string
		kv   []string
		hcl  bool
	}{{"--var", o.vars, false}, {"--var-hcl", o.hclVars, true}} {
		for _, kv := range l.kv {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fail.Invalidf("%s wants KEY=VALUE; got one without a key or an =", l.flag) // never the value
			}
			if !l.hcl {
				// A string as an HCL literal: quotes, escapes, and ${ and
				// %{ kept as text.
				v = string(hclwrite.TokensForValue(cty.StringVal(v)).Bytes())
			}
			c.Variables = append(c.Variables, &tfe.RunVariable{Key: k, Value: v})
		}
	}
	return nil
}

// runOptionFields are the rows `run show` prints for a run's plan options.
func runOptionFields(r *tfe.Run) [][2]string {
	refresh := "true"
	switch {
	case r.RefreshOnly:
		refresh = "only"
	case !r.Refresh:
		refresh = "false"
	}
	keys := make([]string, 0, len(r.Variables))
	for _, v := range r.Variables {
		keys = append(keys, quote(v.Key))
	}
	list := func(s []string) string {
		q := make([]string, 0, len(s))
		for _, x := range s {
			q = append(q, quote(x))
		}
		return orDash(strings.Join(q, ", "))
	}
	return [][2]string{{"Refresh", refresh}, {"Targets", list(r.TargetAddrs)}, {"Replaces", list(r.ReplaceAddrs)},
		{"Variables", orDash(strings.Join(keys, ", "))}}
}
