package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func TestAPILeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{backoff: time.Second})
		mountLeases(t, s, "lt")
		sys := s.Client.Sys()
		read := func(name string) *vault.Secret {
			t.Helper()
			sec, err := s.Client.Logical().ReadWithData("lt/creds/"+name, map[string][]string{"ttl": {"10m"}})
			if err != nil {
				t.Fatal(err)
			}
			return sec
		}
		a, b, other := read("a"), read("a"), read("b")

		look, err := sys.Lookup(a.LeaseID)
		if err != nil {
			t.Fatal(err)
		}
		if look.Data["id"] != a.LeaseID || look.Data["renewable"] != true || look.Data["last_renewal_time"] != nil {
			t.Fatalf("lookup = %v", look.Data)
		}
		if ttl, _ := look.Data["ttl"].(json.Number).Int64(); ttl != 600 {
			t.Fatalf("lookup ttl = %v", look.Data["ttl"])
		}
		_, err = sys.Lookup("lt/creds/a/nonesuch")
		wantError(t, err, http.StatusBadRequest, "invalid lease")

		// Renew: the increment from now, capped by the mount's max (2h).
		s.Clock.Add(5 * time.Minute)
		r, err := sys.Renew(a.LeaseID, 1800)
		if err != nil || r.LeaseID != a.LeaseID || r.LeaseDuration != 1800 || !r.Renewable {
			t.Fatalf("renew = %+v %v", r, err)
		}
		if look, _ := sys.Lookup(a.LeaseID); look.Data["last_renewal_time"] == nil {
			t.Fatalf("renewal not recorded: %v", look.Data)
		}
		_, err = sys.Renew("lt/creds/a/nonesuch", 60)
		wantError(t, err, http.StatusBadRequest, "lease not found")
		_, err = s.Client.Logical().Write("sys/leases/renew", map[string]any{})
		wantError(t, err, http.StatusBadRequest, "lease_id must be specified")
		// A lease past its time, before the expiry task has run, is expired.
		s.Clock.Add(6 * time.Minute)
		_, err = sys.Renew(b.LeaseID, 60)
		wantError(t, err, http.StatusBadRequest, "lease expired")
		s.B.Sweep(context.Background())
		if !testLeases.wasRevoked(b.LeaseID) || !testLeases.wasRevoked(other.LeaseID) || testLeases.wasRevoked(a.LeaseID) {
			t.Fatal("sweep revoked the wrong leases")
		}
		more, more2 := read("b"), read("b")

		// LIST sys/leases/lookup/<prefix> (sudo): folders end in "/".
		keys, err := s.Client.Logical().List("sys/leases/lookup/lt/creds")
		if err != nil || keys == nil {
			t.Fatalf("list leases: %v %v", keys, err)
		}
		if got := keys.Data["keys"].([]any); len(got) != 2 || got[0] != "a/" || got[1] != "b/" {
			t.Fatalf("lease folders = %v", got)
		}
		keys, err = s.Client.Logical().List("sys/leases/lookup/lt/creds/a/")
		if err != nil || len(keys.Data["keys"].([]any)) != 1 || !strings.HasSuffix(a.LeaseID, keys.Data["keys"].([]any)[0].(string)) {
			t.Fatalf("leases under a/ = %v %v", keys, err)
		}

		// A token with every capability but sudo can look up and renew, but
		// not list, revoke a prefix or force.
		c := s.client(t, s.policyToken(t, "leaser", `path "sys/leases/*" { capabilities = ["create", "read", "update", "list"] }`))
		if _, err := c.Sys().Lookup(a.LeaseID); err != nil {
			t.Fatalf("lookup without sudo: %v", err)
		}
		_, err = c.Logical().List("sys/leases/lookup/lt/creds")
		wantError(t, err, http.StatusForbidden, "permission denied")
		wantError(t, c.Sys().RevokePrefix("lt/creds"), http.StatusForbidden, "permission denied")
		wantError(t, c.Sys().RevokeForce("lt/creds"), http.StatusForbidden, "permission denied")

		// revoke: one lease; revoke-prefix: all under a prefix.
		if err := sys.Revoke(a.LeaseID); err != nil {
			t.Fatal(err)
		}
		if !testLeases.wasRevoked(a.LeaseID) {
			t.Fatal("revoke left the lease with the engine")
		}
		_, err = sys.Lookup(a.LeaseID)
		wantError(t, err, http.StatusBadRequest, "invalid lease")
		wantError(t, sys.Revoke(a.LeaseID), http.StatusBadRequest, "invalid lease")
		if err := sys.RevokePrefix("lt/creds/b"); err != nil {
			t.Fatal(err)
		}
		for _, l := range []*vault.Secret{more, more2} {
			if !testLeases.wasRevoked(l.LeaseID) {
				t.Fatalf("revoke-prefix left %s", l.LeaseID)
			}
		}
		// The client drops the trailing "/" of an empty prefix.
		wantError(t, sys.RevokePrefix(""), http.StatusNotFound, `no handler for route "sys/leases/revoke-prefix". route entry not found.`)
		if code, body := s.raw(t, "PUT", "/v1/sys/leases/revoke-prefix/", s.Root, nil); code != http.StatusBadRequest || !strings.Contains(body, "prefix is required") {
			t.Fatalf("empty prefix: %d %s", code, body)
		}

		// revoke-force removes a lease the engine refuses to revoke.
		testLeases.setFailing("stuck", true)
		defer testLeases.setFailing("stuck", false)
		stuck := read("stuck")
		wantError(t, sys.RevokePrefix("lt/creds/stuck"), http.StatusBadRequest, "failed to revoke 1 of 1 leases")
		if _, err := sys.Lookup(stuck.LeaseID); err != nil {
			t.Fatalf("lease that failed to revoke is gone: %v", err)
		}
		if err := sys.RevokeForce("lt/creds/stuck"); err != nil {
			t.Fatal(err)
		}
		_, err = sys.Lookup(stuck.LeaseID)
		wantError(t, err, http.StatusBadRequest, "invalid lease")
		if list, err := s.Client.Logical().List("sys/leases/lookup/lt/creds"); err != nil || list != nil {
			t.Fatalf("leases left: %v %v", list, err)
		}
	})
}

func TestAPITokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		tokens := s.Client.Auth().Token()
		if err := s.Client.Sys().PutPolicy("dev", `
path "auth/token/create"        { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }
path "auth/token/lookup"        { capabilities = ["update"] }
path "auth/token/revoke-orphan" { capabilities = ["update"] }
path "auth/token/accessors/"    { capabilities = ["list"] }
`); err != nil {
			t.Fatal(err)
		}
		parent, err := tokens.Create(&vault.TokenCreateRequest{Policies: []string{"dev"}, TTL: "1h", Metadata: map[string]string{"team": "a"}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(parent.Auth.Policies, []string{"default", "dev"}) || parent.Auth.LeaseDuration != 3600 || parent.Auth.Orphan {
			t.Fatalf("create = %+v", parent.Auth)
		}
		pc := s.client(t, parent.Auth.ClientToken)

		// lookup, lookup-self, lookup-accessor.
		look, err := tokens.Lookup(parent.Auth.ClientToken)
		if err != nil || look.Data["id"] != parent.Auth.ClientToken || look.Data["accessor"] != parent.Auth.Accessor {
			t.Fatalf("lookup = %v %v", look, err)
		}
		if look.Data["meta"].(map[string]any)["team"] != "a" || look.Data["display_name"] != "token" {
			t.Fatalf("lookup data = %v", look.Data)
		}
		self, err := pc.Auth().Token().LookupSelf()
		if err != nil || self.Data["accessor"] != parent.Auth.Accessor {
			t.Fatalf("lookup-self = %v %v", self, err)
		}
		byAcc, err := tokens.LookupAccessor(parent.Auth.Accessor)
		if err != nil || byAcc.Data["id"] != "" || byAcc.Data["accessor"] != parent.Auth.Accessor {
			t.Fatalf("lookup-accessor = %v %v", byAcc, err)
		}
		_, err = tokens.Lookup("hvs.nonesuch")
		wantError(t, err, http.StatusBadRequest, "bad token")
		_, err = tokens.LookupAccessor("nonesuch")
		wantError(t, err, http.StatusBadRequest, "bad token")
		_, err = s.Client.Logical().Write("auth/token/lookup", map[string]any{})
		wantError(t, err, http.StatusBadRequest, "missing token")
		// lookup-accessor is not granted to dev: an accessor is no way around it.
		_, err = pc.Auth().Token().LookupAccessor(parent.Auth.Accessor)
		wantError(t, err, http.StatusForbidden, "permission denied")

		// renew, renew-self, renew-accessor, each from now.
		s.Clock.Add(10 * time.Minute)
		for _, renew := range []func() (*vault.Secret, error){
			func() (*vault.Secret, error) { return tokens.Renew(parent.Auth.ClientToken, 1800) },
			func() (*vault.Secret, error) { return pc.Auth().Token().RenewSelf(1800) },
			func() (*vault.Secret, error) { return tokens.RenewAccessor(parent.Auth.Accessor, 1800) },
		} {
			r, err := renew()
			if err != nil || r.Auth.LeaseDuration != 1800 || r.Auth.Accessor != parent.Auth.Accessor {
				t.Fatalf("renew = %+v %v", r, err)
			}
		}
		fixed, err := tokens.Create(&vault.TokenCreateRequest{Renewable: new(bool)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tokens.Renew(fixed.Auth.ClientToken, 60)
		wantError(t, err, http.StatusBadRequest, "lease is not renewable")

		// A child, a grandchild; create-orphan needs only the ACL grant,
		// no_parent needs sudo.
		child, err := pc.Auth().Token().Create(&vault.TokenCreateRequest{})
		if err != nil || child.Auth.Orphan {
			t.Fatalf("child: %+v %v", child, err)
		}
		grand, err := s.client(t, child.Auth.ClientToken).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		orphan, err := pc.Auth().Token().CreateOrphan(&vault.TokenCreateRequest{})
		if err != nil || !orphan.Auth.Orphan {
			t.Fatalf("create-orphan by a non-root token: %+v %v", orphan, err)
		}
		_, err = pc.Auth().Token().Create(&vault.TokenCreateRequest{NoParent: true})
		wantError(t, err, http.StatusBadRequest, "root or sudo privileges required to create orphan token")
		_, err = pc.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"admin"}})
		wantError(t, err, http.StatusBadRequest, "child policies must be subset of parent")
		_, err = pc.Auth().Token().Create(&vault.TokenCreateRequest{Period: "1h"})
		wantError(t, err, http.StatusBadRequest, "root or sudo privileges required to create periodic token")

		// revoke-orphan (sudo): the token goes, its children stay as orphans.
		wantError(t, pc.Auth().Token().RevokeOrphan(child.Auth.ClientToken), http.StatusForbidden, "permission denied")
		if err := tokens.RevokeOrphan(child.Auth.ClientToken); err != nil {
			t.Fatal(err)
		}
		_, err = s.client(t, child.Auth.ClientToken).Auth().Token().LookupSelf()
		wantError(t, err, http.StatusForbidden, "permission denied")
		gl, err := s.client(t, grand.Auth.ClientToken).Auth().Token().LookupSelf()
		if err != nil || gl.Data["orphan"] != true {
			t.Fatalf("grandchild after revoke-orphan: %v %v", gl, err)
		}

		// LIST auth/token/accessors (sudo).
		_, err = pc.Logical().List("auth/token/accessors")
		wantError(t, err, http.StatusForbidden, "permission denied")
		accs, err := s.Client.Logical().List("auth/token/accessors")
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, a := range accs.Data["keys"].([]any) {
			listed = append(listed, a.(string))
		}
		for _, a := range []string{parent.Auth.Accessor, grand.Auth.Accessor, orphan.Auth.Accessor} {
			if !slices.Contains(listed, a) {
				t.Fatalf("accessor %s not listed in %v", a, listed)
			}
		}
		if slices.Contains(listed, child.Auth.Accessor) {
			t.Fatal("a revoked token's accessor is listed")
		}

		// revoke, revoke-accessor, revoke-self; each takes the children.
		second, _ := pc.Auth().Token().Create(&vault.TokenCreateRequest{})
		if err := tokens.RevokeTree(grand.Auth.ClientToken); err != nil {
			t.Fatal(err)
		}
		if err := tokens.RevokeAccessor(orphan.Auth.Accessor); err != nil {
			t.Fatal(err)
		}
		if err := pc.Auth().Token().RevokeSelf(""); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{grand.Auth.ClientToken, orphan.Auth.ClientToken, parent.Auth.ClientToken, second.Auth.ClientToken} {
			_, err := s.client(t, tok).Auth().Token().LookupSelf()
			wantError(t, err, http.StatusForbidden, "permission denied")
		}
		wantError(t, tokens.RevokeAccessor(orphan.Auth.Accessor), http.StatusBadRequest, "bad token")
		wantError(t, tokens.RevokeTree("hvs.nonesuch"), http.StatusBadRequest, "bad token")

		// Unknown operations and paths under auth/token.
		_, err = s.Client.Logical().Read("auth/token/create")
		wantError(t, err, http.StatusMethodNotAllowed, "unsupported operation")
		// (The client reads any 404 as "nothing there", so this one is raw.)
		code, body := s.raw(t, "GET", "/v1/auth/token/nonesuch", s.Root, nil)
		if code != http.StatusNotFound || !strings.Contains(body, `no handler for route \"auth/token/nonesuch\". route entry not found.`) {
			t.Fatalf("unknown token path: %d %s", code, body)
		}
	})
}
