package approle

import (
	"context"
	"crypto/subtle"
	"maps"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// errInvalid is Vault's one answer for every unknown role_id or secret_id,
// so a caller learns nothing about which of the two was wrong.
func errInvalid() error { return fail.Invalidf("invalid role or secret ID") }

// login is auth/<mount>/login {role_id, secret_id}. Every check runs before
// a use of the secret ID is spent, inside the secret ID's lock, so a failed
// login costs nothing and concurrent logins never exceed num_uses; a secret
// ID without a use limit is checked without a write. Every
// error path returns a nil Response, never an Auth.
func (b *Backend) login(ctx context.Context, req *engine.Request, _ string) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	roleID, _, err := f.String("role_id")
	if err != nil {
		return nil, err
	}
	if roleID = strings.TrimSpace(roleID); roleID == "" {
		return nil, fail.Invalidf("missing role_id")
	}
	r, err := b.roleByID(ctx, req.Storage, roleID)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errInvalid()
	}
	var entry *secretIDEntry
	if r.BindSecretID {
		secretID, _, err := f.String("secret_id")
		if err != nil {
			return nil, err
		}
		if secretID = strings.TrimSpace(secretID); secretID == "" {
			return nil, fail.Invalidf("missing secret_id")
		}
		if len(secretID) > maxInputLength {
			return nil, errInvalid()
		}
		if r, entry, err = b.useSecretID(ctx, req, r, roleID, secretID); err != nil {
			return nil, err
		}
	} else if err := checkSource(req.RemoteAddr, r.SecretIDBoundCIDRs, "role"); err != nil {
		return nil, err
	}
	auth, err := b.auth(r, entry)
	if err != nil {
		return nil, err
	}
	return &engine.Response{Auth: auth}, nil
}

// roleByID finds the role a role_id belongs to, or nil.
func (b *Backend) roleByID(ctx context.Context, s engine.Storage, roleID string) (*role, error) {
	if len(roleID) > maxInputLength {
		return nil, nil
	}
	var idx roleIDEntry
	found, err := getJSON(ctx, s, b.roleIDKey(roleID), &idx)
	if !found || err != nil {
		return nil, err
	}
	r, err := loadRole(ctx, s, idx.Name)
	if r == nil || err != nil || !sameRoleID(r.RoleID, roleID) {
		return nil, err
	}
	return r, nil
}

// useSecretID checks secretID against the role and the request and spends
// one of its uses, and returns the role it checked, read again after the
// secret ID. A secret ID without a use limit has nothing to spend: it is
// only read. One with a limit is checked again, and spent, inside its
// lock, so concurrent logins never exceed its uses.
func (b *Backend) useSecretID(ctx context.Context, req *engine.Request, r *role, roleID, secretID string) (*role, *secretIDEntry, error) {
	h := b.secretHMAC(r, secretID)
	cur, e, err := b.checkSecretID(ctx, req, req.Storage, r, roleID, h)
	if err != nil {
		return nil, nil, err
	}
	if e.NumUses == 0 {
		return cur, &e, nil
	}
	err = req.Storage.Atomic(ctx, secretLock(r.Scope, h), func(s engine.Storage) error {
		var err error
		if cur, e, err = b.checkSecretID(ctx, req, s, r, roleID, h); err != nil {
			return err
		}
		switch {
		case e.NumUses == 1:
			return deleteEntry(ctx, s, r.Scope, h, e.Accessor)
		case e.NumUses > 1:
			e.NumUses--
			e.LastUpdatedTime = b.now()
			return putJSON(ctx, s, secretKey(r.Scope, h), &e)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return cur, &e, nil
}

// checkSecretID reads the entry of secret ID h in r's scope, then the role
// again, and checks both against the request. Read in this order, outside
// a transaction too, a role deleted or replaced after the entry was read
// is seen: a new role of the same name has a new scope.
func (b *Backend) checkSecretID(ctx context.Context, req *engine.Request, s engine.Storage, r *role, roleID, h string) (*role, secretIDEntry, error) {
	var e secretIDEntry
	found, err := getJSON(ctx, s, secretKey(r.Scope, h), &e)
	if err != nil {
		return nil, e, err
	}
	cur, err := loadRole(ctx, s, r.Name)
	if err != nil {
		return nil, e, err
	}
	if cur == nil || cur.Scope != r.Scope || !cur.BindSecretID || !sameRoleID(cur.RoleID, roleID) {
		return nil, e, errInvalid()
	}
	// Expired entries stay for tidy.
	if !found || subtle.ConstantTimeCompare([]byte(e.HMAC), []byte(h)) != 1 || e.NumUses < 0 || e.expired(b.now()) {
		return nil, e, errInvalid()
	}
	if err := checkSource(req.RemoteAddr, e.CIDRList, "secret ID"); err != nil {
		return nil, e, err
	}
	if err := checkSource(req.RemoteAddr, cur.SecretIDBoundCIDRs, "role"); err != nil {
		return nil, e, err
	}
	// The role's token CIDRs may have narrowed since the secret ID was
	// issued; its own list must not outlive that.
	if err := requireSubset(e.TokenBoundCIDRs, cur.TokenBoundCIDRs); err != nil {
		return nil, e, err
	}
	return cur, e, nil
}

// auth describes the token for a login to r with secret ID e (nil when the
// role binds none). A secret ID's own token_bound_cidrs, a subset of the
// role's, replace the role's.
func (b *Backend) auth(r *role, e *secretIDEntry) (*engine.Auth, error) {
	meta := map[string]string{}
	cidrs := r.TokenBoundCIDRs
	if e != nil {
		maps.Copy(meta, e.Metadata)
		if len(e.TokenBoundCIDRs) > 0 {
			cidrs = e.TokenBoundCIDRs
		}
	}
	meta["role_name"] = r.Name // last, so secret ID metadata cannot replace it
	bound, err := engine.Prefixes(cidrs)
	if err != nil {
		return nil, err
	}
	return r.TokenParams.Auth("", r.RoleID, meta, bound), nil // the core names it after the mount: "approle"
}
