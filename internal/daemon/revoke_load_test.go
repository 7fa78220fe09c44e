package daemon_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestRevocationImmediateUnderLoad: eight clients read a secret with one
// token, over HTTP, while the token is revoked on the same node. The node
// caches tokens, yet no read sent after the revocation returned succeeds.
func TestRevocationImmediateUnderLoad(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			url := be.NewURL(t)
			n := startNode(t, func(c *daemon.Config) { c.Database, c.Refresh = url, time.Minute })
			root := vaultClient(t, n, n.token)
			if err := root.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := root.KVv2("secret").Put(ctx, "app", map[string]any{"k": "v"}); err != nil {
				t.Fatal(err)
			}
			if err := root.Sys().PutPolicy("app-read", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			for round := range 3 {
				sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"app-read"}})
				if err != nil {
					t.Fatal(err)
				}
				var revoked atomic.Bool
				var ok, late, refused atomic.Int64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range 8 {
					c := vaultClient(t, n, sec.Auth.ClientToken)
					wg.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
							}
							after := revoked.Load()
							_, err := c.KVv2("secret").Get(ctx, "app")
							switch {
							case err == nil && after:
								late.Add(1)
							case err == nil:
								ok.Add(1)
							case after:
								refused.Add(1)
							}
						}
					})
				}
				waitCond(t, func() bool { return ok.Load() >= 50 })
				if err := root.Auth().Token().RevokeAccessor(sec.Auth.Accessor); err != nil {
					t.Fatal(err)
				}
				revoked.Store(true)
				waitCond(t, func() bool { return refused.Load() >= 100 })
				close(stop)
				wg.Wait()
				if n := late.Load(); n != 0 {
					t.Fatalf("round %d: %d reads sent after the revocation returned succeeded", round, n)
				}
			}
		})
	}
}

// waitCond polls cond until it holds, failing the test after a minute.
func waitCond(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within a minute")
		}
		time.Sleep(time.Millisecond)
	}
}
