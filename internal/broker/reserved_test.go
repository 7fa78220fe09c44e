package broker_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestReservedMetadata: no token the Vault API makes may carry the
// metadata runcred derives provenance and job scope from, nor the
// metadata that names a Terraform run (the AWS engine's session name, the
// leases' and audit records' run), so none can pose as a run, a team or a
// job: not auth/token/create's meta, not an AppRole secret ID's metadata,
// not a JWT role's claim mappings (all refused when written, naming the
// key), not a login with another issuer's token that carries run claims.
func TestReservedMetadata(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { testReservedMetadata(t, db) })
}

func testReservedMetadata(t *testing.T, db *store.DB) {
	s := start(t, db, options{})
	keys := append(append([]string{}, access.ReservedMeta...), access.RunMeta...)
	refused := func(what, key string, err error) {
		t.Helper()
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `"`+key+`"`) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("%s with %s: %v, want 400 naming the reserved key", what, key, err)
		}
	}
	for _, key := range keys {
		meta := map[string]string{key: "run-forged"}
		_, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}, Metadata: meta})
		refused("token create", key, err)
		_, err = s.Client.Auth().Token().CreateOrphan(&vault.TokenCreateRequest{Policies: []string{"default"}, Metadata: meta})
		refused("token create-orphan", key, err)
	}
	if _, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}, Metadata: map[string]string{"owner": "ci"}}); err != nil {
		t.Fatalf("ordinary metadata refused: %v", err)
	}

	if err := s.Client.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s.Client, "auth/approle/role/ci", map[string]any{"token_policies": []string{"default"}})
	for _, key := range keys {
		for _, form := range []any{`{"` + key + `":"run-victim"}`, key + "=run-victim", map[string]any{key: "run-victim"}} {
			_, err := s.Client.Logical().Write("auth/approle/role/ci/secret-id", map[string]any{"metadata": form})
			refused("secret-id metadata", key, err)
		}
		_, err := s.Client.Logical().Write("auth/approle/role/ci/custom-secret-id", map[string]any{"secret_id": "custom-" + key, "metadata": `{"` + key + `":"run-victim"}`})
		refused("custom-secret-id metadata", key, err)
	}
	if list, err := s.Client.Logical().List("auth/approle/role/ci/secret-id"); err != nil || list != nil {
		t.Fatalf("refused secret IDs were stored: %v, %v", list, err)
	}

	is := newIssuer(t)
	if err := s.Client.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s.Client, "auth/jwt/config", map[string]any{"oidc_discovery_url": is.URL, "bound_issuer": is.URL})
	role := map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"runcred"}, "token_policies": []string{"default"}}
	for _, key := range keys {
		role["claim_mappings"] = map[string]any{"ref": key}
		_, err := s.Client.Logical().Write("auth/jwt/role/forge", role)
		refused("jwt role claim_mappings", key, err)
	}
	if r, err := s.Client.Logical().Read("auth/jwt/role/forge"); err != nil || r != nil {
		t.Fatalf("refused role was stored: %v, %v", r, err)
	}
	delete(role, "claim_mappings")
	mustWrite(t, s.Client, "auth/jwt/role/ci", role)
	// This mount's issuer is not runcred's own: a token of it that claims
	// a run (as the victim's would) does not log in.
	for _, key := range access.RunMeta {
		c := is.claims(s)
		c[key] = "run-victim"
		_, err := s.anon(t).Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": sign(t, is.key, c)})
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `claim "`+key+`" is reserved`) {
			t.Errorf("login with claim %s from another issuer: %v, want 400 naming it", key, err)
		}
	}
	sec, err := s.anon(t).Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": sign(t, is.key, is.claims(s))})
	if err != nil {
		t.Fatalf("login without run claims: %v", err)
	}
	if _, named := sec.Auth.Metadata["terraform_run_id"]; named {
		t.Fatalf("metadata names a run: %v", sec.Auth.Metadata)
	}
}

// attestEngine is an auth method that claims its login's run metadata came
// from runcred's own issuer. Only the jwt method may say so; the core does
// not believe any other (here it stands in for approle).
type attestEngine struct{}

func (attestEngine) Routes() *engine.Routes {
	return engine.NewRoutes(engine.Route[engine.Handler]{Path: engine.Path{Pattern: "login", Unauthenticated: true},
		Operations: engine.Every[engine.Handler](func(context.Context, *engine.Request) (*engine.Response, error) {
			return &engine.Response{Auth: &engine.Auth{Policies: []string{"default"}, RunAttested: true,
				Metadata: map[string]string{"terraform_run_id": "run-victim", "terraform_run_phase": "apply"}}}, nil
		})})
}

func TestRunAttestedOnlyFromJWT(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		engines := allEngines(time.Now)
		engines["approle"] = func(context.Context, engine.MountConfig) (engine.Backend, error) { return attestEngine{}, nil }
		s := start(t, db, options{engines: engines})
		if err := s.Client.Sys().EnableAuthWithOptions("attest", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatal(err)
		}
		_, err := s.anon(t).Logical().Write("auth/attest/login", nil)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `"terraform_run_id" is reserved`) {
			t.Fatalf("a non-jwt login that claims attestation: %v, want 400", err)
		}
	})
}
