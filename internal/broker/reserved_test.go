package broker_test

import (
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestReservedMetadata: no token the Vault API makes may carry the
// metadata runcred derives provenance and job scope from, so none can pose
// as a run, a team or a job: not auth/token/create's meta, not an AppRole
// secret ID's metadata (refused at login, with a clear error).
func TestReservedMetadata(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testReservedMetadata(t, db) })
}

func testReservedMetadata(t *testing.T, db *store.DB) {
	s := start(t, db, options{})
	for _, key := range []string{"run_id", "workspace_id", "team_id", "phase_id"} {
		_, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}, Metadata: map[string]string{key: "run-forged"}})
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("token create with meta %s: %v, want 400 naming the reserved key", key, err)
		}
	}
	if _, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}, Metadata: map[string]string{"owner": "ci"}}); err != nil {
		t.Fatalf("ordinary metadata refused: %v", err)
	}

	if err := s.Client.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s.Client, "auth/approle/role/ci", map[string]any{"token_policies": []string{"default"}})
	roleID := mustRead(t, s.Client, "auth/approle/role/ci/role-id").Data["role_id"].(string)
	sid := mustWrite(t, s.Client, "auth/approle/role/ci/secret-id", map[string]any{"metadata": `{"run_id":"run-forged"}`})
	_, err := s.anon(t).Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": sid.Data["secret_id"]})
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("login with a secret ID whose metadata sets run_id: %v, want 400", err)
	}
}
