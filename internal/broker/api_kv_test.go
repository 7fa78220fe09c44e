package broker_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func mountKV(t *testing.T, s *server) *vault.KVv2 {
	t.Helper()
	if err := s.Client.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	return s.Client.KVv2("secret")
}

func TestAPIKVv2(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		kv := mountKV(t, s)
		ctx := context.Background()

		v1, err := kv.Put(ctx, "app/db", map[string]any{"user": "app", "password": "one"})
		if err != nil {
			t.Fatal(err)
		}
		if v1.VersionMetadata.Version != 1 {
			t.Fatalf("first put = %+v", v1.VersionMetadata)
		}
		got, err := kv.Get(ctx, "app/db")
		if err != nil || got.Data["password"] != "one" || got.VersionMetadata.Version != 1 {
			t.Fatalf("get = %+v %v", got, err)
		}

		// Check-and-set: a stale version is refused, the current one wins.
		_, err = kv.Put(ctx, "app/db", map[string]any{"password": "stale"}, vault.WithCheckAndSet(0))
		wantError(t, err, http.StatusBadRequest, "check-and-set parameter did not match the current version")
		v2, err := kv.Put(ctx, "app/db", map[string]any{"user": "app", "password": "two"}, vault.WithCheckAndSet(1))
		if err != nil || v2.VersionMetadata.Version != 2 {
			t.Fatalf("cas put: %+v %v", v2, err)
		}
		// Patch: a JSON merge patch of the latest version, as version 3.
		v3, err := kv.Patch(ctx, "app/db", map[string]any{"password": "three", "port": 5432})
		if err != nil || v3.VersionMetadata.Version != 3 {
			t.Fatalf("patch: %+v %v", v3, err)
		}
		got, err = kv.Get(ctx, "app/db")
		if err != nil || got.Data["user"] != "app" || got.Data["password"] != "three" || got.Data["port"] == nil {
			t.Fatalf("after patch = %+v %v", got, err)
		}
		old, err := kv.GetVersion(ctx, "app/db", 1)
		if err != nil || old.Data["password"] != "one" {
			t.Fatalf("version 1 = %+v %v", old, err)
		}
		if _, err := kv.GetVersion(ctx, "app/db", 9); !errors.Is(err, vault.ErrSecretNotFound) {
			t.Fatalf("missing version: %v", err)
		}
		if _, err := kv.Get(ctx, "app/none"); !errors.Is(err, vault.ErrSecretNotFound) {
			t.Fatalf("missing key: %v", err)
		}
		// A PATCH of a key that does not exist is a 404, not a success.
		code, body := s.raw(t, http.MethodPatch, "/v1/secret/data/app/none", s.Root, strings.NewReader(`{"data":{"a":"b"}}`))
		if code != http.StatusNotFound {
			t.Fatalf("patch of a missing key: %d %q", code, body)
		}
		if _, err := kv.Patch(ctx, "app/none", map[string]any{"a": "b"}); err == nil {
			t.Fatal("client patch of a missing key succeeded")
		}

		// Soft delete: the client hands back the version with nil data and
		// its deletion time; undelete brings it back.
		if err := kv.Delete(ctx, "app/db"); err != nil {
			t.Fatal(err)
		}
		gone, err := kv.Get(ctx, "app/db")
		if err != nil || gone.Data != nil || gone.VersionMetadata.Version != 3 || gone.VersionMetadata.DeletionTime.IsZero() {
			t.Fatalf("deleted latest = %+v %v", gone, err)
		}
		_, err = kv.Patch(ctx, "app/db", map[string]any{"password": "four"})
		if err == nil {
			t.Fatal("patch of a deleted version succeeded")
		}
		if err := kv.Undelete(ctx, "app/db", []int{3}); err != nil {
			t.Fatal(err)
		}
		if back, err := kv.Get(ctx, "app/db"); err != nil || back.Data["password"] != "three" {
			t.Fatalf("undeleted = %+v %v", back, err)
		}
		// Destroy: the data is gone for good; undelete cannot help.
		if err := kv.Destroy(ctx, "app/db", []int{1}); err != nil {
			t.Fatal(err)
		}
		if err := kv.Undelete(ctx, "app/db", []int{1}); err != nil {
			t.Fatal(err)
		}
		destroyed, err := kv.GetVersion(ctx, "app/db", 1)
		if err != nil || destroyed.Data != nil || !destroyed.VersionMetadata.Destroyed {
			t.Fatalf("destroyed version = %+v %v", destroyed, err)
		}

		meta, err := kv.GetMetadata(ctx, "app/db")
		if err != nil {
			t.Fatal(err)
		}
		if meta.CurrentVersion != 3 || meta.OldestVersion != 0 || len(meta.Versions) != 3 || !meta.Versions["1"].Destroyed {
			t.Fatalf("metadata = %+v", meta)
		}
		if err := kv.PutMetadata(ctx, "app/db", vault.KVMetadataPutInput{MaxVersions: 2, CustomMetadata: map[string]any{"owner": "team-a"}}); err != nil {
			t.Fatal(err)
		}
		if meta, _ := kv.GetMetadata(ctx, "app/db"); meta.MaxVersions != 2 || meta.CustomMetadata["owner"] != "team-a" {
			t.Fatalf("metadata after put = %+v", meta)
		}

		// LIST on metadata/: folders end in "/".
		if _, err := kv.Put(ctx, "top", map[string]any{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		list, err := s.Client.Logical().List("secret/metadata")
		if err != nil || list == nil {
			t.Fatalf("list: %v %v", list, err)
		}
		if keys := list.Data["keys"].([]any); len(keys) != 2 || keys[0] != "app/" || keys[1] != "top" {
			t.Fatalf("list keys = %v", keys)
		}
		if list, err := s.Client.Logical().List("secret/metadata/app"); err != nil || list.Data["keys"].([]any)[0] != "db" {
			t.Fatalf("list app/ = %v %v", list, err)
		}
		if list, err := s.Client.Logical().List("secret/metadata/empty"); err != nil || list != nil {
			t.Fatalf("empty list = %v %v", list, err)
		}

		// Refusals with Vault's messages.
		_, err = s.Client.Logical().Write("secret/data/app/db", map[string]any{"nodata": true})
		wantError(t, err, http.StatusBadRequest, "no data provided")
		_, err = s.Client.Logical().Write("secret/data/app/db", map[string]any{"data": map[string]any{}, "options": map[string]any{"cas": "x"}})
		wantError(t, err, http.StatusBadRequest, "error parsing check-and-set parameter")
		mustWrite(t, s.Client, "secret/config", map[string]any{"cas_required": true})
		_, err = kv.Put(ctx, "app/db", map[string]any{"k": "v"})
		wantError(t, err, http.StatusBadRequest, "check-and-set parameter required for this call")

		// DELETE metadata removes every version.
		if err := kv.DeleteMetadata(ctx, "app/db"); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.GetMetadata(ctx, "app/db"); !errors.Is(err, vault.ErrSecretNotFound) {
			t.Fatalf("metadata after delete: %v", err)
		}
	})
}

func TestAPIKVPolicies(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	kv := mountKV(t, s)
	ctx := context.Background()
	if _, err := kv.Put(ctx, "team/app", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	reader := s.client(t, s.policyToken(t, "kv-reader", `
path "secret/data/team/*"     { capabilities = ["read"] }
path "secret/metadata/team/"  { capabilities = ["list"] }
path "secret/metadata/*"      { capabilities = ["list"] }
path "secret/metadata/team/restricted/*" { capabilities = ["deny"] }
`))
	rkv := reader.KVv2("secret")
	if got, err := rkv.Get(ctx, "team/app"); err != nil || got.Data["k"] != "v" {
		t.Fatalf("reader get: %+v %v", got, err)
	}
	// A policy on the folder "team/" grants LIST of "team", as the clients
	// send it without the trailing slash.
	if list, err := reader.Logical().List("secret/metadata/team"); err != nil || list == nil {
		t.Fatalf("reader list: %v %v", list, err)
	}
	// GHSA-xp3c-3jw3-4vcr: the deny on the folder's contents also covers
	// a LIST of the folder named without its trailing slash.
	if _, err := kv.Put(ctx, "team/restricted/key", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"secret/metadata/team/restricted", "secret/metadata/team/restricted/"} {
		_, err := reader.Logical().List(p)
		wantError(t, err, http.StatusForbidden, "permission denied")
	}
	for _, err := range []error{
		func() error { _, err := rkv.Put(ctx, "team/app", map[string]any{"k": "w"}); return err }(),
		func() error { _, err := rkv.Patch(ctx, "team/app", map[string]any{"k": "w"}); return err }(),
		rkv.Delete(ctx, "team/app"),
		func() error { _, err := rkv.GetMetadata(ctx, "team/app"); return err }(),
		func() error { _, err := rkv.Get(ctx, "other"); return err }(),
	} {
		wantError(t, err, http.StatusForbidden, "permission denied")
	}
	// create is not update: a new key needs create, an existing one update.
	creator := s.client(t, s.policyToken(t, "kv-creator", `path "secret/data/*" { capabilities = ["create"] }`)).KVv2("secret")
	if _, err := creator.Put(ctx, "new", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("create with create: %v", err)
	}
	_, err := creator.Put(ctx, "new", map[string]any{"k": "w"})
	wantError(t, err, http.StatusForbidden, "permission denied")

	// The CLI's preflight: which mount holds the path, and its version.
	pre, err := reader.Logical().Read("sys/internal/ui/mounts/secret/team/app")
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := pre.Data["options"].(map[string]any)
	if pre.Data["path"] != "secret/" || pre.Data["type"] != "kv" || opts["version"] != "2" {
		t.Fatalf("preflight = %v", pre.Data)
	}
	// A token with no access under the mount, and any token asking about a
	// mount that does not exist, get the same 403, so the endpoint cannot
	// be used to find mounts.
	none := s.client(t, s.policyToken(t, "elsewhere", `path "other/*" { capabilities = ["read"] }`))
	for _, tc := range []struct {
		c    *vault.Client
		path string
	}{
		{none, "secret/team/app"},
		{reader, "nomount/foo"},
		{s.Client, "nomount/foo"},
	} {
		_, err := tc.c.Logical().Read("sys/internal/ui/mounts/" + tc.path)
		wantError(t, err, http.StatusForbidden, `preflight capability check returned 403, please ensure client's policies grant access to path "`+tc.path+`/"`)
	}
	_, err = s.anon(t).Logical().Read("sys/internal/ui/mounts/secret/team/app")
	wantError(t, err, http.StatusForbidden, "permission denied")
	// The listing of mounts marked visible needs no token.
	if err := s.Client.Sys().TuneMount("secret", vault.MountConfigInput{ListingVisibility: "unauth"}); err != nil {
		t.Fatal(err)
	}
	vis, err := s.anon(t).Logical().Read("sys/internal/ui/mounts")
	if err != nil {
		t.Fatal(err)
	}
	if secrets, _ := vis.Data["secret"].(map[string]any); len(secrets) != 1 || secrets["secret/"] == nil {
		t.Fatalf("visible mounts = %v", vis.Data)
	}
}
