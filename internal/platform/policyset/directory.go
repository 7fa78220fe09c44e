package policyset

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/store"
)

// Directory hands the run lifecycle the policy sets that apply to a
// workspace, without authorizing: the run has been authorized already, and
// its check must see every set, whoever started it.
type Directory struct{ s *Service }

// NewDirectory returns the Directory of s.
func NewDirectory(s *Service) Directory { return Directory{s: s} }

// Applies reports whether set applies to w: global, or naming w or its
// project, and excluding neither.
func (set Set) Applies(w workspace.Workspace) bool {
	has := func(kind, id string) bool { return slices.Contains(set.Scope[kind], id) }
	if has(ScopeWorkspaceExclusion, w.ID) || has(ScopeProjectExclusion, w.ProjectID) {
		return false
	}
	return set.Global || has(ScopeWorkspace, w.ID) || has(ScopeProject, w.ProjectID)
}

// Applicable returns, at their current revisions, the policy sets of w's
// organization that apply to w and hold at least one policy, by name.
// Sensitive parameters are revealed: policies read them as data.params.
func (d Directory) Applicable(ctx context.Context, w workspace.Workspace) ([]*policy.Set, []Set, error) {
	var out []*policy.Set
	var meta []Set
	err := d.s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		org, err := orgID(ctx, tx, w.Organization)
		if err != nil {
			return err
		}
		sets, err := setsOfOrg(ctx, tx, org)
		if err != nil {
			return err
		}
		for _, set := range sets {
			if !set.Applies(w) {
				continue
			}
			ps, err := d.build(ctx, tx, set)
			if err != nil {
				return err
			}
			if len(ps.Policies) == 0 {
				continue
			}
			out, meta = append(out, ps), append(meta, set)
		}
		return nil
	})
	return out, meta, err
}

// build makes the policy.Set of set's current revision: its uploaded files'
// policies and modules, then its individually managed policies.
func (d Directory) build(ctx context.Context, c conn, set Set) (*policy.Set, error) {
	ps := &policy.Set{Modules: map[string]string{}}
	files, err := setFiles(ctx, c, set.ID)
	if err != nil {
		return nil, err
	}
	if files != nil {
		var text map[string]string
		if err := json.Unmarshal(files, &text); err != nil {
			return nil, fail.Wrap(fail.Internal, err, "damaged files of policy set "+set.ID)
		}
		raw := make(map[string][]byte, len(text))
		for k, v := range text {
			raw[k] = []byte(v)
		}
		// An upload was parsed when it was taken; a set that no longer
		// parses (a newer runcred's stricter rules) keeps an empty set of
		// modules and a policy that fails, never a pass.
		if parsed, err := policy.Parse(raw); err == nil {
			ps = parsed
		} else {
			ps.Policies = append(ps.Policies, policy.Policy{Name: "policy-set-files", Query: "data.runcred.unparsable", Level: policy.HardMandatory,
				Description: "the set's uploaded files do not parse: " + fail.Message(err)})
		}
	}
	for _, id := range set.PolicyIDs {
		p, err := readPolicy(ctx, c, id)
		if err != nil {
			return nil, err
		}
		ps.Policies = append(ps.Policies, policy.Policy{Name: p.Name, Query: p.Query, Source: p.Source, Level: p.Level, Description: p.Description})
	}
	rows, err := params(ctx, c, set.ID)
	if err != nil {
		return nil, err
	}
	ps.Params = make(map[string]any, len(rows))
	for _, r := range rows {
		p, err := d.s.open(r, true)
		if err != nil {
			return nil, err
		}
		ps.Params[p.Key] = paramValue(p.Value)
	}
	ps.ID, ps.Version, ps.Overridable = set.ID, strconv.FormatInt(set.Revision, 10), set.Overridable
	return ps, nil
}
