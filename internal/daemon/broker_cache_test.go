package daemon_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestBrokerCachedReadsSeeWrites: a node serves a jwt method's config and
// roles and a KV v2 mount's documents from memory. A change made on that
// node applies to its very next request, although its refresh interval is
// minutes; a change made on another node applies there within that node's
// refresh interval.
func TestBrokerCachedReadsSeeWrites(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			key := filepath.Join(dir, "root-key")
			if _, err := seal.GenerateRootKeyFile(key); err != nil {
				t.Fatal(err)
			}
			url := be.NewURL(t)
			a := startNode(t, func(c *daemon.Config) {
				c.Database, c.RootKeyFile, c.RootTokenFile, c.Refresh = url, key, filepath.Join(dir, "root-token"), 4*time.Minute
			})
			root := vaultClient(t, a, a.token)
			write := func(path string, data map[string]any) {
				t.Helper()
				if _, err := root.Logical().Write(path, data); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
			}

			// jwt: a role deleted, changed or restored, and a config
			// changed, apply to the next login.
			if err := root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
				t.Fatal(err)
			}
			config := map[string]any{"oidc_discovery_url": a.d.PublicURL()}
			write("auth/jwt/config", config)
			role := map[string]any{"role_type": "jwt", "bound_audiences": vaultAud, "user_claim": "terraform_full_workspace",
				"token_policies": "default", "token_ttl": "10m"}
			write("auth/jwt/role/run", role)
			jwt := a.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: vaultAud, TTL: "1h"}).Token
			login := func(n *node) error {
				_, err := vaultClient(t, n, "").Logical().Write("auth/jwt/login", map[string]any{"role": "run", "jwt": jwt})
				return err
			}
			granted := func(what string) {
				t.Helper()
				if err := login(a); err != nil {
					t.Fatalf("%s: login refused: %v", what, err)
				}
			}
			refused := func(what string) {
				t.Helper()
				if err := login(a); vaultStatus(err) != 400 {
					t.Fatalf("%s: login not refused with 400: %v", what, err)
				}
			}
			granted("the role as written")
			granted("the role, again") // now from the cache
			if _, err := root.Logical().Delete("auth/jwt/role/run"); err != nil {
				t.Fatal(err)
			}
			refused("the role deleted")
			write("auth/jwt/role/run", map[string]any{"role_type": "jwt", "bound_audiences": "someone.else",
				"user_claim": "terraform_full_workspace", "token_policies": "default"})
			refused("the role bound to another audience")
			write("auth/jwt/role/run", role)
			granted("the role restored")
			write("auth/jwt/config", map[string]any{"oidc_discovery_url": a.d.PublicURL(), "jwt_supported_algs": "ES256"})
			refused("the config accepting ES256 alone")
			write("auth/jwt/config", config)
			granted("the config restored")

			// KV v2: new versions, deletes and policy changes apply to the
			// next read.
			if err := root.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
				t.Fatal(err)
			}
			kv := root.KVv2("secret")
			if _, err := kv.Put(ctx, "app", map[string]any{"k": "v1"}); err != nil {
				t.Fatal(err)
			}
			if err := root.Sys().PutPolicy("app-read", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"app-read"}})
			if err != nil {
				t.Fatal(err)
			}
			reader := vaultClient(t, a, sec.Auth.ClientToken)
			read := func(n *node) string {
				got, err := vaultClient(t, n, sec.Auth.ClientToken).KVv2("secret").Get(ctx, "app")
				if err != nil || got == nil || got.Data == nil {
					return "<none>"
				}
				s, _ := got.Data["k"].(string)
				return s
			}
			want := func(value, what string) {
				t.Helper()
				if got := read(a); got != value {
					t.Fatalf("%s: read %q, want %q", what, got, value)
				}
			}
			want("v1", "the first version")
			want("v1", "the first version, again")
			if _, err := kv.Put(ctx, "app", map[string]any{"k": "v2"}); err != nil {
				t.Fatal(err)
			}
			want("v2", "a new version")
			if err := kv.Delete(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			want("<none>", "the latest version deleted")
			if err := kv.Undelete(ctx, "app", []int{2}); err != nil {
				t.Fatal(err)
			}
			want("v2", "the latest version undeleted")
			if err := root.Sys().PutPolicy("app-read", `path "secret/data/other" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			if _, err := reader.Logical().Read("secret/data/app"); vaultStatus(err) != 403 {
				t.Fatalf("a read its policy no longer grants: %v", err)
			}
			if err := root.Sys().PutPolicy("app-read", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			want("v2", "the policy restored")
			if err := kv.DeleteMetadata(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			want("<none>", "the key's metadata deleted")
			if _, err := kv.Put(ctx, "app", map[string]any{"k": "v3"}); err != nil {
				t.Fatal(err)
			}
			want("v3", "the key written anew")

			// Another node, refreshing every 200 ms, caches too and sees
			// a's changes once its entries are that old.
			b := startNode(t, func(c *daemon.Config) {
				c.Database, c.RootKeyFile, c.RootTokenFile, c.Refresh = url, key, filepath.Join(dir, "root-token"), 200*time.Millisecond
				c.DevRootToken = false
			})
			poll := func(what string, done func() bool) {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second) // a loaded machine refreshes late
				for !done() {
					if time.Now().After(deadline) {
						t.Fatalf("%s: not seen on the other node after 30 s", what)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// Each node's issuer is its own, so b's run token logs in to a
			// method that trusts b's.
			if err := root.Sys().EnableAuthWithOptions("jwtb", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
				t.Fatal(err)
			}
			write("auth/jwtb/config", map[string]any{"oidc_discovery_url": b.d.PublicURL()})
			write("auth/jwtb/role/run", role)
			jwtB := b.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: vaultAud, TTL: "1h"}).Token
			loginB := func() error {
				_, err := vaultClient(t, b, "").Logical().Write("auth/jwtb/login", map[string]any{"role": "run", "jwt": jwtB})
				return err
			}
			poll("the mounts, role and secret", func() bool { return loginB() == nil && read(b) == "v3" })
			if _, err := root.Logical().Delete("auth/jwtb/role/run"); err != nil {
				t.Fatal(err)
			}
			poll("the role deleted", func() bool { return vaultStatus(loginB()) == 400 })
			if _, err := kv.Put(ctx, "app", map[string]any{"k": "v4"}); err != nil {
				t.Fatal(err)
			}
			poll("a new version", func() bool { return read(b) == "v4" })
		})
	}
}
