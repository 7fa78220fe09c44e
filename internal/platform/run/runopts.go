package run

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/tfinput"
)

// A run's plan options are HCP Terraform's: refresh, refresh-only, target
// and replace addresses, and run variables (Terraform variables given to
// this run alone, HCL literals that win over the workspace's). The agent
// turns them into OpenTofu's -refresh=false, -refresh-only, -target and
// -replace, and writes the variables with the workspace's. Run variables'
// values are sealed at rest, never shown again, and masked in the run's
// log like sensitive variables.

// MaxAddrs bounds target-addrs and replace-addrs each.
const MaxAddrs = 100

// MaxVariables bounds a run's variables.
const MaxVariables = 100

// Variable is a run variable: a Terraform variable's name and its value as
// an HCL literal (a string needs its quotes).
type Variable struct {
	Key   string
	Value secret.Value
}

// sealedVariable is Variable as sealed.
type sealedVariable struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// checkOptions refuses plan options OpenTofu would refuse or misread,
// naming the attribute.
func checkOptions(o Options) error {
	isDestroy := o.IsDestroy != nil && *o.IsDestroy
	refreshOnly := o.RefreshOnly != nil && *o.RefreshOnly
	if refreshOnly && isDestroy {
		return fail.Invalidf("refresh-only and is-destroy are mutually exclusive")
	}
	if refreshOnly && o.Refresh != nil && !*o.Refresh {
		return fail.Invalidf("refresh-only needs refresh: a refresh-only run with refresh false would have nothing to do")
	}
	if len(o.ReplaceAddrs) > 0 && (isDestroy || refreshOnly) {
		// OpenTofu: replacing is allowed only in normal planning mode.
		return fail.Invalidf("replace-addrs is allowed only in a normal plan, not with is-destroy or refresh-only")
	}
	for _, f := range []struct {
		name  string
		addrs []string
		check func(string) error
	}{{"target-addrs", o.TargetAddrs, tfinput.Target}, {"replace-addrs", o.ReplaceAddrs, tfinput.Replace}} {
		if len(f.addrs) > MaxAddrs {
			return fail.Invalidf("%s holds %d addresses; at most %d", f.name, len(f.addrs), MaxAddrs)
		}
		for i, a := range f.addrs {
			if err := f.check(a); err != nil {
				return fail.Invalidf("%s[%d] %q %v", f.name, i, fail.Clip(a), err)
			}
		}
	}
	if len(o.Variables) > MaxVariables {
		return fail.Invalidf("variables holds %d variables; at most %d", len(o.Variables), MaxVariables)
	}
	seen := map[string]bool{}
	for i, v := range o.Variables {
		if err := tfinput.Key(v.Key); err != nil {
			return fail.Invalidf("variables[%d].key %q %v", i, fail.Clip(v.Key), err)
		}
		if seen[v.Key] {
			return fail.Invalidf("variables[%d].key %q is given twice", i, v.Key)
		}
		seen[v.Key] = true
		if _, _, err := tfinput.Value(v.Value.RevealString()); err != nil {
			return fail.Invalidf("variables[%d].value (of %q) %v", i, v.Key, err) // never the value: it may be a secret
		}
	}
	return nil
}

// unmanagedOnly refuses run variables that would replace a Terraform
// variable another workspace manages (one of ws, workspace w's variables):
// a run variable is given to the run alone, outside the variable's lock
// and provenance, so the protected-variables policy, which checks the
// workspace's variables, would pass a value the run never uses. Whoever
// may change a managed variable changes it in the workspace, where its
// manager and the lock see it.
func (s *Service) unmanagedOnly(ctx context.Context, w workspace.Workspace, keys []string, ws []variable.RunVariable) error {
	for _, v := range ws {
		if v.Category != variable.CategoryTerraform || v.ManagingWorkspaceID == "" || v.ManagingWorkspaceID == w.ID || !slices.Contains(keys, v.Key) {
			continue
		}
		manager := v.ManagingWorkspaceID
		if m, err := s.ws.Workspace(ctx, manager); err == nil {
			manager = m.Name
		}
		return fail.Invalidf("variables: %q of workspace %q is managed by workspace %q: a run variable cannot replace it", v.Key, w.Name, manager)
	}
	return nil
}

func variablesAAD(runID string) string { return "platform/runs/" + runID + "/variables" }

// sealVariables seals run variables for run id; nil for none.
func (s *Service) sealVariables(id string, vs []Variable) ([]byte, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make([]sealedVariable, 0, len(vs))
	for _, v := range vs {
		out = append(out, sealedVariable{Key: v.Key, Value: v.Value.RevealString()})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	sealed, err := s.base.Seal.Encrypt(b, variablesAAD(id))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not seal the run's variables")
	}
	return sealed, nil
}

// withRunVariables is the workspace's variables with run r's on top: a
// run variable replaces the Terraform variable of its name. Run variables
// are sensitive HCL values, so the agent masks them in the log.
func (s *Service) withRunVariables(ctx context.Context, r Run, w workspace.Workspace, ws []variable.RunVariable) ([]variable.RunVariable, error) {
	if len(r.VariableKeys) == 0 {
		return ws, nil
	}
	sealed, err := runVariables(ctx, s.base.DB, r.ID)
	if err != nil {
		return nil, err
	}
	b, err := s.base.Seal.Decrypt(sealed, variablesAAD(r.ID))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not open the variables of run "+r.ID)
	}
	var vs []sealedVariable
	if err := json.Unmarshal(b, &vs); err != nil {
		return nil, fail.Wrap(fail.Internal, err, "damaged variables of run "+r.ID)
	}
	// Checked again here: the variable may have come under a manager
	// since the run was queued.
	if err := s.unmanagedOnly(ctx, w, r.VariableKeys, ws); err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(slices.Clone(ws), func(v variable.RunVariable) bool {
		return v.Category == "terraform" && slices.ContainsFunc(vs, func(rv sealedVariable) bool { return rv.Key == v.Key })
	})
	for _, v := range vs {
		out = append(out, variable.RunVariable{Key: v.Key, Value: secret.FromString(v.Value), Category: "terraform", HCL: true, Sensitive: true})
	}
	return out, nil
}

func variableKeys(vs []Variable) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Key)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
