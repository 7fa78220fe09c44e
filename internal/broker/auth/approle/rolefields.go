package approle

import (
	"context"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// fieldEndpoint is one of Vault's role/<name>/<field> endpoints, which read,
// set or reset a single role field. Setting goes through role.apply and
// role.validate, so it is checked exactly as a whole-role write is.
type fieldEndpoint struct {
	inputs []string // accepted names; with none given the error names the first
	read   func(*role) map[string]any
	reset  func(*role) // to Vault's default
}

var fieldEndpoints = map[string]fieldEndpoint{
	"policies": {
		inputs: []string{"policies", "token_policies"},
		read: func(r *role) map[string]any {
			return map[string]any{"policies": nonNil(r.TokenPolicies), "token_policies": nonNil(r.TokenPolicies)}
		},
		reset: func(r *role) { r.TokenPolicies = nil },
	},
	"secret-id-num-uses": {
		inputs: []string{"secret_id_num_uses"},
		read:   func(r *role) map[string]any { return map[string]any{"secret_id_num_uses": r.SecretIDNumUses} },
		reset:  func(r *role) { r.SecretIDNumUses = 0 },
	},
	"secret-id-ttl": {
		inputs: []string{"secret_id_ttl"},
		read:   func(r *role) map[string]any { return map[string]any{"secret_id_ttl": seconds(r.SecretIDTTL)} },
		reset:  func(r *role) { r.SecretIDTTL = 0 },
	},
	"token-ttl": {
		inputs: []string{"token_ttl"},
		read:   func(r *role) map[string]any { return map[string]any{"token_ttl": seconds(r.TokenTTL)} },
		reset:  func(r *role) { r.TokenTTL = 0 },
	},
	"token-max-ttl": {
		inputs: []string{"token_max_ttl"},
		read:   func(r *role) map[string]any { return map[string]any{"token_max_ttl": seconds(r.TokenMaxTTL)} },
		reset:  func(r *role) { r.TokenMaxTTL = 0 },
	},
	"token-num-uses": {
		inputs: []string{"token_num_uses"},
		read:   func(r *role) map[string]any { return map[string]any{"token_num_uses": r.TokenNumUses} },
		reset:  func(r *role) { r.TokenNumUses = 0 },
	},
	"bind-secret-id": {
		inputs: []string{"bind_secret_id"},
		read:   func(r *role) map[string]any { return map[string]any{"bind_secret_id": r.BindSecretID} },
		reset:  func(r *role) { r.BindSecretID = true },
	},
	"secret-id-bound-cidrs": {
		inputs: []string{"secret_id_bound_cidrs"},
		read: func(r *role) map[string]any {
			return map[string]any{"secret_id_bound_cidrs": nonNil(r.SecretIDBoundCIDRs)}
		},
		reset: func(r *role) { r.SecretIDBoundCIDRs = nil },
	},
	"token-bound-cidrs": {
		inputs: []string{"token_bound_cidrs"},
		read:   func(r *role) map[string]any { return map[string]any{"token_bound_cidrs": nonNil(r.TokenBoundCIDRs)} },
		reset:  func(r *role) { r.TokenBoundCIDRs = nil },
	},
	"period": {
		inputs: []string{"period", "token_period"},
		read: func(r *role) map[string]any {
			return map[string]any{"period": seconds(r.TokenPeriod), "token_period": seconds(r.TokenPeriod)}
		},
		reset: func(r *role) { r.TokenPeriod = 0 },
	},
}

func (b *Backend) readField(ctx context.Context, req *engine.Request, name string, fe fieldEndpoint) (*engine.Response, error) {
	r, err := loadRole(ctx, req.Storage, name)
	if r == nil || err != nil {
		return nil, err
	}
	return &engine.Response{Data: fe.read(r)}, nil
}

func (b *Backend) writeField(ctx context.Context, req *engine.Request, name string, fe fieldEndpoint) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	only := engine.Fields{}
	for _, in := range fe.inputs {
		if f.Has(in) {
			only[in] = f[in]
		}
	}
	if len(only) == 0 {
		return nil, fail.Invalidf("missing %s", fe.inputs[0])
	}
	return b.change(ctx, req, name, func(r *role) ([]string, error) { return r.apply(only) })
}

func (b *Backend) resetField(ctx context.Context, req *engine.Request, name string, fe fieldEndpoint) (*engine.Response, error) {
	return b.change(ctx, req, name, func(r *role) ([]string, error) {
		fe.reset(r)
		return nil, nil
	})
}

func (b *Backend) readRoleID(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	r, err := loadRole(ctx, req.Storage, name)
	if r == nil || err != nil {
		return nil, err
	}
	return &engine.Response{Data: map[string]any{"role_id": r.RoleID}}, nil
}

func (b *Backend) writeRoleID(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	roleID, _, err := engine.Fields(req.Data).String("role_id")
	if err != nil {
		return nil, err
	}
	if roleID == "" {
		return nil, fail.Invalidf("missing role_id")
	}
	return b.change(ctx, req, name, func(r *role) ([]string, error) {
		r.RoleID = roleID
		return nil, nil
	})
}
