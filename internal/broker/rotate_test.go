package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func TestReplaceMountName(t *testing.T) {
	for _, c := range []struct {
		in, want string
		changed  bool
	}{
		{"secret-ab12cd34", "secret-new", true},
		{"secret-ab12cd34/", "secret-new/", true},
		{"secret-ab12cd34/data/app", "secret-new/data/app", true},
		{`path "secret-ab12cd34/data/*" {}`, `path "secret-new/data/*" {}`, true},
		{`path "sys/mounts/secret-ab12cd34/tune" {}`, `path "sys/mounts/secret-new/tune" {}`, true},
		{"a=secret-ab12cd34,b=secret-ab12cd34/x", "a=secret-new,b=secret-new/x", true},
		{"secret-ab12cd345/data", "secret-ab12cd345/data", false}, // a longer name
		{"my-secret-ab12cd34/data", "my-secret-ab12cd34/data", false},
		{"secret-ab12cd34.bak", "secret-ab12cd34.bak", false},
		{"xsecret-ab12cd34 secret-ab12cd34", "xsecret-ab12cd34 secret-new", true},
		{"", "", false},
	} {
		got, changed := broker.ReplaceMountName(c.in, "secret-ab12cd34", "secret-new")
		if got != c.want || changed != c.changed {
			t.Errorf("ReplaceMountName(%q) = %q, %v; want %q, %v", c.in, got, changed, c.want, c.changed)
		}
	}
}

// FuzzReplaceMountName: policy texts and variable values are anyone's; a
// rewrite never panics, replaces nothing it reports unchanged, and leaves
// no whole-segment occurrence of the old name behind.
func FuzzReplaceMountName(f *testing.F) {
	f.Add(`path "secret-ab12cd34/data/*" { capabilities = ["read"] }`, "secret-ab12cd34")
	f.Add("secret-ab12cd34secret-ab12cd34/secret-ab12cd34", "secret-ab12cd34")
	f.Add("ééé-x/é", "é")
	f.Fuzz(func(t *testing.T, s, from string) {
		const to = "secret-zz00zz00"
		if from == "" || strings.Contains(to, from) {
			return
		}
		got, changed := broker.ReplaceMountName(s, from, to)
		if !changed && got != s {
			t.Fatalf("unchanged but rewritten: %q -> %q", s, got)
		}
		if _, again := broker.ReplaceMountName(got, from, to); again && !strings.Contains(s, to) {
			t.Fatalf("%q still names %q after the rewrite: %q", s, from, got)
		}
	})
}

// TestRevokeMountLeases: every lease issued under a mount is revoked
// through its engine; one that cannot be revoked stays and is an error.
func TestRevokeMountLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{backoff: time.Second})
		ctx := context.Background()
		mountLeases(t, s, "rot")
		mountLeases(t, s, "keep")
		var ids []string
		for _, p := range []string{"rot/creds/a", "rot/creds/b", "keep/creds/a"} {
			sec, err := s.Client.Logical().ReadWithData(p, map[string][]string{"ttl": {"30m"}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, sec.LeaseID)
		}
		n, err := s.B.RevokeMountLeases(ctx, "rot/")
		if err != nil || n != 2 || !testLeases.wasRevoked(ids[0]) || !testLeases.wasRevoked(ids[1]) || testLeases.wasRevoked(ids[2]) {
			t.Fatalf("revoked %d, %v", n, err)
		}
		for i, id := range ids {
			_, err := s.Client.Sys().Lookup(id)
			if gone := err != nil; gone != (i < 2) {
				t.Errorf("lease %s: lookup error %v", id, err)
			}
		}
		// A failing revocation: the lease stays, the error says so.
		sec, err := s.Client.Logical().ReadWithData("rot/creds/stuck", map[string][]string{"ttl": {"30m"}})
		if err != nil {
			t.Fatal(err)
		}
		testLeases.setFailing("stuck", true)
		defer testLeases.setFailing("stuck", false)
		if _, err := s.B.RevokeMountLeases(ctx, "rot/"); !fail.Is(err, fail.Unavailable) {
			t.Fatalf("failing revocation: %v", err)
		}
		if _, err := s.Client.Sys().Lookup(sec.LeaseID); err != nil {
			t.Errorf("the lease that could not be revoked is gone: %v", err)
		}
		if err := s.B.RemoveMount(ctx, "rot/"); err == nil {
			t.Errorf("a mount with a lease that cannot be revoked was removed")
		}
	})
}

// TestFrozenMount: a mount being rotated refuses writes (400, as Vault
// answers a refused write, naming the new path) and serves reads; its new
// path's grant reads it too; unfrozen, it takes writes again.
func TestFrozenMount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		ctx := context.Background()
		if err := s.Client.Sys().Mount("secret-ab12cd34", &vault.MountInput{Type: "kv-v2"}); err != nil {
			t.Fatal(err)
		}
		kv := s.Client.KVv2("secret-ab12cd34")
		if _, err := kv.Put(ctx, "app", map[string]any{"a": "1"}); err != nil {
			t.Fatal(err)
		}
		newOnly := s.policyToken(t, "new-only", `path "secret-new00000/data/app" { capabilities = ["read"] }`)
		if err := s.B.FreezeMount(ctx, "secret-ab12cd34/", "secret-new00000/"); err != nil {
			t.Fatal(err)
		}
		_, err := kv.Put(ctx, "app", map[string]any{"a": "2"})
		if err == nil || !strings.Contains(err.Error(), "Code: 400") || !strings.Contains(err.Error(), "being rotated to secret-new00000/") {
			t.Errorf("write to a frozen mount: %v", err)
		}
		if err := kv.Delete(ctx, "app"); err == nil || !strings.Contains(err.Error(), "being rotated") {
			t.Errorf("delete on a frozen mount: %v", err)
		}
		if sec, err := kv.Get(ctx, "app"); err != nil || sec.Data["a"] != "1" {
			t.Errorf("read of a frozen mount: %v %v", sec, err)
		}
		if code, body := s.raw(t, "GET", "/v1/secret-ab12cd34/data/app", newOnly, nil); code != 200 {
			t.Errorf("the new path's grant reading the frozen mount: %d %s", code, body)
		}
		if code, _ := s.raw(t, "GET", "/v1/secret-ab12cd34/metadata/app", newOnly, nil); code != 403 {
			t.Errorf("what the new path's grant does not cover: %d", code)
		}
		if _, err := s.Client.Logical().Write("sys/remount", map[string]any{"from": "secret-ab12cd34", "to": "elsewhere"}); err == nil ||
			!strings.Contains(err.Error(), "being rotated") {
			t.Errorf("remount of a frozen mount: %v", err)
		}
		if err := s.B.FreezeMount(ctx, "secret-ab12cd34/", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, "app", map[string]any{"a": "2"}); err != nil {
			t.Errorf("write after unfreezing: %v", err)
		}
		if code, _ := s.raw(t, "GET", "/v1/secret-ab12cd34/data/app", newOnly, nil); code != 403 {
			t.Errorf("the new path's grant reads the unfrozen mount: %d", code)
		}
	})
}
