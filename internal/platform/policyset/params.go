package policyset

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

func paramAAD(id string) string { return "platform/policy_set_params/" + id }

// open decrypts a stored parameter; a sensitive one's value is revealed
// only when reveal is set (for evaluation, never for the API).
func (s *Service) open(p paramRow, reveal bool) (Parameter, error) {
	out := p.Parameter
	if p.Sensitive && !reveal {
		return out, nil
	}
	pt, err := s.base.Seal.Decrypt(p.sealed, paramAAD(p.ID))
	if err != nil {
		return Parameter{}, fail.Wrap(fail.Internal, err, "could not open parameter "+p.ID)
	}
	out.Value = string(pt)
	return out, nil
}

// Parameters lists set id's parameters by key; sensitive values are blank.
func (s *Service) Parameters(ctx context.Context, setID string) ([]Parameter, error) {
	set, err := s.setFor(ctx, setID, access.Read)
	if err != nil {
		return nil, err
	}
	rows, err := params(ctx, s.base.DB, set.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Parameter, 0, len(rows))
	for _, r := range rows {
		p, err := s.open(r, false)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Parameter returns parameter id of set setID.
func (s *Service) Parameter(ctx context.Context, setID, id string) (Parameter, error) {
	set, err := s.setFor(ctx, setID, access.Read)
	if err != nil {
		return Parameter{}, err
	}
	r, err := s.param(ctx, set.ID, id)
	if err != nil {
		return Parameter{}, err
	}
	return s.open(r, false)
}

func (s *Service) param(ctx context.Context, setID, id string) (paramRow, error) {
	if !resource.ValidID("var", id) {
		return paramRow{}, fail.NotFoundf("parameter %q not found", fail.Clip(id))
	}
	r, err := readParam(ctx, s.base.DB, setID, id)
	return r, resource.NotFound(err, "parameter %q not found", id)
}

// CreateParameter adds a parameter to set setID; the set gets a new revision.
func (s *Service) CreateParameter(ctx context.Context, setID string, o ParameterOptions) (Parameter, error) {
	set, err := s.setFor(ctx, setID, access.Update)
	if err != nil {
		return Parameter{}, err
	}
	if o.Key == nil {
		return Parameter{}, fail.Invalidf("parameter key is required")
	}
	if o.Category == nil {
		return Parameter{}, fail.Invalidf("category is required and must be %q", categoryPolicySet)
	}
	p := Parameter{ID: resource.NewID("var"), SetID: set.ID}
	if err := o.apply(&p); err != nil {
		return Parameter{}, err
	}
	if err := s.base.Record(ctx, "platform.policy_set.parameter.create", map[string]any{"organization": set.Organization,
		"policy_set_id": set.ID, "id": p.ID, "key": p.Key, "sensitive": p.Sensitive}); err != nil {
		return Parameter{}, err
	}
	if err := s.writeParam(ctx, p, true); err != nil {
		return Parameter{}, resource.Conflict(err, "policy set %s already has a parameter %q", set.ID, p.Key)
	}
	return redact(p), nil
}

// UpdateParameter changes parameter id of set setID.
func (s *Service) UpdateParameter(ctx context.Context, setID, id string, o ParameterOptions) (Parameter, error) {
	set, err := s.setFor(ctx, setID, access.Update)
	if err != nil {
		return Parameter{}, err
	}
	r, err := s.param(ctx, set.ID, id)
	if err != nil {
		return Parameter{}, err
	}
	p, err := s.open(r, true)
	if err != nil {
		return Parameter{}, err
	}
	if err := o.apply(&p); err != nil {
		return Parameter{}, err
	}
	if err := s.base.Record(ctx, "platform.policy_set.parameter.update", map[string]any{"organization": set.Organization,
		"policy_set_id": set.ID, "id": p.ID, "key": p.Key, "sensitive": p.Sensitive, "value_changed": o.Value != nil}); err != nil {
		return Parameter{}, err
	}
	if err := s.writeParam(ctx, p, false); err != nil {
		return Parameter{}, resource.Conflict(err, "policy set %s already has a parameter %q", set.ID, p.Key)
	}
	return redact(p), nil
}

func redact(p Parameter) Parameter {
	if p.Sensitive {
		p.Value = ""
	}
	return p
}

func (s *Service) writeParam(ctx context.Context, p Parameter, create bool) error {
	sealed, err := s.base.Seal.Encrypt([]byte(p.Value), paramAAD(p.ID))
	if err != nil {
		return fail.Wrap(fail.Internal, err, "could not seal the parameter")
	}
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		write := updateParam
		if create {
			write = insertParam
		}
		if err := write(ctx, tx, p, sealed); err != nil {
			return err
		}
		return bumpSet(ctx, tx, p.SetID, s.now())
	})
}

// DeleteParameter deletes parameter id of set setID.
func (s *Service) DeleteParameter(ctx context.Context, setID, id string) error {
	set, err := s.setFor(ctx, setID, access.Update)
	if err != nil {
		return err
	}
	r, err := s.param(ctx, set.ID, id)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.policy_set.parameter.delete", map[string]any{"organization": set.Organization,
		"policy_set_id": set.ID, "id": r.ID, "key": r.Key}); err != nil {
		return err
	}
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := deleteParam(ctx, tx, r.ID); err != nil {
			return err
		}
		return bumpSet(ctx, tx, set.ID, s.now())
	})
}
