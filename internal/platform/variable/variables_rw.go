package variable

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// Variable returns variable id of workspace wsID; a sensitive value is never returned.
func (s *Service) Variable(ctx context.Context, wsID, id string) (Variable, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return Variable{}, err
	}
	v, err := s.variable(ctx, w, id)
	if err != nil {
		return Variable{}, err
	}
	if err := s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, v.Key), access.Read); err != nil {
		return Variable{}, err
	}
	return s.reveal(v)
}

// Variables lists the variables of workspace wsID by category and key;
// sensitive values are never returned.
func (s *Service) Variables(ctx context.Context, wsID string) ([]Variable, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	if err := s.base.Authorize(ctx, resource.VarsPath(w.Organization, w.Name), access.List); err != nil {
		return nil, err
	}
	stored, err := s.variables(ctx, w)
	if err != nil {
		return nil, err
	}
	out := make([]Variable, 0, len(stored))
	for _, v := range stored {
		pv, err := s.reveal(v)
		if err != nil {
			return nil, err
		}
		out = append(out, pv)
	}
	return out, nil
}

func (s *Service) variables(ctx context.Context, w workspace.Workspace) ([]storedVariable, error) {
	return s.db.variables(ctx, w.ID)
}

// UpdateVariable changes variable id of workspace wsID. Renaming it needs
// create on the new key; every write re-seals the value (its AAD names the
// key) and makes the caller its last writer.
func (s *Service) UpdateVariable(ctx context.Context, wsID, id string, o Options) (Variable, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return Variable{}, err
	}
	old, err := s.variable(ctx, w, id)
	if err != nil {
		return Variable{}, err
	}
	if err := s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, old.Key), access.Update); err != nil {
		return Variable{}, err
	}
	if err := s.checkLocked(ctx, w, old.Variable); err != nil {
		return Variable{}, err
	}
	v := old.Variable
	value, err := o.apply(&v)
	if err != nil {
		return Variable{}, err
	}
	if v.Key != old.Key {
		if err := s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, v.Key), access.Create); err != nil {
			return Variable{}, err
		}
	}
	if err := s.checkManager(ctx, w, v.Key, old.ManagingWorkspaceID, o.ManagingWorkspaceID); err != nil {
		return Variable{}, err
	}
	if value == nil {
		pt, err := s.open(old)
		if err != nil {
			return Variable{}, err
		}
		keep := pt.RevealString()
		value = &keep
	}
	sealed, err := s.stamp(ctx, &v, *value)
	if err != nil {
		return Variable{}, err
	}
	adoptManager(w, &v, o)
	if err := s.base.Record(ctx, "platform.variable.update", variableAudit(w, v, o.Value != nil)); err != nil {
		return Variable{}, err
	}
	res, err := s.db.updateVariable(ctx, v, sealed, old.VersionID)
	// version_id in the WHERE makes this a compare-and-swap: a concurrent
	// write in between is refused rather than being overwritten.
	if err := resource.Swapped(res, resource.Conflict(err, "a %s variable %q already exists in workspace %q", v.Category, v.Key, w.Name),
		"variable %q changed concurrently; read it again", id); err != nil {
		return Variable{}, err
	}
	return s.public(v, value), nil
}

// DeleteVariable deletes variable id of workspace wsID.
func (s *Service) DeleteVariable(ctx context.Context, wsID, id string) error {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return err
	}
	v, err := s.variable(ctx, w, id)
	if err != nil {
		return err
	}
	if err := s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, v.Key), access.Delete); err != nil {
		return err
	}
	if err := s.checkLocked(ctx, w, v.Variable); err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.variable.delete", variableAudit(w, v.Variable, false)); err != nil {
		return err
	}
	res, err := s.db.deleteVariable(ctx, id)
	return resource.Affected(res, err, "variable %q not found", id)
}

// WorkspaceVariables returns every variable of workspace wsID with its
// value, sensitive or not, for a run. It needs read on the workspace's
// run-variables path, which reading variable metadata does not grant.
func (s *Service) WorkspaceVariables(ctx context.Context, wsID string) ([]RunVariable, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	if err := s.base.Authorize(ctx, resource.RunVarsPath(w.Organization, w.Name), access.Read); err != nil {
		return nil, err
	}
	return s.runVariables(ctx, w)
}

// runVariables decrypts w's variables for a run; the caller has authorized.
func (s *Service) runVariables(ctx context.Context, w workspace.Workspace) ([]RunVariable, error) {
	stored, err := s.variables(ctx, w)
	if err != nil {
		return nil, err
	}
	out := make([]RunVariable, 0, len(stored))
	keys := make([]string, 0, len(stored))
	own := map[string]bool{}
	for _, v := range stored {
		value, err := s.open(v)
		if err != nil {
			return nil, err
		}
		out = append(out, RunVariable{ID: v.ID, Key: v.Key, Value: value, Category: v.Category, HCL: v.HCL,
			Sensitive: v.Sensitive, WrittenBy: v.WrittenBy, ManagingWorkspaceID: v.ManagingWorkspaceID})
		keys = append(keys, v.Category+"/"+v.Key)
		own[v.Category+"/"+v.Key] = true
	}
	// Variable sets fill in what the workspace does not set itself.
	sets, err := s.setVariables(ctx, w)
	if err != nil {
		return nil, err
	}
	var fromSets []string
	for _, v := range sets {
		if k := v.Category + "/" + v.Key; !own[k] {
			out = append(out, v)
			fromSets = append(fromSets, k)
		}
	}
	// Values leave runcred here, so the read is on the record like a write.
	if err := s.base.Record(ctx, "platform.variables.read", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "variables": keys,
		"variable_set_variables": fromSets,
	}); err != nil {
		return nil, err
	}
	return out, nil
}
