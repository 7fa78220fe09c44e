package daemon_test

import (
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// runcred's own API is governed by broker policies and honours the token's
// restrictions: a token that may mint cannot rotate keys, and a one-use
// token works once.
func TestOwnAPIUsesBrokerPolicies(t *testing.T) { daemontest.Each(t, testOwnAPIUsesBrokerPolicies) }

func testOwnAPIUsesBrokerPolicies(t *testing.T, start daemontest.Starter) {
	n := nodeOf(start(t, nil))
	root := vaultClient(t, n, n.token)
	if err := root.Sys().PutPolicy("minter", `path "runcred/identity/mint" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"minter"}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	minter := &node{d: n.d, token: sec.Auth.ClientToken, dir: n.dir}
	minter.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: "a"})
	if code := minter.call(t, "POST", "/api/runcred/v1/identity/rotate", nil, nil); code != http.StatusForbidden {
		t.Fatalf("rotate with a mint-only policy: HTTP %d, want 403", code)
	}

	once, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"minter"}, NumUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	one := &node{d: n.d, token: once.Auth.ClientToken, dir: n.dir}
	one.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: "a"})
	body := map[string]any{"organization": "demo", "workspace": "ws1", "run_id": "run-x", "phase": "plan", "audience": "a"}
	if code := one.call(t, "POST", "/api/runcred/v1/identity/mint", body, nil); code != http.StatusUnauthorized {
		t.Fatalf("second use of a one-use token: HTTP %d, want 401", code)
	}
}
