package variable

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Rewritten is a variable whose value a server-side rewrite changed.
type Rewritten struct {
	WorkspaceID string `json:"workspace_id"`
	VariableID  string `json:"variable_id"`
	Key         string `json:"key"`
	Sensitive   bool   `json:"sensitive"`
}

// RewriteValues changes every workspace variable whose value rewrite
// changes (it returns the new value and true), sensitive or not, and
// returns them. It is how a rotated mount's new path reaches the
// variables that held the old one. Each change needs update on the
// variable and is audited without its value. The provenance stays: the
// value is what its last writer wrote with the mount's path followed, so
// a managed variable stays its manager's (the audit log has the rewrite).
// A variable written concurrently is a conflict; run it again.
func (s *Service) RewriteValues(ctx context.Context, reason string, rewrite func(string) (string, bool)) ([]Rewritten, error) {
	all, err := s.db.allVariables(ctx)
	if err != nil {
		return nil, err
	}
	var out []Rewritten
	for _, v := range all {
		pt, err := s.open(v)
		if err != nil {
			return out, err
		}
		value, changed := rewrite(pt.RevealString())
		if !changed {
			continue
		}
		w, err := s.ws.Workspace(ctx, v.WorkspaceID)
		if err != nil {
			return out, err
		}
		if err := s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, v.Key), access.Update); err != nil {
			return out, err
		}
		nv := v.Variable
		nv.VersionID = resource.NewID("vv")
		sealed, err := s.base.Seal.Encrypt([]byte(value), valueAAD(nv))
		if err != nil {
			return out, err
		}
		body := variableAudit(w, nv, true)
		body["reason"] = reason
		if err := s.base.Record(ctx, "platform.variable.rewrite", body); err != nil {
			return out, err
		}
		res, err := s.db.rewriteValue(ctx, v.ID, sealed, nv.VersionID, v.VersionID)
		if err := resource.Swapped(res, err, "variable %q changed concurrently; read it again", v.ID); err != nil {
			return out, err
		}
		out = append(out, Rewritten{WorkspaceID: v.WorkspaceID, VariableID: v.ID, Key: v.Key, Sensitive: v.Sensitive})
	}
	return out, nil
}

// WorkspacesHolding returns the ids of the workspaces with a variable
// whose value match accepts, sensitive or not, in order. It needs no
// grant of its own: it is for server-side work its caller authorized, and
// returns no value.
func (s *Service) WorkspacesHolding(ctx context.Context, match func(string) bool) ([]string, error) {
	all, err := s.db.allVariables(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, v := range all {
		pt, err := s.open(v)
		if err != nil {
			return nil, err
		}
		if !seen[v.WorkspaceID] && match(pt.RevealString()) {
			seen[v.WorkspaceID] = true
			out = append(out, v.WorkspaceID)
		}
	}
	return out, nil
}
