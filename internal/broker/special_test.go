package broker_test

import (
	"context"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestSpecialPaths pins which paths need no token and which need sudo, as
// Vault's PathsSpecial lists say (with runcred's own additions), for every
// mount: sys/, auth/token/ and each engine.
func TestSpecialPaths(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	for _, m := range []struct{ path, typ string }{{"kv", "kv"}, {"secret", "kv-v2"}, {"aws", "aws"}} {
		if err := s.Client.Sys().Mount(m.path, &vault.MountInput{Type: m.typ}); err != nil {
			t.Fatal(err)
		}
	}
	for _, typ := range []string{"jwt", "approle"} {
		if err := s.Client.Sys().EnableAuthWithOptions(typ, &vault.EnableAuthOptions{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	const (
		R, W, L, D = engine.Read, engine.Update, engine.List, engine.Delete
	)
	for _, tc := range []struct {
		path         string
		op           engine.Operation
		unauth, sudo bool
	}{
		// sys/: Vault's unauthenticated and root-protected lists.
		{"sys/health", R, true, false},
		{"sys/seal-status", R, true, false},
		{"sys/internal/ui/mounts", R, true, false},
		{"sys/internal/ui/mounts/secret", R, false, false},
		{"sys/mounts", R, false, false},
		{"sys/mounts/kv", W, false, false},
		{"sys/mounts/kv/tune", W, false, false},
		{"sys/auth", R, false, false},
		{"sys/auth/jwt", W, false, true},
		{"sys/auth/jwt", D, false, true},
		{"sys/auth/jwt/tune", R, false, true},
		{"sys/remount", W, false, true},
		{"sys/remount/status/x", R, false, false},
		{"sys/audit", R, false, true},
		{"sys/audit/file", W, false, true},
		{"sys/audit/file", D, false, true},
		{"sys/audit-hash/file", W, false, false},
		{"sys/policies/acl/", L, false, false},
		{"sys/policies/acl/p", W, false, false},
		{"sys/policy/p", R, false, false},
		{"sys/capabilities-self", W, false, false},
		{"sys/leases", R, false, true},
		{"sys/leases/count", R, false, true},
		{"sys/leases/lookup", W, false, false},
		{"sys/leases/lookup/aws/", L, false, true},
		{"sys/leases/lookup/aws/", W, false, false},
		{"sys/leases/renew", W, false, false},
		{"sys/leases/renew/aws/creds/x/1", W, false, false},
		{"sys/leases/revoke", W, false, false},
		{"sys/leases/revoke/aws/creds/x/1", W, false, false},
		{"sys/leases/revoke-prefix/aws/", W, false, true},
		{"sys/leases/revoke-force/aws/", W, false, true},
		// The lists are of paths: an operation the path does not serve
		// is asked the same before its 404 or 405.
		{"sys/health", W, true, false},
		{"sys/audit", W, false, true},
		{"sys/auth", W, false, false},
		{"sys/leases/count", W, false, true},
		{"sys/nowhere", R, false, false},
		// auth/token/: only the orphan revocation and the accessor list.
		{"auth/token/create", W, false, false},
		{"auth/token/create-orphan", W, false, false},
		{"auth/token/lookup-self", R, false, false},
		{"auth/token/lookup", W, false, false},
		{"auth/token/renew-self", W, false, false},
		{"auth/token/revoke", W, false, false},
		{"auth/token/revoke-orphan", W, false, true},
		{"auth/token/revoke-accessor", W, false, false},
		{"auth/token/accessors/", L, false, true},
		{"auth/token/accessors/", R, false, true},
		{"auth/token/accessors/x", R, false, true},
		{"auth/token/revoke-orphan/x", W, false, true},
		{"auth/token/nowhere", W, false, false},
		// Engines: the logins need no token; nothing needs sudo.
		{"auth/jwt/login", W, true, false},
		{"auth/jwt/login", R, true, false},
		{"auth/jwt/login/", W, false, false},
		{"auth/approle/login/", W, false, false},
		{"auth/jwt/config", W, false, false},
		{"auth/jwt/role/r", W, false, false},
		{"auth/approle/login", W, true, false},
		{"auth/approle/role/r", W, false, false},
		{"auth/approle/role/r/secret-id", W, false, false},
		{"auth/approle/tidy/secret-id", W, false, false},
		{"secret/data/a", W, false, false},
		{"secret/metadata/", L, false, false},
		{"secret/config", R, false, false},
		{"kv/a/b", W, false, false},
		{"aws/creds/r", R, false, false},
		{"aws/sts/r", W, false, false},
		{"aws/roles/r", W, false, false},
		{"aws/config/root", W, false, false},
	} {
		unauth, sudo, err := s.B.Special(context.Background(), tc.path, tc.op)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.op, tc.path, err)
		}
		if unauth != tc.unauth || sudo != tc.sudo {
			t.Errorf("%s %s: unauthenticated %v, sudo %v; want %v, %v", tc.op, tc.path, unauth, sudo, tc.unauth, tc.sudo)
		}
	}
}
