package approle

import (
	"context"
	"crypto/subtle"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// role is a stored AppRole role. CIDR lists hold canonical prefixes.
type role struct {
	Name   string `json:"name"`
	RoleID string `json:"role_id"`
	// Scope names this role's secret IDs in storage; see the package doc.
	Scope string `json:"scope"`

	BindSecretID       bool          `json:"bind_secret_id"`
	SecretIDBoundCIDRs []string      `json:"secret_id_bound_cidrs"`
	SecretIDNumUses    int           `json:"secret_id_num_uses"`
	SecretIDTTL        time.Duration `json:"secret_id_ttl"`
	LocalSecretIDs     bool          `json:"local_secret_ids"`

	engine.TokenParams
}

type roleIDEntry struct {
	Name string `json:"name"`
}

// tokenAliases are the deprecated token field names Vault's AppRole still
// reads; it never took jwt's ttl, max_ttl, num_uses or bound_cidrs.
var tokenAliases = []string{"policies", "period"}

var roleFields = slices.Concat([]string{
	"role_id", "bind_secret_id", "secret_id_bound_cidrs", "secret_id_num_uses", "secret_id_ttl", "local_secret_ids",
}, engine.TokenFieldNames, tokenAliases)

func roleKey(name string) string { return "role/" + name }

func (b *Backend) roleIDKey(roleID string) string { return "role_id/" + b.hmacOf("role_id", roleID) }

// maxRoleName is Vault's maxInputLength, less what the role's storage key
// adds, so every valid name can be stored.
const maxRoleName = min(maxInputLength, engine.MaxKeyLen-len("role/"))

// validRoleName enforces Vault's role name rules: under maxRoleName bytes of
// a-z, A-Z, 0-9, space, "-", "_" and ".".
func validRoleName(name string) error {
	if name == "" {
		return fail.Invalidf("missing role_name")
	}
	if len(name) > maxRoleName {
		return fail.Invalidf("role_name is longer than maximum of %d bytes", maxRoleName)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fail.Invalidf(`role_name may contain only letters, digits, space, "-", "_" and "."`)
		}
	}
	return nil
}

func loadRole(ctx context.Context, s engine.Storage, name string) (*role, error) {
	var r role
	found, err := getJSON(ctx, s, roleKey(name), &r)
	if !found || err != nil {
		return nil, err
	}
	return &r, nil
}

// apply sets the role fields present in f, leaving the others alone.
func (r *role) apply(f engine.Fields) (warnings []string, err error) {
	f, warnings = legacyTokenType(f)
	if err := r.TokenParams.Parse(f, tokenAliases...); err != nil {
		return nil, err
	}
	if v, ok, err := f.Duration("secret_id_ttl"); err != nil {
		return nil, err
	} else if ok {
		if v < 0 {
			return nil, fail.Invalidf("secret_id_ttl cannot be negative")
		}
		r.SecretIDTTL = v
	}
	if v, ok, err := f.Int("secret_id_num_uses"); err != nil {
		return nil, err
	} else if ok {
		if v < 0 {
			return nil, fail.Invalidf("secret_id_num_uses cannot be negative")
		}
		r.SecretIDNumUses = v
	}
	if v, ok, err := f.Bool("bind_secret_id"); err != nil {
		return nil, err
	} else if ok {
		r.BindSecretID = v
	}
	if v, ok, err := f.Strings("secret_id_bound_cidrs"); err != nil {
		return nil, err
	} else if ok {
		if r.SecretIDBoundCIDRs, err = engine.CanonicalCIDRs("secret_id_bound_cidrs", v); err != nil {
			return nil, err
		}
	}
	return warnings, nil
}

// legacyTokenType turns AppRole's old token_type values "default-service"
// and "default-batch" into "service" and "batch" with Vault's warning,
// before the shared token fields see them. f itself is not changed.
func legacyTokenType(f engine.Fields) (engine.Fields, []string) {
	v, _ := f["token_type"].(string)
	if v != "default-service" && v != "default-batch" {
		return f, nil
	}
	out := maps.Clone(f)
	out["token_type"] = strings.TrimPrefix(v, "default-")
	return out, []string{v + " has no useful meaning; adjusting to " + strings.TrimPrefix(v, "default-")}
}

// validate checks the role as a whole, after any change.
func (r *role) validate(maxLease time.Duration) (warnings []string, err error) {
	if err := r.TokenParams.Validate(); err != nil {
		return nil, err
	}
	switch {
	case r.TokenPeriod > maxLease:
		return nil, fail.Invalidf("period of %q is greater than the backend's maximum lease TTL of %q", r.TokenPeriod.String(), maxLease.String())
	case !r.BindSecretID && len(r.SecretIDBoundCIDRs) == 0 && len(r.TokenBoundCIDRs) == 0:
		return nil, fail.Invalidf("at least one constraint should be enabled on the role")
	}
	if r.TokenMaxTTL > maxLease {
		warnings = append(warnings, "token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max TTL value will be truncated")
	}
	return warnings, nil
}

// save writes r and its role_id index; call it under rolesLock. It refuses a
// role_id that another role uses, and drops the index of prevRoleID.
func (b *Backend) save(ctx context.Context, s engine.Storage, r *role, prevRoleID string) error {
	if len(r.RoleID) > maxInputLength {
		return fail.Invalidf("role_id is longer than maximum of %d bytes", maxInputLength)
	}
	var idx roleIDEntry
	found, err := getJSON(ctx, s, b.roleIDKey(r.RoleID), &idx)
	if err != nil {
		return err
	}
	if found && idx.Name != r.Name {
		return fail.Invalidf("role_id already in use")
	}
	if prevRoleID != "" && prevRoleID != r.RoleID {
		if err := s.Delete(ctx, b.roleIDKey(prevRoleID)); err != nil {
			return err
		}
	}
	if err := putJSON(ctx, s, roleKey(r.Name), r); err != nil {
		return err
	}
	return putJSON(ctx, s, b.roleIDKey(r.RoleID), roleIDEntry{Name: r.Name})
}

// change loads role name under rolesLock, lets fn modify it, validates and
// saves it. A missing role is a 404.
func (b *Backend) change(ctx context.Context, req *engine.Request, name string, fn func(*role) ([]string, error)) (*engine.Response, error) {
	var warnings []string
	err := req.Storage.Atomic(ctx, rolesLock, func(s engine.Storage) error {
		r, err := loadRole(ctx, s, name)
		if err != nil {
			return err
		}
		if r == nil {
			return fail.NotFoundf("role %q does not exist", name)
		}
		prev := r.RoleID
		if warnings, err = fn(r); err != nil {
			return err
		}
		w, err := r.validate(b.maxLease)
		if err != nil {
			return err
		}
		warnings = append(warnings, w...)
		return b.save(ctx, s, r, prev)
	})
	if err != nil || len(warnings) == 0 {
		return nil, err
	}
	return &engine.Response{Warnings: warnings}, nil
}

func (b *Backend) writeRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	roleID, roleIDGiven, err := f.String("role_id")
	if err != nil {
		return nil, err
	}
	var warnings []string
	err = req.Storage.Atomic(ctx, rolesLock, func(s engine.Storage) error {
		r, err := loadRole(ctx, s, name)
		if err != nil {
			return err
		}
		creating := r == nil
		switch {
		case creating && req.Operation != engine.Create:
			return fail.NotFoundf("role name %q doesn't exist", name)
		case creating:
			r = &role{Name: name, Scope: uuid.NewString(), BindSecretID: true, RoleID: uuid.NewString()}
			r.TokenType = "default"
		case f.Has("local_secret_ids"):
			return fail.Invalidf("local_secret_ids can only be modified during role creation")
		}
		prev := r.RoleID
		if creating {
			prev = "" // nothing indexed yet, nothing to drop
			if r.LocalSecretIDs, _, err = f.Bool("local_secret_ids"); err != nil {
				return err
			}
		}
		if roleIDGiven {
			if r.RoleID = roleID; roleID == "" {
				return fail.Invalidf("invalid role_id supplied, or failed to generate a role_id")
			}
		}
		if warnings, err = r.apply(f); err != nil {
			return err
		}
		w, err := r.validate(b.maxLease)
		if err != nil {
			return err
		}
		warnings = append(warnings, w...)
		return b.save(ctx, s, r, prev)
	})
	if err != nil {
		return nil, err
	}
	if warnings = append(warnings, unknownWarning(f, roleFields...)...); len(warnings) > 0 {
		return &engine.Response{Warnings: warnings}, nil
	}
	return nil, nil
}

func (b *Backend) readRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	r, err := loadRole(ctx, req.Storage, name)
	if r == nil || err != nil {
		return nil, err
	}
	d := map[string]any{
		"bind_secret_id":        r.BindSecretID,
		"secret_id_bound_cidrs": nonNil(r.SecretIDBoundCIDRs),
		"secret_id_num_uses":    r.SecretIDNumUses,
		"secret_id_ttl":         seconds(r.SecretIDTTL),
		"local_secret_ids":      r.LocalSecretIDs,
	}
	r.TokenParams.Render(d)
	// Vault still reports the deprecated names when they carry a value.
	if len(r.TokenPolicies) > 0 {
		d["policies"] = r.TokenPolicies
	}
	if r.TokenPeriod != 0 {
		d["period"] = seconds(r.TokenPeriod)
	}
	return &engine.Response{Data: d}, nil
}

// deleteRole removes the role and its role_id index in one step, so no new
// login can start, then every secret ID under the role's scope.
func (b *Backend) deleteRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	var scope string
	err := req.Storage.Atomic(ctx, rolesLock, func(s engine.Storage) error {
		r, err := loadRole(ctx, s, name)
		if r == nil || err != nil {
			return err
		}
		scope = r.Scope
		var idx roleIDEntry
		if found, err := getJSON(ctx, s, b.roleIDKey(r.RoleID), &idx); err != nil {
			return err
		} else if found && idx.Name == name {
			if err := s.Delete(ctx, b.roleIDKey(r.RoleID)); err != nil {
				return err
			}
		}
		return s.Delete(ctx, roleKey(name))
	})
	if err != nil || scope == "" {
		return nil, err
	}
	return nil, purgeScope(ctx, req.Storage, scope)
}

func (b *Backend) listRoles(ctx context.Context, req *engine.Request, _ string) (*engine.Response, error) {
	keys, err := req.Storage.List(ctx, "role/")
	if err != nil {
		return nil, err
	}
	return listResponse(keys), nil
}

// sameRoleID compares a presented role_id with a stored one in constant time.
func sameRoleID(stored, given string) bool {
	return subtle.ConstantTimeCompare([]byte(stored), []byte(given)) == 1
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
