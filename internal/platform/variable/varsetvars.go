package variable

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// SetVariable is a variable of a variable set: Variable's fields (its
// WorkspaceID empty) and the set's id. Values are sealed and provenance is
// kept exactly as for workspace variables, by the same code: while stored,
// a set variable's Variable.WorkspaceID holds the set's id, so the sealing
// AAD names the set.
type SetVariable struct {
	Variable
	VarsetID string
}

func toSetVariable(v Variable) SetVariable {
	sv := SetVariable{Variable: v, VarsetID: v.WorkspaceID}
	sv.WorkspaceID = ""
	return sv
}

func setVariableAudit(set Set, v Variable, valueChanged bool) map[string]any {
	return map[string]any{
		"organization": set.Organization, "varset": set.Name, "varset_id": set.ID,
		"id": v.ID, "key": v.Key, "category": v.Category, "sensitive": v.Sensitive,
		"value_changed": valueChanged, "version_id": v.VersionID,
	}
}

// CreateSetVariable creates a variable in variable set setID.
func (s *Service) CreateSetVariable(ctx context.Context, setID string, o Options) (SetVariable, error) {
	set, err := s.varset(ctx, setID)
	if err != nil {
		return SetVariable{}, err
	}
	if o.Key == nil || o.Category == nil {
		return SetVariable{}, fail.Invalidf("variable key and category are required")
	}
	if o.ManagingWorkspaceID != nil && *o.ManagingWorkspaceID != "" {
		return SetVariable{}, fail.Invalidf("a variable set's variables have no managing workspace")
	}
	v := Variable{ID: resource.NewID("var"), WorkspaceID: set.ID}
	value, err := o.apply(&v)
	if err != nil {
		return SetVariable{}, err
	}
	if err := s.base.Authorize(ctx, varsetVarPath(set.Organization, set.ID, v.Key), access.Create); err != nil {
		return SetVariable{}, err
	}
	if value == nil {
		value = new(string)
	}
	sealed, err := s.stamp(ctx, &v, *value)
	if err != nil {
		return SetVariable{}, err
	}
	v.CreatedAt = v.WrittenAt
	if err := s.base.Record(ctx, "platform.varset.variable.create", setVariableAudit(set, v, true)); err != nil {
		return SetVariable{}, err
	}
	err = s.db.insertSetVariable(ctx, set.ID, v, sealed)
	if err != nil {
		return SetVariable{}, resource.Conflict(err, "a %s variable %q already exists in variable set %q", v.Category, v.Key, set.Name)
	}
	return toSetVariable(s.public(v, value)), nil
}

func (s *Service) setVariable(ctx context.Context, set Set, id string) (storedVariable, error) {
	if !resource.ValidID("var", id) {
		return storedVariable{}, fail.NotFoundf("variable %q not found", fail.Clip(id))
	}
	v, err := s.db.setVariable(ctx, set.ID, id)
	return v, resource.NotFound(err, "variable %q not found in variable set %q", id, set.Name)
}

func (s *Service) setVariablesOf(ctx context.Context, setID string) ([]storedVariable, error) {
	return s.db.setVariablesOf(ctx, setID)
}

// SetVariable returns variable id of variable set setID; a sensitive value
// is never returned.
func (s *Service) SetVariable(ctx context.Context, setID, id string) (SetVariable, error) {
	set, err := s.varset(ctx, setID)
	if err != nil {
		return SetVariable{}, err
	}
	v, err := s.setVariable(ctx, set, id)
	if err != nil {
		return SetVariable{}, err
	}
	if err := s.base.Authorize(ctx, varsetVarPath(set.Organization, set.ID, v.Key), access.Read); err != nil {
		return SetVariable{}, err
	}
	pv, err := s.reveal(v)
	return toSetVariable(pv), err
}

// SetVariables lists the variables of variable set setID by category and
// key; sensitive values are never returned.
func (s *Service) SetVariables(ctx context.Context, setID string) ([]SetVariable, error) {
	set, err := s.varset(ctx, setID)
	if err != nil {
		return nil, err
	}
	if err := s.base.Authorize(ctx, varsetVarsPath(set.Organization, set.ID), access.List); err != nil {
		return nil, err
	}
	stored, err := s.setVariablesOf(ctx, set.ID)
	if err != nil {
		return nil, err
	}
	out := make([]SetVariable, 0, len(stored))
	for _, v := range stored {
		pv, err := s.reveal(v)
		if err != nil {
			return nil, err
		}
		out = append(out, toSetVariable(pv))
	}
	return out, nil
}

// UpdateSetVariable changes variable id of variable set setID, as
// UpdateVariable does a workspace's.
func (s *Service) UpdateSetVariable(ctx context.Context, setID, id string, o Options) (SetVariable, error) {
	set, err := s.varset(ctx, setID)
	if err != nil {
		return SetVariable{}, err
	}
	old, err := s.setVariable(ctx, set, id)
	if err != nil {
		return SetVariable{}, err
	}
	if err := s.base.Authorize(ctx, varsetVarPath(set.Organization, set.ID, old.Key), access.Update); err != nil {
		return SetVariable{}, err
	}
	if o.ManagingWorkspaceID != nil && *o.ManagingWorkspaceID != "" {
		return SetVariable{}, fail.Invalidf("a variable set's variables have no managing workspace")
	}
	o.ManagingWorkspaceID = nil
	v := old.Variable
	value, err := o.apply(&v)
	if err != nil {
		return SetVariable{}, err
	}
	if v.Key != old.Key {
		if err := s.base.Authorize(ctx, varsetVarPath(set.Organization, set.ID, v.Key), access.Create); err != nil {
			return SetVariable{}, err
		}
	}
	if value == nil {
		pt, err := s.open(old)
		if err != nil {
			return SetVariable{}, err
		}
		keep := pt.RevealString()
		value = &keep
	}
	sealed, err := s.stamp(ctx, &v, *value)
	if err != nil {
		return SetVariable{}, err
	}
	if err := s.base.Record(ctx, "platform.varset.variable.update", setVariableAudit(set, v, o.Value != nil)); err != nil {
		return SetVariable{}, err
	}
	res, err := s.db.updateSetVariable(ctx, v, sealed, old.VersionID)
	if err := resource.Swapped(res, resource.Conflict(err, "a %s variable %q already exists in variable set %q", v.Category, v.Key, set.Name),
		"variable %q changed concurrently; read it again", id); err != nil {
		return SetVariable{}, err
	}
	return toSetVariable(s.public(v, value)), nil
}

// DeleteSetVariable deletes variable id of variable set setID.
func (s *Service) DeleteSetVariable(ctx context.Context, setID, id string) error {
	set, err := s.varset(ctx, setID)
	if err != nil {
		return err
	}
	v, err := s.setVariable(ctx, set, id)
	if err != nil {
		return err
	}
	if err := s.base.Authorize(ctx, varsetVarPath(set.Organization, set.ID, v.Key), access.Delete); err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.varset.variable.delete", setVariableAudit(set, v.Variable, false)); err != nil {
		return err
	}
	res, err := s.db.deleteSetVariable(ctx, id)
	return resource.Affected(res, err, "variable %q not found", id)
}
