package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func TestHealthAndSealStatus(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	h, err := s.Client.Sys().Health()
	if err != nil {
		t.Fatal(err)
	}
	if !h.Initialized || h.Sealed || h.Version == "" {
		t.Fatalf("health = %+v", h)
	}
	st, err := s.Client.Sys().SealStatus()
	if err != nil {
		t.Fatal(err)
	}
	if st.Sealed || !strings.HasPrefix(st.Version, "1.") {
		t.Fatalf("seal-status = %+v", st)
	}
	// The client's code overrides are honoured.
	code, _ := s.raw(t, "GET", "/v1/sys/health?activecode=299", "", nil)
	if code != 299 {
		t.Fatalf("activecode override: %d", code)
	}
	// Neither is audited, and neither needs a token.
	recs, err := s.Audit.Tail(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Body), "sys/health") || strings.Contains(string(r.Body), "seal-status") {
			t.Fatalf("unaudited path audited: %s", r.Body)
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		tokens := s.Client.Auth().Token()

		// Terraform's provider: lookup-self, then a non-renewable child token.
		self, err := tokens.LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		if pols, _ := self.TokenPolicies(); len(pols) != 1 || pols[0] != "root" {
			t.Fatalf("root policies %v", pols)
		}
		child, err := tokens.Create(&vault.TokenCreateRequest{DisplayName: "terraform", TTL: "1200s", ExplicitMaxTTL: "1200s", Renewable: new(bool)})
		if err != nil {
			t.Fatal(err)
		}
		if child.Auth.LeaseDuration != 1200 || child.Auth.Renewable || child.Auth.Orphan {
			t.Fatalf("child auth = %+v", child.Auth)
		}
		cc := s.client(t, child.Auth.ClientToken)
		look, err := cc.Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		if look.Data["display_name"] != "token-terraform" || look.Data["path"] != "auth/token/create" {
			t.Fatalf("lookup-self = %v", look.Data)
		}
		// A grandchild, and an orphan created by the child. An expiring
		// root token cannot make a non-expiring one.
		if _, err := cc.Auth().Token().Create(&vault.TokenCreateRequest{}); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("non-expiring root child of an expiring root token: %v", err)
		}
		gc, err := cc.Auth().Token().Create(&vault.TokenCreateRequest{TTL: "10m"})
		if err != nil {
			t.Fatal(err)
		}
		orphan, err := tokens.CreateOrphan(&vault.TokenCreateRequest{Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		if !orphan.Auth.Orphan {
			t.Fatal("create-orphan made a child")
		}
		// Revoking the child revokes the grandchild, not the orphan.
		if err := cc.Auth().Token().RevokeSelf(""); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{child.Auth.ClientToken, gc.Auth.ClientToken} {
			if _, err := s.client(t, tok).Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
				t.Fatalf("revoked token still works: %v", err)
			}
		}
		if _, err := s.client(t, orphan.Auth.ClientToken).Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("orphan revoked with an unrelated tree: %v", err)
		}
		// Accessors look up and revoke without revealing the token.
		acc, err := tokens.LookupAccessor(orphan.Auth.Accessor)
		if err != nil {
			t.Fatal(err)
		}
		if acc.Data["id"] != "" {
			t.Fatalf("lookup-accessor revealed the token")
		}
		if err := tokens.RevokeAccessor(orphan.Auth.Accessor); err != nil {
			t.Fatal(err)
		}
		if _, err := s.client(t, orphan.Auth.ClientToken).Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
			t.Fatalf("revoke-accessor left the token working: %v", err)
		}
	})
}

func TestTokenTTLRenewAndExpiry(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	sec, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{TTL: "1h", ExplicitMaxTTL: "90m", Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	c := s.client(t, sec.Auth.ClientToken)
	s.Clock.Add(50 * time.Minute)
	r, err := c.Auth().Token().RenewSelf(3600)
	if err != nil {
		t.Fatal(err)
	}
	// Renewal is capped by the explicit max TTL: 90m from creation = 40m left.
	if r.Auth.LeaseDuration != 40*60 {
		t.Fatalf("renewed lease_duration %d, want %d", r.Auth.LeaseDuration, 40*60)
	}
	s.Clock.Add(41 * time.Minute)
	if _, err := c.Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("expired token works: %v", err)
	}
}

func TestTokenUseLimitAndPolicySubset(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	tok := s.policyToken(t, "creator", `path "auth/token/create" { capabilities = ["update"] }`)
	c := s.client(t, tok)
	// A child may not hold a policy its parent lacks.
	if _, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"root"}}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("root child from non-root: %v", err)
	}
	if _, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"other"}}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("policy outside parent's: %v", err)
	}
	// num_uses=2: exactly two requests succeed.
	two, err := c.Auth().Token().Create(&vault.TokenCreateRequest{NumUses: 2})
	if err != nil {
		t.Fatal(err)
	}
	tc := s.client(t, two.Auth.ClientToken)
	for i := 0; i < 2; i++ {
		if _, err := tc.Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if _, err := tc.Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("third use of a 2-use token: %v", err)
	}
}

func TestPolicies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		sys := s.Client.Sys()
		if err := sys.PutPolicy("Reader", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		got, err := sys.GetPolicy("reader") // names are lower-cased
		if err != nil || !strings.Contains(got, "secret/data/*") {
			t.Fatalf("get policy: %q %v", got, err)
		}
		names, err := sys.ListPolicies()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(names, ",") != "default,reader,root" {
			t.Fatalf("policies %v", names)
		}
		for _, bad := range []struct{ name, body string }{
			{" Root", `path "x" { capabilities = ["read"] }`},
			{"root", `path "x" { capabilities = ["read"] }`},
			{"broken", `path "x" { capabilities = ["fly"] }`},
			{"broken", `path "x" {`},
			{"wrapped", `path "x" { capabilities = ["read"] min_wrapping_ttl = "1m" }`},
		} {
			if err := sys.PutPolicy(bad.name, bad.body); statusOf(err) != http.StatusBadRequest {
				t.Errorf("put %q: %v", bad.name, err)
			}
		}
		if err := sys.DeletePolicy("default"); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("deleting default: %v", err)
		}
		if err := sys.DeletePolicy("reader"); err != nil {
			t.Fatal(err)
		}
		if err := sys.DeletePolicy("reader"); err != nil { // idempotent
			t.Fatal(err)
		}
	})
}

func TestACLEnforcedOnEveryPath(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	if err := s.Client.Sys().Mount("creds", &vault.MountInput{Type: "leasetest"}); err != nil {
		t.Fatal(err)
	}
	tok := s.policyToken(t, "narrow", `
path "creds/creds/allowed" { capabilities = ["read"] }
path "creds/creds/*"       { capabilities = ["deny"] }
`)
	c := s.client(t, tok)
	if _, err := c.Logical().Read("creds/creds/allowed"); err != nil {
		t.Fatalf("allowed read: %v", err)
	}
	for _, p := range []string{"creds/creds/other", "sys/mounts", "sys/policies/acl/narrow"} {
		if _, err := c.Logical().Read(p); statusOf(err) != http.StatusForbidden {
			t.Errorf("read %s: want 403, got %v", p, err)
		}
	}
	// GET needs read; a write to the same path needs update.
	if _, err := c.Logical().Write("creds/creds/allowed", nil); statusOf(err) != http.StatusForbidden {
		t.Errorf("write with read-only grant: %v", err)
	}
	// sudo paths need sudo even with the capability.
	s.Client.Sys().PutPolicy("mounter", `path "sys/auth/*" { capabilities = ["create", "update", "read"] }`)
	m := s.client(t, s.policyToken(t, "mounter", `path "sys/auth/*" { capabilities = ["create", "update", "read"] }`))
	if err := m.Sys().EnableAuthWithOptions("x", &vault.EnableAuthOptions{Type: "jwt"}); statusOf(err) != http.StatusForbidden {
		t.Errorf("sys/auth without sudo: %v", err)
	}
	// No token, and a bad token, are both a bare 403.
	for _, tok := range []string{"", "hvs.nope"} {
		code, body := s.raw(t, "GET", "/v1/creds/creds/allowed", tok, nil)
		if code != http.StatusForbidden || !strings.Contains(body, "permission denied") {
			t.Errorf("token %q: %d %s", tok, code, body)
		}
	}
}

func TestRequestValidation(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	cases := []struct {
		method, path string
		body         string
		want         int
	}{
		{"GET", "/v1/secret/data/../../sys/policies/acl/root", "", http.StatusBadRequest},
		{"GET", "/v1/sys/./mounts", "", http.StatusBadRequest},
		{"GET", "/v1/nope/here", "", http.StatusNotFound},
		{"TRACE", "/v1/sys/mounts", "", http.StatusMethodNotAllowed},
		{"PUT", "/v1/sys/policies/acl/x", "not json", http.StatusBadRequest},
		{"PUT", "/v1/sys/policies/acl/x", `["a list"]`, http.StatusBadRequest},
		{"PUT", "/v1/sys/policies/acl/x", strings.Repeat("[", 200) + strings.Repeat("]", 200), http.StatusBadRequest},
		{"LIST", "/v1/sys/leases/lookup/nothing/", "", http.StatusNotFound},
		{"GET", "/v1/sys/leases/lookup/nothing/?list=true", "", http.StatusNotFound},
	}
	for _, c := range cases {
		code, body := s.raw(t, c.method, c.path, s.Root, strings.NewReader(c.body))
		if code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.want)
		}
		if code >= 400 && !strings.Contains(body, `"errors"`) {
			t.Errorf("%s %s: error body %q", c.method, c.path, body)
		}
	}
	// An empty LIST is 404 with an empty errors list; the client reads it as nil.
	sec, err := s.Client.Logical().List("sys/leases/lookup/nothing")
	if err != nil || sec != nil {
		t.Fatalf("empty list: %v %v", sec, err)
	}
	// A 33 MiB body is refused before it is parsed.
	big := strings.NewReader(`{"policy":"` + strings.Repeat("a", 33<<20) + `"}`)
	if code, _ := s.raw(t, "PUT", "/v1/sys/policies/acl/big", s.Root, big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("33 MiB body: %d", code)
	}
	// Namespaces and wrapping are refused clearly rather than ignored.
	c := s.client(t, s.Root)
	c.SetNamespace("team-a")
	if _, err := c.Logical().Read("sys/mounts"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("namespace: %v", err)
	}
}

func TestEveryRequestIsAudited(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	if err := s.Client.Sys().PutPolicy("p", `path "x" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Audit.Tail(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Type != "broker.request" || recs[1].Type != "broker.response" {
		t.Fatalf("records %+v", recs)
	}
	var req struct {
		Request struct {
			ID, Path, Operation, ClientToken string
			Data                             map[string]any
		}
	}
	if err := json.Unmarshal(recs[0].Body, &req); err != nil {
		t.Fatal(err)
	}
	body := string(recs[0].Body) + string(recs[1].Body)
	if strings.Contains(body, s.Root) || strings.Contains(body, `path \"x\"`) {
		t.Fatalf("audit holds a plain secret or request value: %s", body)
	}
	// sys/audit-hash gives the same HMAC the log holds.
	h, err := s.Client.Sys().AuditHash("any", s.Root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(recs[0].Body), h) {
		t.Fatalf("audit-hash %s not found in the request record", h)
	}
	// If the log cannot be written, the request is refused.
	refuseInserts(t, s.DB, "audit_log", "")
	if _, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{}); statusOf(err) != http.StatusInternalServerError {
		t.Fatalf("request without audit: %v", err)
	}
	allowInserts(t, s.DB, "audit_log")
	if rep, err := s.Audit.Verify(context.Background()); err != nil || rep.Broken != nil {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
