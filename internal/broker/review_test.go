package broker_test

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store/storetest"
)

// call sends one request through the core with a chosen client address.
func (s *server) call(t *testing.T, tok, from string, op engine.Operation, path string, data map[string]any) (*broker.Response, error) {
	t.Helper()
	return s.B.Handle(context.Background(), &broker.Request{Operation: op, Path: path, Data: data,
		Token: secret.FromString(tok), RemoteAddr: netip.MustParseAddr(from)})
}

func TestChildTokensInheritRestrictions(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	if err := s.Client.Sys().PutPolicy("maker", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	creds := approleSetup(t, s, "ci", map[string]any{"token_policies": "maker", "token_bound_cidrs": "10.0.0.0/8"})
	login, err := s.call(t, "", "10.1.2.3", engine.Update, "auth/approle/login", map[string]any{"role_id": creds.roleID, "secret_id": creds.secretID})
	if err != nil {
		t.Fatal(err)
	}
	parent := login.Auth.ClientToken.RevealString()
	child, err := s.call(t, parent, "10.1.2.3", engine.Update, "auth/token/create", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The child is bound where its parent is.
	ct := child.Auth.ClientToken.RevealString()
	if _, err := s.call(t, ct, "10.9.9.9", engine.Read, "auth/token/lookup-self", nil); err != nil {
		t.Fatalf("child inside the parent's CIDR: %v", err)
	}
	if _, err := s.call(t, ct, "127.0.0.1", engine.Read, "auth/token/lookup-self", nil); !fail.Is(err, fail.Denied) {
		t.Fatalf("child outside the parent's CIDR: %v", err)
	}

	// A parent without "default" cannot hand it to a child.
	noDefault, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"maker"}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	kid, err := s.client(t, noDefault.Auth.ClientToken).Auth().Token().Create(&vault.TokenCreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(kid.Auth.Policies, "default") {
		t.Fatalf("child of a token without default got %v", kid.Auth.Policies)
	}
	if _, err := s.client(t, noDefault.Auth.ClientToken).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("asking for default the parent lacks: %v", err)
	}

	// A use-limited token cannot create children at all.
	limited, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"maker"}, NumUses: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client(t, limited.Auth.ClientToken).Auth().Token().Create(&vault.TokenCreateRequest{})
	wantError(t, err, http.StatusBadRequest, "restricted use token cannot generate child tokens")
}

func TestAuthMountsCannotBeRemovedThroughSysMounts(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	if err := s.Client.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	c := s.client(t, s.policyToken(t, "mounts", `path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete"] }`))
	_, err := c.Logical().Delete("sys/mounts/auth/jwt")
	wantError(t, err, http.StatusBadRequest, "")
	if auths, err := s.Client.Sys().ListAuth(); err != nil || auths["jwt/"] == nil {
		t.Fatalf("auth method removed through sys/mounts: %v", err)
	}
}

func TestRefusedRequestsDoNotFillTheAuditLog(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	ctx := context.Background()
	// A body of many small strings, sent without a token.
	body := `{"k":[` + strings.Repeat(`"a",`, 9000) + `"a"]}`
	if code, _ := s.raw(t, "PUT", "/v1/sys/policies/acl/x", "", strings.NewReader(body)); code != http.StatusForbidden {
		t.Fatalf("no token: %d", code)
	}
	recs, err := s.Audit.Tail(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs[0].Body) > 2000 || strings.Contains(string(recs[0].Body), `"data"`) {
		t.Fatalf("refused request audited with its body (%d bytes)", len(recs[0].Body))
	}
	// More strings than any real request has are refused before anything else.
	body = `{"k":[` + strings.Repeat(`"a",`, 10001) + `"a"]}`
	if code, msg := s.raw(t, "PUT", "/v1/sys/policies/acl/x", s.Root, strings.NewReader(body)); code != http.StatusBadRequest || !strings.Contains(msg, "strings") {
		t.Fatalf("10002 strings: %d %s", code, msg)
	}
}
