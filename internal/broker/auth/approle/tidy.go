package approle

import (
	"context"
	"net/http"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
)

// tidy deletes expired secret IDs, accessors whose secret ID is gone, and
// whatever is left under the scope of a deleted role. Vault runs it in the
// background and answers 202 with a warning; it runs here in the request
// (the engine owns no goroutines) and answers the same.
func (b *Backend) tidy(ctx context.Context, req *engine.Request, _ string) (*engine.Response, error) {
	st := req.Storage
	// Scopes are listed before roles: a scope that exists when listed
	// belongs to a role saved before it, which the role listing then sees.
	scopes := map[string]bool{}
	for _, prefix := range []string{"secret_id/", "accessor/"} {
		keys, err := st.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			scopes[strings.TrimSuffix(k, "/")] = true
		}
	}
	live := map[string]bool{}
	names, err := st.List(ctx, "role/")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		r, err := loadRole(ctx, st, n)
		if err != nil {
			return nil, err
		}
		if r != nil {
			live[r.Scope] = true
		}
	}
	for scope := range scopes {
		if !live[scope] {
			err = purgeScope(ctx, st, scope)
		} else {
			err = b.tidyScope(ctx, st, scope)
		}
		if err != nil {
			return nil, err
		}
	}
	return &engine.Response{
		Warnings: []string{"Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs."},
		Status:   http.StatusAccepted,
	}, nil
}

func (b *Backend) tidyScope(ctx context.Context, st engine.Storage, scope string) error {
	hs, err := st.List(ctx, secretKey(scope, ""))
	if err != nil {
		return err
	}
	for _, h := range hs {
		err := st.Atomic(ctx, secretLock(scope, h), func(s engine.Storage) error {
			var e secretIDEntry
			found, err := getJSON(ctx, s, secretKey(scope, h), &e)
			if !found || err != nil || !e.expired(b.now()) {
				return err
			}
			return deleteEntry(ctx, s, scope, h, e.Accessor)
		})
		if err != nil {
			return err
		}
	}
	accs, err := st.List(ctx, accessorKey(scope, ""))
	if err != nil {
		return err
	}
	for _, acc := range accs {
		var a accessorEntry
		found, err := getJSON(ctx, st, accessorKey(scope, acc), &a)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		err = st.Atomic(ctx, secretLock(scope, a.HMAC), func(s engine.Storage) error {
			if e, err := s.Get(ctx, secretKey(scope, a.HMAC)); err != nil || e != nil {
				return err
			}
			return s.Delete(ctx, accessorKey(scope, acc))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// purgeScope deletes every secret ID and accessor under scope, each under
// its secret ID's lock so no login is halfway through one.
func purgeScope(ctx context.Context, st engine.Storage, scope string) error {
	hs, err := st.List(ctx, secretKey(scope, ""))
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := destroy(ctx, st, scope, h); err != nil {
			return err
		}
	}
	accs, err := st.List(ctx, accessorKey(scope, ""))
	if err != nil {
		return err
	}
	for _, acc := range accs {
		if err := st.Delete(ctx, accessorKey(scope, acc)); err != nil {
			return err
		}
	}
	return nil
}
