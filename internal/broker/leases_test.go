package broker_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func mountLeases(t *testing.T, s *server, path string) {
	t.Helper()
	if err := s.Client.Sys().Mount(path, &vault.MountInput{Type: "leasetest", Config: vault.MountConfigInput{MaxLeaseTTL: "2h"}}); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{backoff: time.Second})
		mountLeases(t, s, "lt")
		sec, err := s.Client.Logical().ReadWithData("lt/creds/a", map[string][]string{"ttl": {"30m"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sec.LeaseID, "lt/creds/a/") || len(strings.TrimPrefix(sec.LeaseID, "lt/creds/a/")) != 24 ||
			sec.LeaseDuration != 1800 || !sec.Renewable {
			t.Fatalf("lease %q %d %v", sec.LeaseID, sec.LeaseDuration, sec.Renewable)
		}
		look, err := s.Client.Sys().Lookup(sec.LeaseID)
		if err != nil || look.Data["id"] != sec.LeaseID {
			t.Fatalf("lookup: %v %v", look, err)
		}
		// Renewal extends it, but never past the mount's max TTL (2h).
		s.Clock.Add(20 * time.Minute)
		if r, err := s.Client.Sys().Renew(sec.LeaseID, 3600); err != nil || r.LeaseDuration != 3600 {
			t.Fatalf("renew: %v %v", r, err)
		}
		s.Clock.Add(50 * time.Minute)
		r, err := s.Client.Sys().Renew(sec.LeaseID, 3600)
		if err != nil {
			t.Fatal(err)
		}
		if r.LeaseDuration != 50*60 {
			t.Fatalf("renewed to %d s, want capped at 3000", r.LeaseDuration)
		}
		// Expiry: the task revokes it through the engine.
		s.Clock.Add(51 * time.Minute)
		s.B.Sweep(context.Background())
		if !testLeases.wasRevoked(sec.LeaseID) {
			t.Fatal("expired lease not revoked")
		}
		if _, err := s.Client.Sys().Lookup(sec.LeaseID); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("revoked lease still looked up: %v", err)
		}
		if _, err := s.Client.Sys().Renew(sec.LeaseID, 60); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("renew of revoked lease: %v", err)
		}
	})
}

func TestRevokeTokenRevokesItsLeases(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	mountLeases(t, s, "lt")
	tok := s.policyToken(t, "reader", `path "lt/creds/*" { capabilities = ["read"] }`)
	c := s.client(t, tok)
	sec, err := c.Logical().Read("lt/creds/b")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth().Token().RevokeSelf(""); err != nil {
		t.Fatal(err)
	}
	if !testLeases.wasRevoked(sec.LeaseID) {
		t.Fatal("revoke-self left the token's lease")
	}
	if _, err := s.Client.Sys().Lookup(sec.LeaseID); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("lease of revoked token still present: %v", err)
	}
}

func TestRevokeFailuresBackOffThenIrrevocable(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{backoff: time.Second})
	mountLeases(t, s, "lt")
	testLeases.setFailing("stuck", true)
	defer testLeases.setFailing("stuck", false)
	sec, err := s.Client.Logical().Read("lt/creds/stuck")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().Revoke(sec.LeaseID); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("revoke of failing lease: %v", err)
	}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		s.Clock.Add(10 * time.Minute) // past every backoff
		s.B.Sweep(ctx)
	}
	code, body := s.raw(t, "GET", "/v1/sys/leases?type=irrevocable", s.Root, nil)
	if code != 200 || !strings.Contains(body, sec.LeaseID) || !strings.Contains(body, "upstream refused revocation") {
		t.Fatalf("irrevocable list: %d %s", code, body)
	}
	recs, _ := s.Audit.Tail(ctx, 50)
	var sawIrrevocable bool
	for _, r := range recs {
		sawIrrevocable = sawIrrevocable || r.Type == "broker.lease.irrevocable"
	}
	if !sawIrrevocable {
		t.Fatal("irrevocable lease not audited")
	}
	// revoke-force removes it whatever the engine says.
	if err := s.Client.Sys().RevokeForce("lt/creds/stuck"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Sys().Lookup(sec.LeaseID); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("force-revoked lease remains: %v", err)
	}
}

func TestRevokePrefix(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	mountLeases(t, s, "lt")
	var ids []string
	for _, n := range []string{"x", "x", "y"} {
		sec, err := s.Client.Logical().Read("lt/creds/" + n)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sec.LeaseID)
	}
	keys, err := s.Client.Logical().List("sys/leases/lookup/lt/creds/")
	if err != nil || keys == nil {
		t.Fatalf("list leases: %v", err)
	}
	if err := s.Client.Sys().RevokePrefix("lt/creds/x"); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		_, err := s.Client.Sys().Lookup(id)
		gone := statusOf(err) == http.StatusBadRequest
		if gone != (i < 2) {
			t.Errorf("lease %s gone=%v", id, gone)
		}
	}
	// revoke-prefix is root-protected.
	c := s.client(t, s.policyToken(t, "rp", `path "sys/leases/revoke-prefix/*" { capabilities = ["update"] }`))
	if err := c.Sys().RevokePrefix("lt/"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("revoke-prefix without sudo: %v", err)
	}
}

func TestMountsTuneRemountDisable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		sys := s.Client.Sys()
		mountLeases(t, s, "team/creds")
		for _, bad := range []struct {
			path string
			in   vault.MountInput
		}{
			{"team/creds/inner", vault.MountInput{Type: "leasetest"}}, // nested
			{"team", vault.MountInput{Type: "leasetest"}},             // around
			{"sys", vault.MountInput{Type: "leasetest"}},
			{"other", vault.MountInput{Type: "nosuch"}},
			{"other", vault.MountInput{Type: "leasetest", Options: map[string]string{"version": "2"}}},
		} {
			if err := sys.Mount(bad.path, &bad.in); statusOf(err) != http.StatusBadRequest {
				t.Errorf("mount %s: %v", bad.path, err)
			}
		}
		mounts, err := sys.ListMounts()
		if err != nil {
			t.Fatal(err)
		}
		if m := mounts["team/creds/"]; m == nil || m.Type != "leasetest" || m.Config.MaxLeaseTTL != 7200 {
			t.Fatalf("mounts %+v", mounts["team/creds/"])
		}
		if err := sys.TuneMount("team/creds", vault.MountConfigInput{DefaultLeaseTTL: "10m"}); err != nil {
			t.Fatal(err)
		}
		sec, err := s.Client.Logical().Read("team/creds/creds/a")
		if err != nil || sec.LeaseDuration != 600 {
			t.Fatalf("tuned default TTL: %v %v", sec, err)
		}
		// A remount onto a taken path fails before it revokes anything.
		mountLeases(t, s, "taken")
		if _, err := sys.StartRemount("team/creds", "taken"); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("remount onto a taken path: %v", err)
		}
		if _, err := sys.Lookup(sec.LeaseID); err != nil {
			t.Fatalf("failed remount revoked a lease: %v", err)
		}
		// Remount revokes the mount's leases and keeps it working at the new path.
		if err := sys.Remount("team/creds", "team/creds2"); err != nil {
			t.Fatal(err)
		}
		if !testLeases.wasRevoked(sec.LeaseID) {
			t.Fatal("remount left a lease")
		}
		if _, err := s.Client.Logical().Read("team/creds2/creds/a"); err != nil {
			t.Fatal(err)
		}
		if code, _ := s.raw(t, "GET", "/v1/team/creds/creds/a", s.Root, nil); code != http.StatusNotFound {
			t.Fatalf("old path still routed: %d", code)
		}
		if err := sys.Unmount("team/creds2"); err != nil {
			t.Fatal(err)
		}
		if mounts, _ := sys.ListMounts(); mounts["team/creds2/"] != nil {
			t.Fatal("unmount left the mount")
		}
	})
}
