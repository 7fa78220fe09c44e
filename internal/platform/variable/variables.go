package variable

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/runenv"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// Options are the settable fields of a variable; nil leaves a field
// as it is (or at its default on create).
type Options struct {
	Key         *string
	Value       *string
	Description *string
	Category    *string
	HCL         *bool
	Sensitive   *bool

	// ManagingWorkspaceID names the workspace whose runs alone should write
	// this variable; "" clears it. Setting it needs sudo on the variable:
	// whoever may change the manager may disarm the check that relies on it.
	ManagingWorkspaceID *string
}

// storedVariable is a row: the variable and its sealed value.
type storedVariable struct {
	Variable
	sealed []byte
}

// valueAAD binds a sealed value to its variable, workspace, category and
// key, so a value moved to another row, workspace or key fails to open
// instead of reaching the wrong run.
func valueAAD(v Variable) string {
	return "platform/workspace_variables/" + v.ID + "/" + v.WorkspaceID + "/" + v.Category + "/" + v.Key
}

// apply validates o and writes it over v, returning the new plaintext value
// (nil when unchanged).
func (o Options) apply(v *Variable) (value *string, err error) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&v.Key, o.Key)
	set(&v.Description, o.Description)
	set(&v.Category, o.Category)
	set(&v.ManagingWorkspaceID, o.ManagingWorkspaceID)
	if o.HCL != nil {
		v.HCL = *o.HCL
	}
	if o.Sensitive != nil {
		// HCP Terraform's rule too: once sensitive, a value stays hidden.
		if v.Sensitive && !*o.Sensitive {
			return nil, fail.Invalidf("a sensitive variable cannot be made non-sensitive; delete and recreate it")
		}
		v.Sensitive = *o.Sensitive
	}
	if o.Value != nil && len(*o.Value) > MaxValueLen {
		return nil, fail.Invalidf("variable value is longer than %d bytes", MaxValueLen)
	}
	if err := validCategory(v.Category); err != nil {
		return nil, err
	}
	if err := validVariableKey(v.Category, v.Key); err != nil {
		return nil, err
	}
	if err := resource.ValidDescription(v.Description); err != nil {
		return nil, err
	}
	return o.Value, nil
}

// CreateVariable creates a variable in workspace wsID.
func (s *Service) CreateVariable(ctx context.Context, wsID string, o Options) (Variable, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return Variable{}, err
	}
	if o.Key == nil || o.Category == nil {
		return Variable{}, fail.Invalidf("variable key and category are required")
	}
	v := Variable{ID: resource.NewID("var"), WorkspaceID: w.ID}
	value, err := o.apply(&v)
	if err != nil {
		return Variable{}, err
	}
	if err := s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, v.Key), access.Create); err != nil {
		return Variable{}, err
	}
	if err := s.checkManager(ctx, w, v.Key, "", o.ManagingWorkspaceID); err != nil {
		return Variable{}, err
	}
	if value == nil {
		value = new(string)
	}
	sealed, err := s.stamp(ctx, &v, *value)
	if err != nil {
		return Variable{}, err
	}
	adoptManager(w, &v, o)
	v.CreatedAt = v.WrittenAt
	if err := s.base.Record(ctx, "platform.variable.create", variableAudit(w, v, true)); err != nil {
		return Variable{}, err
	}
	err = s.db.insertVariable(ctx, v, sealed)
	if err != nil {
		return Variable{}, resource.Conflict(err, "a %s variable %q already exists in workspace %q", v.Category, v.Key, w.Name)
	}
	return s.public(v, value), nil
}

// stamp checks that a run may have v, records who is writing it now, gives
// it a new version and seals value. Every create and update of a workspace
// or variable-set variable passes here, with its final key, category and
// value, after authorization.
func (s *Service) stamp(ctx context.Context, v *Variable, value string) ([]byte, error) {
	if v.Category == CategoryEnv {
		if err := runenv.Check(v.Key, value); err != nil {
			return nil, fail.Wrap(fail.Invalid, err, err.Error())
		}
	}
	writer, err := resource.WriterOf(ctx)
	if err != nil {
		return nil, err
	}
	v.WrittenBy, v.WrittenAt, v.VersionID = writer, store.Stored(s.base.Now()), resource.NewID("vv")
	sealed, err := s.base.Seal.Encrypt([]byte(value), valueAAD(*v))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not seal the variable value")
	}
	return sealed, nil
}

// checkManager authorizes and validates a change of managing workspace from
// old to *to (nil: no change).
func (s *Service) checkManager(ctx context.Context, w workspace.Workspace, key, old string, to *string) error {
	if to == nil || *to == old {
		return nil
	}
	if err := s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, key), access.Sudo); err != nil {
		return err
	}
	if *to == "" {
		return nil
	}
	m, err := s.ws.Workspace(ctx, *to)
	if err != nil || m.Organization != w.Organization {
		return fail.Invalidf("managing workspace %q is not a workspace of organization %q", fail.Clip(*to), w.Organization)
	}
	return nil
}

// public is v as API readers see it: value shown unless sensitive.
func (s *Service) public(v Variable, value *string) Variable {
	v.Value = ""
	if !v.Sensitive && value != nil {
		v.Value = *value
	}
	return v
}

func variableAudit(w workspace.Workspace, v Variable, valueChanged bool) map[string]any {
	return map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID,
		"id": v.ID, "key": v.Key, "category": v.Category, "sensitive": v.Sensitive,
		"value_changed": valueChanged, "version_id": v.VersionID, "managing_workspace_id": v.ManagingWorkspaceID,
	}
}

func (s *Service) variable(ctx context.Context, w workspace.Workspace, id string) (storedVariable, error) {
	if !resource.ValidID("var", id) {
		return storedVariable{}, fail.NotFoundf("variable %q not found", fail.Clip(id))
	}
	v, err := s.db.variable(ctx, w.ID, id)
	return v, resource.NotFound(err, "variable %q not found in workspace %q", id, w.Name)
}

func (s *Service) open(v storedVariable) (secret.Value, error) {
	pt, err := s.base.Seal.Decrypt(v.sealed, valueAAD(v.Variable))
	if err != nil {
		return secret.Value{}, fail.Wrap(fail.Internal, err, "could not open variable "+v.ID)
	}
	return secret.New(pt), nil
}

// reveal is the variable as readers see it, opening the value only when
// it is not sensitive.
func (s *Service) reveal(v storedVariable) (Variable, error) {
	if v.Sensitive {
		return s.public(v.Variable, nil), nil
	}
	pt, err := s.open(v)
	if err != nil {
		return Variable{}, err
	}
	value := pt.RevealString()
	return s.public(v.Variable, &value), nil
}
