package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/clocktest"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

var rootCtx = access.WithCaller(context.Background(), access.Caller{Accessor: "test", Policies: []string{"root"}})

func testPolicy() identity.Policy {
	return identity.Policy{KeyLifetime: 24 * time.Hour, PublishLead: 10 * time.Minute, MaxTokenTTL: 2 * time.Hour, Leeway: 5 * time.Minute, KeyBits: 2048}
}

// env is one issuer served over real HTTP on 127.0.0.1.
type env struct {
	url   string // the issuer URL (iss); may differ from srv.URL, as behind a load balancer
	iss   *identity.Issuer
	srv   *httptest.Server
	clock *clocktest.Clock
	audit *audit.Log
	db    *store.DB
}

var (
	rootKeyOnce sync.Once
	rootKey     seal.RootKey
)

func testRootKey(t testing.TB) seal.RootKey {
	rootKeyOnce.Do(func() {
		k, err := seal.ParseRootKey([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
		if err != nil {
			t.Fatal(err)
		}
		rootKey = k
	})
	return rootKey
}

func newEnv(t *testing.T, db *store.DB, c *clocktest.Clock) *env { return newEnvAt(t, db, c, "") }

// newEnvAt serves an issuer whose iss is issuer (default: its own address).
func newEnvAt(t *testing.T, db *store.DB, c *clocktest.Clock, issuer string) *env {
	t.Helper()
	ctx := context.Background()
	sl, err := seal.Open(ctx, db, testRootKey(t))
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(db, secret.FromString("audit-key"), c.Now)
	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	url := issuer
	if url == "" {
		url = "http://" + srv.Listener.Addr().String()
	}
	iss, err := identity.New(ctx, identity.Config{
		Issuer: url, Policy: testPolicy(), DefaultTokenTTL: time.Hour, RefreshInterval: time.Second, Now: c.Now,
		Logger: slog.New(slog.DiscardHandler),
	}, db, sl, log, access.RootOnly{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	identity.Handlers{Issuer: iss}.Mount(mux)
	h = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{url: url, iss: iss, srv: srv, clock: c, audit: log, db: db}
}

func newClock() *clocktest.Clock { return clocktest.New(time.Now().Truncate(time.Second)) }

func req(phase jobapi.Phase) identity.MintRequest {
	return identity.MintRequest{
		Subject:  identity.Subject{Organization: "my-org", Project: "Default Project", Workspace: "my-workspace", RunID: "run-X3n1AUXNGWbfECsJ", Phase: phase},
		Audience: "aws.workload.identity",
	}
}

func (e *env) mint(t *testing.T, r identity.MintRequest) identity.Token {
	t.Helper()
	tok, err := e.iss.Mint(rootCtx, r)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// verifier checks tokens the way any relying party does: discovery, then JWKS.
func (e *env) verifier(t *testing.T, aud string) *oidc.IDTokenVerifier {
	t.Helper()
	ctx := oidc.InsecureIssuerURLContext(context.Background(), e.url) // discovery at srv.URL, iss e.url
	p, err := oidc.NewProvider(ctx, e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return p.Verifier(&oidc.Config{ClientID: aud, Now: e.clock.Now, SupportedSigningAlgs: []string{"RS256"}})
}

func payload(t *testing.T, tok identity.Token) map[string]any {
	t.Helper()
	parts := strings.Split(tok.Token.RevealString(), ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMintHasExactlyHCPTerraformClaims(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, newClock())
		r := req("apply")
		r.TTL = 20 * time.Minute
		tok := e.mint(t, r)
		m := payload(t, tok)

		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		want := []string{"aud", "exp", "iat", "iss", "jti", "nbf", "sub",
			"terraform_full_workspace", "terraform_organization_id", "terraform_organization_name",
			"terraform_project_id", "terraform_project_name", "terraform_run_id", "terraform_run_phase",
			"terraform_workspace_id", "terraform_workspace_name"}
		if strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Fatalf("claims = %v\nwant     %v", keys, want)
		}
		iat := int64(m["iat"].(float64))
		checks := map[string]any{
			"iss": e.url, "aud": "aws.workload.identity",
			"sub":                         "organization:my-org:project:Default Project:workspace:my-workspace:run_phase:apply",
			"terraform_full_workspace":    "organization:my-org:project:Default Project:workspace:my-workspace",
			"terraform_organization_name": "my-org", "terraform_project_name": "Default Project",
			"terraform_workspace_name": "my-workspace", "terraform_run_id": "run-X3n1AUXNGWbfECsJ", "terraform_run_phase": "apply",
			"nbf": float64(iat - 5), "exp": float64(iat + 1200),
		}
		for k, v := range checks {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		for k, prefix := range map[string]string{"terraform_organization_id": "org-", "terraform_project_id": "prj-", "terraform_workspace_id": "ws-"} {
			if s, _ := m[k].(string); !strings.HasPrefix(s, prefix) {
				t.Errorf("%s = %v, want %s…", k, m[k], prefix)
			}
		}
		if jti, _ := m["jti"].(string); len(jti) != 36 || jti != tok.JTI {
			t.Errorf("jti = %v", m["jti"])
		}
		hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Token.RevealString(), ".")[0])
		var h map[string]string
		_ = json.Unmarshal(hdr, &h)
		if h["alg"] != "RS256" || h["typ"] != "JWT" || len(h["kid"]) != 43 || h["kid"] != tok.KeyID {
			t.Errorf("header = %v", h)
		}
		// Given IDs are used as they are.
		r.OrganizationID, r.ProjectID, r.WorkspaceID = "org-GRNbCjYNpBB6NEH9", "prj-vegSA59s1XPwMr2t", "ws-mbsd5E3Ktt5Rg2Xm"
		m = payload(t, e.mint(t, r))
		if m["terraform_workspace_id"] != "ws-mbsd5E3Ktt5Rg2Xm" || m["terraform_project_id"] != "prj-vegSA59s1XPwMr2t" {
			t.Errorf("ids not used: %v", m)
		}
	})
}

func TestGoOIDCVerifiesThroughDiscovery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, newClock())
		tok := e.mint(t, req("plan"))
		idt, err := e.verifier(t, "aws.workload.identity").Verify(context.Background(), tok.Token.RevealString())
		if err != nil {
			t.Fatal(err)
		}
		if idt.Subject != tok.Subject || idt.Issuer != e.url {
			t.Fatalf("verified %q from %q", idt.Subject, idt.Issuer)
		}
		// Other audience, expired, tampered: refused.
		if _, err := e.verifier(t, "other").Verify(context.Background(), tok.Token.RevealString()); err == nil {
			t.Error("token for another audience accepted")
		}
		parts := strings.Split(tok.Token.RevealString(), ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(claims), "my-workspace", "other-wspace", 2)
		bad := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		if _, err := e.verifier(t, "aws.workload.identity").Verify(context.Background(), bad); err == nil {
			t.Error("token with altered claims accepted")
		}
		e.clock.Add(time.Hour + time.Second)
		if _, err := e.verifier(t, "aws.workload.identity").Verify(context.Background(), tok.Token.RevealString()); err == nil {
			t.Error("expired token accepted")
		}
	})
}

func jwksKids(t *testing.T, e *env) map[string]bool {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/.well-known/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, Kty, Alg, Use, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" || k.E != "AQAB" || len(k.N) < 342 {
			t.Errorf("bad JWK %+v", k)
		}
		out[k.Kid] = true
	}
	return out
}

func TestRotationLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, newClock())
		p := testPolicy()

		old := e.mint(t, req("plan"))
		next := mustKeys(t, e.iss)[identity.Next]
		if !jwksKids(t, e)[next] {
			t.Fatal("next key not published before it signs")
		}
		// Too early: the next key has not been published for PublishLead yet.
		if _, err := e.iss.Rotate(rootCtx, false); !fail.Is(err, fail.Conflict) {
			t.Fatalf("early rotation: got %v, want conflict", err)
		}
		e.clock.Add(p.PublishLead)
		res, err := e.iss.Rotate(rootCtx, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Current != next || res.Retired != old.KeyID {
			t.Fatalf("rotate = %+v; want current %s retired %s", res, next, old.KeyID)
		}
		// Operators see when the retired key will leave the JWKS; only it has a time.
		keys, err := e.iss.Keys(rootCtx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			want := time.Time{}
			if k.ID == old.KeyID {
				want = e.clock.Now().Add(p.MaxTokenTTL + p.Leeway)
			}
			if !k.RemovedAt.Equal(want) {
				t.Fatalf("key %s (%s) is removed at %v, want %v", k.ID, k.State, k.RemovedAt, want)
			}
		}
		fresh := e.mint(t, req("plan"))
		if fresh.KeyID != next {
			t.Fatalf("new token signed by %s, want %s", fresh.KeyID, next)
		}
		kids := jwksKids(t, e)
		if !kids[old.KeyID] || !kids[next] || !kids[res.Next] || len(kids) != 3 {
			t.Fatalf("JWKS after rotation = %v", kids)
		}
		v := e.verifier(t, "aws.workload.identity")
		for _, tok := range []identity.Token{old, fresh} {
			if _, err := v.Verify(ctx, tok.Token.RevealString()); err != nil {
				t.Fatalf("token by %s after rotation: %v", tok.KeyID, err)
			}
		}
		// The retired key stays published until MaxTokenTTL + Leeway after it retired…
		e.clock.Add(p.MaxTokenTTL + p.Leeway - time.Second)
		if err := e.iss.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if !jwksKids(t, e)[old.KeyID] {
			t.Fatal("retired key removed before its tokens could have expired")
		}
		// …and is removed after.
		e.clock.Add(time.Second)
		if err := e.iss.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if jwksKids(t, e)[old.KeyID] {
			t.Fatal("retired key still published after every token it signed expired")
		}
		types := auditTypes(t, e.audit)
		if !strings.Contains(types, "identity.rotate") || !strings.Contains(types, "identity.unpublish") {
			t.Fatalf("audit lacks rotation records: %s", types)
		}
	})
}

func auditTypes(t *testing.T, l *audit.Log) string {
	recs, err := l.Tail(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ts []string
	for _, r := range recs {
		ts = append(ts, r.Type)
	}
	return strings.Join(ts, ",")
}

func mustKeys(t *testing.T, iss *identity.Issuer) map[identity.KeyState]string {
	keys, err := iss.Keys(rootCtx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[identity.KeyState]string{}
	for _, k := range keys {
		out[k.State] = k.ID
	}
	return out
}

func TestAutomaticRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, newClock())
		before := mustKeys(t, e.iss)
		e.clock.Add(testPolicy().KeyLifetime - time.Second)
		if err := e.iss.Maintain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if mustKeys(t, e.iss)[identity.Current] != before[identity.Current] {
			t.Fatal("rotated before the key lifetime ended")
		}
		e.clock.Add(time.Second)
		if err := e.iss.Maintain(context.Background()); err != nil {
			t.Fatal(err)
		}
		after := mustKeys(t, e.iss)
		if after[identity.Current] != before[identity.Next] || after[identity.Retired] != before[identity.Current] {
			t.Fatalf("after lifetime: %v (before %v)", after, before)
		}
	})
}

// Two nodes on one database: both serve the same keys; rotating on both at
// once makes exactly one new key.
func TestTwoNodesRotateOnce(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url := b.NewURL(t)
			c := newClock()
			a := newEnv(t, storetest.Open(t, url), c)
			bnode := newEnv(t, storetest.Open(t, url), c)
			if ka, kb := jwksKids(t, a), jwksKids(t, bnode); len(ka) != 2 || !equal(ka, kb) {
				t.Fatalf("nodes disagree at start: %v vs %v", ka, kb)
			}
			c.Add(testPolicy().PublishLead)
			var wg sync.WaitGroup
			results := make([]identity.RotateResult, 2)
			errs := make([]error, 2)
			for i, e := range []*env{a, bnode} {
				wg.Add(1)
				go func() { defer wg.Done(); results[i], errs[i] = e.iss.Rotate(rootCtx, false) }()
			}
			wg.Wait()
			// The loser either raced inside the update (Concurrent) or
			// started after the winner committed, when the new next key is
			// too new to promote (409). Either way: exactly one rotation.
			rotated := 0
			for i, err := range errs {
				switch {
				case err == nil && !results[i].Concurrent:
					rotated++
				case err == nil:
				case fail.Is(err, fail.Conflict) && strings.Contains(err.Error(), "published too recently"):
				default:
					t.Fatal(err)
				}
			}
			if rotated != 1 {
				t.Fatalf("want exactly one rotation: %+v, %v", results, errs)
			}
			if errs[0] == nil && errs[1] == nil && (results[0].Current != results[1].Current || results[0].Next != results[1].Next) {
				t.Fatalf("nodes rotated differently: %+v vs %+v", results[0], results[1])
			}
			c.Add(2 * time.Second) // past the JWKS refresh interval
			ka, kb := jwksKids(t, a), jwksKids(t, bnode)
			if len(ka) != 3 || !equal(ka, kb) {
				t.Fatalf("after rotation: node a %v, node b %v (want the same 3 keys)", ka, kb)
			}
		})
	}
}

func equal(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestRestartKeepsKeys(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url := b.NewURL(t)
			c := newClock()
			first := newEnv(t, storetest.Open(t, url), c)
			tok := first.mint(t, req("plan"))
			second := newEnvAt(t, storetest.Open(t, url), c, first.url)
			if !equal(jwksKids(t, first), jwksKids(t, second)) {
				t.Fatal("keys differ after restart")
			}
			if got := second.mint(t, req("plan")); got.KeyID != tok.KeyID {
				t.Fatalf("restarted node signs with %s, want %s", got.KeyID, tok.KeyID)
			}
			if _, err := second.verifier(t, "aws.workload.identity").Verify(context.Background(), tok.Token.RevealString()); err != nil {
				t.Fatalf("token from before restart: %v", err)
			}
		})
	}
}

func TestKeysSealedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		newEnv(t, db, newClock())
		var sealed []byte
		if err := db.QueryRow(context.Background(), `SELECT sealed FROM keyring WHERE id = 1`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		for _, plain := range []string{"private_pkcs8", "kid", "current", "MII"} {
			if strings.Contains(string(sealed), plain) {
				t.Fatalf("keyring row holds %q in the clear", plain)
			}
		}
	})
}

func TestMintFailsClosedWithoutAudit(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url := b.NewURL(t)
			db := storetest.Open(t, url)
			c := newClock()
			sl, err := seal.Open(context.Background(), db, testRootKey(t))
			if err != nil {
				t.Fatal(err)
			}
			// The audit log sits on a handle that is closed: every append fails.
			broken := storetest.Open(t, url)
			broken.Close()
			iss, err := identity.New(context.Background(), identity.Config{
				Issuer: "http://127.0.0.1:1", Policy: testPolicy(), DefaultTokenTTL: time.Hour, RefreshInterval: time.Second, Now: c.Now,
			}, db, sl, audit.New(broken, secret.FromString("k"), c.Now), access.RootOnly{})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := iss.Mint(rootCtx, req("plan"))
			if err == nil || !tok.Token.Empty() {
				t.Fatalf("mint without audit: token=%v err=%v", !tok.Token.Empty(), err)
			}
			if fail.KindOf(err) != fail.Unavailable {
				t.Fatalf("kind = %v, want unavailable", fail.KindOf(err))
			}
		})
	}
}

func TestMintDenials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, newClock())
		if _, err := e.iss.Mint(context.Background(), req("plan")); !fail.Is(err, fail.Unauthenticated) {
			t.Errorf("anonymous mint: %v", err)
		}
		user := access.WithCaller(context.Background(), access.Caller{Policies: []string{"default"}})
		if _, err := e.iss.Mint(user, req("plan")); !fail.Is(err, fail.Denied) {
			t.Errorf("non-root mint: %v", err)
		}
		if _, err := e.iss.Rotate(user, false); !fail.Is(err, fail.Denied) {
			t.Errorf("non-root rotate: %v", err)
		}
		if _, err := e.iss.Keys(context.Background()); !fail.Is(err, fail.Unauthenticated) {
			t.Errorf("anonymous keys: %v", err)
		}

		long := strings.Repeat("a", identity.MaxNameLen+1)
		bad := map[string]func(*identity.MintRequest){
			"colon in workspace":     func(r *identity.MintRequest) { r.Workspace = "ws:run_phase:apply" },
			"colon in project":       func(r *identity.MintRequest) { r.Project = "p:workspace:x" },
			"colon in org":           func(r *identity.MintRequest) { r.Organization = "o:project" },
			"empty org":              func(r *identity.MintRequest) { r.Organization = "" },
			"empty project":          func(r *identity.MintRequest) { r.Project = "" },
			"empty workspace":        func(r *identity.MintRequest) { r.Workspace = "" },
			"long workspace":         func(r *identity.MintRequest) { r.Workspace = long },
			"long project":           func(r *identity.MintRequest) { r.Project = long },
			"space in workspace":     func(r *identity.MintRequest) { r.Workspace = "my ws" },
			"leading space project":  func(r *identity.MintRequest) { r.Project = " Default" },
			"trailing space project": func(r *identity.MintRequest) { r.Project = "Default " },
			"unicode workspace":      func(r *identity.MintRequest) { r.Workspace = "wś" },
			"unknown phase":          func(r *identity.MintRequest) { r.Phase = "destroy" },
			"empty phase":            func(r *identity.MintRequest) { r.Phase = "" },
			"bad run id":             func(r *identity.MintRequest) { r.RunID = "x" },
			"run id with colon":      func(r *identity.MintRequest) { r.RunID = "run-a:b" },
			"bad workspace id":       func(r *identity.MintRequest) { r.WorkspaceID = "org-abc" },
			"empty audience":         func(r *identity.MintRequest) { r.Audience = "" },
			"audience list":          func(r *identity.MintRequest) { r.Audience = "a,b" },
			"audience with space":    func(r *identity.MintRequest) { r.Audience = "a b" },
			"long audience":          func(r *identity.MintRequest) { r.Audience = strings.Repeat("a", identity.MaxAudienceLen+1) },
			"ttl over max":           func(r *identity.MintRequest) { r.TTL = 3 * time.Hour },
			"negative ttl":           func(r *identity.MintRequest) { r.TTL = -time.Second },
			"fractional ttl":         func(r *identity.MintRequest) { r.TTL = 1500 * time.Millisecond },
		}
		for name, mutate := range bad {
			r := req("plan")
			mutate(&r)
			_, err := e.iss.Mint(rootCtx, r)
			if !fail.Is(err, fail.Invalid) {
				t.Errorf("%s: got %v, want invalid", name, err)
			}
		}
		// Nothing refused reached the audit log: only successful mints are recorded.
		if strings.Contains(auditTypes(t, e.audit), "identity.mint") {
			t.Error("a refused mint was audited as issued")
		}
	})
}

func TestParseMintBody(t *testing.T) {
	good := `{"organization":"o","project":"Default Project","workspace":"w","run_id":"run-1","phase":"plan","audience":"a","ttl":"15m"}`
	r, err := identity.ParseMintBody([]byte(good))
	if err != nil || r.Audience != "a" || r.TTL != 15*time.Minute || r.Project != "Default Project" {
		t.Fatalf("good body: %+v %v", r, err)
	}
	if r, err := identity.ParseMintBody([]byte(strings.Replace(good, `"15m"`, `900`, 1))); err != nil || r.TTL != 15*time.Minute {
		t.Fatalf("numeric ttl: %+v %v", r, err)
	}
	// The parser's bound is a year, inclusive; Mint applies the configured maximum.
	if r, err := identity.ParseMintBody([]byte(strings.Replace(good, `"15m"`, `31536000`, 1))); err != nil || r.TTL != 365*24*time.Hour {
		t.Fatalf("a year in seconds: %+v %v", r, err)
	}
	for name, body := range map[string]string{
		"audience list":   strings.Replace(good, `"audience":"a"`, `"audience":["a","b"]`, 1),
		"audience number": strings.Replace(good, `"audience":"a"`, `"audience":1`, 1),
		"no audience":     strings.Replace(good, `"audience":"a",`, ``, 1),
		"empty audience":  strings.Replace(good, `"audience":"a"`, `"audience":""`, 1),
		"audience a,b":    strings.Replace(good, `"audience":"a"`, `"audience":"a,b"`, 1),
		"unknown field":   strings.Replace(good, `{`, `{"admin":true,`, 1),
		"bad ttl":         strings.Replace(good, `"15m"`, `"soon"`, 1),
		"zero ttl":        strings.Replace(good, `"15m"`, `0`, 1),
		"zero duration":   strings.Replace(good, `"15m"`, `"0s"`, 1),
		"over a year":     strings.Replace(good, `"15m"`, `31536001`, 1),
		"negative ttl":    strings.Replace(good, `"15m"`, `"-5m"`, 1),
		"two values":      good + good,
		"not json":        `organization=o`,
	} {
		if _, err := identity.ParseMintBody([]byte(body)); !fail.Is(err, fail.Invalid) {
			t.Errorf("%s: got %v, want invalid", name, err)
		}
	}
	_, err = identity.ParseMintBody([]byte(`{"audience":""}`))
	if msg := fail.Message(err); msg != "audience is required" {
		t.Errorf("empty audience: message %q", msg)
	}
}

func TestSubCannotBeForged(t *testing.T) {
	a := identity.Subject{Organization: "acme", Project: "Default Project", Workspace: "prod", RunID: "run-1", Phase: "apply"}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	org, proj, ws, phase, err := identity.ParseSub(a.Sub())
	if err != nil || org != "acme" || proj != "Default Project" || ws != "prod" || phase != "apply" {
		t.Fatalf("ParseSub(%q) = %q %q %q %q %v", a.Sub(), org, proj, ws, phase, err)
	}
	// A workspace trying to end its sub like another's cannot be created.
	evil := identity.Subject{Organization: "acme", Project: "Default Project", Workspace: "x:run_phase:apply", RunID: "run-1", Phase: "plan"}
	if err := evil.Validate(); err == nil {
		t.Fatal("a name with ':' validated")
	}
	if _, _, _, _, err := identity.ParseSub("organization:a:project:p:workspace:w:x:run_phase:plan"); err == nil {
		t.Fatal("ParseSub accepted a sub with an extra segment")
	}
}

// TestOtherNodeSeesRotation: a node publishes another node's rotation once
// its copy is a refresh interval old (the JWKS refreshes at one second),
// and then signs with the promoted key.
func TestOtherNodeSeesRotation(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url := b.NewURL(t)
			c := newClock()
			a := newEnv(t, storetest.Open(t, url), c)
			other := newEnv(t, storetest.Open(t, url), c)
			c.Add(testPolicy().PublishLead)
			if err := other.iss.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			rot, err := a.iss.Rotate(rootCtx, false)
			if err != nil {
				t.Fatal(err)
			}
			c.Add(time.Second)
			if kids := jwksKids(t, other); len(kids) != 3 || !kids[rot.Next] || !kids[rot.Retired] {
				t.Fatalf("other node publishes %v a second after rotation %+v", kids, rot)
			}
			if tok := other.mint(t, req("plan")); tok.KeyID != rot.Current {
				t.Fatalf("other node signs with %s, want the promoted %s", tok.KeyID, rot.Current)
			}
		})
	}
}
