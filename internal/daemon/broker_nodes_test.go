package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/clocktest"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestBrokerNodesShareOneDatabase runs two server nodes on one database:
// what one node mounts, writes, issues and revokes, the other sees.
func TestBrokerNodesShareOneDatabase(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "root-key")
			if _, err := seal.GenerateRootKeyFile(key); err != nil {
				t.Fatal(err)
			}
			url := be.NewURL(t)
			shared := func(c *daemon.Config) {
				c.Database, c.RootKeyFile, c.RootTokenFile, c.Refresh = url, key, filepath.Join(dir, "root-token"), 200*time.Millisecond
			}
			a := startNode(t, shared)
			clock := clocktest.New(time.Now())
			b := startNode(t, func(c *daemon.Config) { shared(c); c.DevRootToken, c.Now = false, clock.Now })
			ca, cb := vaultClient(t, a, a.token), vaultClient(t, b, b.token)
			ctx := context.Background()

			if err := ca.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := ca.KVv2("secret").Put(ctx, "app", map[string]any{"k": "v1"}); err != nil {
				t.Fatal(err)
			}
			var got *vault.KVSecret
			deadline := time.Now().Add(30 * time.Second) // a loaded machine refreshes late
			for {
				var err error
				if got, err = cb.KVv2("secret").Get(ctx, "app"); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node b never saw node a's mount and secret: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got.Data["k"] != "v1" {
				t.Fatalf("node b read %v", got.Data)
			}
			// A check-and-set write on b against the version a wrote.
			if _, err := cb.KVv2("secret").Put(ctx, "app", map[string]any{"k": "v2"}, vault.WithCheckAndSet(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := ca.KVv2("secret").Put(ctx, "app", map[string]any{"k": "v3"}, vault.WithCheckAndSet(1)); err == nil {
				t.Fatal("stale check-and-set accepted on the other node")
			}
			// A token made on a, revoked on b, is gone on a.
			sec, err := ca.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := cb.Auth().Token().RevokeAccessor(sec.Auth.Accessor); err != nil {
				t.Fatal(err)
			}
			if _, err := vaultClient(t, a, sec.Auth.ClientToken).Auth().Token().LookupSelf(); vaultStatus(err) != http.StatusForbidden {
				t.Fatalf("token revoked on b still works on a: %v", err)
			}

			// Tokens and ACLs are cached per node: a token a has just
			// accepted (so holds in its cache), revoked on b, and a policy
			// changed on b, are refused on a within the refresh interval.
			if err := ca.Sys().PutPolicy("app-read", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			reader := func() *vault.Client {
				sec, err := ca.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"app-read"}})
				if err != nil {
					t.Fatal(err)
				}
				c := vaultClient(t, a, sec.Auth.ClientToken)
				if _, err := c.KVv2("secret").Get(ctx, "app"); err != nil {
					t.Fatalf("a fresh token's first read on a: %v", err)
				}
				return c
			}
			revoked, edited := reader(), reader()
			if err := cb.Auth().Token().RevokeTree(revoked.Token()); err != nil {
				t.Fatal(err)
			}
			waitRefused(t, "a token revoked on b, on a", func() error { _, err := revoked.KVv2("secret").Get(ctx, "app"); return err })
			if err := cb.Sys().PutPolicy("app-read", `path "secret/data/other" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			waitRefused(t, "a read its policy, changed on b, no longer grants, on a", func() error { _, err := edited.KVv2("secret").Get(ctx, "app"); return err })
		})
	}
}

// waitRefused polls call until it fails with 403, failing the test if that
// takes more than 30 s (the nodes refresh every 200 ms; a loaded machine is
// late).
func waitRefused(t *testing.T, what string, call func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := call()
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not refused after 30 s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPolicyWrittenOnAnotherNode: a token whose policy another node wrote
// a moment ago works at once, not only after the next refresh (a run
// token is issued on the node that claimed the phase and used on any).
func TestPolicyWrittenOnAnotherNode(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "root-key")
			if _, err := seal.GenerateRootKeyFile(key); err != nil {
				t.Fatal(err)
			}
			url := be.NewURL(t)
			shared := func(c *daemon.Config) {
				c.Database, c.RootKeyFile, c.RootTokenFile, c.Refresh = url, key, filepath.Join(dir, "root-token"), 4*time.Minute
			}
			a := startNode(t, shared)
			ca := vaultClient(t, a, a.token)
			ctx := context.Background()
			if err := ca.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := ca.KVv2("secret").Put(ctx, "app", map[string]any{"k": "v1"}); err != nil {
				t.Fatal(err)
			}
			clock := clocktest.New(time.Now())
			b := startNode(t, func(c *daemon.Config) { shared(c); c.DevRootToken, c.Now = false, clock.Now })
			// A token with the default policy alone makes b read its policies.
			plain, err := ca.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := vaultClient(t, b, plain.Auth.ClientToken).KVv2("secret").Get(ctx, "app"); err == nil {
				t.Fatalf("the default policy reads the secret: %v", err)
			}
			if err := ca.Sys().PutPolicy("fresh", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			tok, err := ca.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"fresh"}})
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(time.Second) // past the bound on reloads, far from the refresh
			if got, err := vaultClient(t, b, tok.Auth.ClientToken).KVv2("secret").Get(ctx, "app"); err != nil || got.Data["k"] != "v1" {
				t.Fatalf("node b with a token of a policy node a wrote: %v, %v", got, err)
			}
		})
	}
}
