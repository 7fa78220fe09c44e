package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/clocktest"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/web"
)

// canary is the value of a sensitive variable; no page may contain it.
const canary = "canary-6b1f0e9d-sensitive-value"

// browser is a cookie-keeping HTTP client of one daemon that does not
// follow redirects, so each answer is seen as sent.
type browser struct {
	t      *testing.T
	base   string
	c      *http.Client
	origin string
	pages  map[string]string // every page fetched, for the canary scan
}

func newBrowser(t *testing.T, srv *daemontest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	c := srv.HTTPClient(t)
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, base: srv.D.URL(), c: c, origin: srv.D.URL(), pages: map[string]string{}}
}

func (b *browser) do(method, path string, form url.Values, origin string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	b.pages[method+" "+path] = string(out)
	if got := resp.Header.Get("Content-Security-Policy"); got != web.CSP {
		b.t.Errorf("%s %s: Content-Security-Policy = %q", method, path, got)
	}
	return resp, string(out)
}

func (b *browser) get(path string, want int) string {
	b.t.Helper()
	resp, body := b.do("GET", path, nil, "")
	if resp.StatusCode != want {
		b.t.Fatalf("GET %s = %d, want %d\n%s", path, resp.StatusCode, want, body)
	}
	return body
}

func (b *browser) signIn(tok string) {
	b.t.Helper()
	resp, body := b.do("POST", "/app/sign-in", url.Values{"token": {tok}, "next": {"/app/"}}, b.origin)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign-in = %d\n%s", resp.StatusCode, body)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "runcred_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/app/" {
		b.t.Fatalf("session cookie = %+v", cookie)
	}
	if strings.Contains(cookie.Value, tok) {
		b.t.Fatal("the session cookie holds the token")
	}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the page has no CSRF token")
	}
	return m[1]
}

// scan fails the test if any page fetched holds a secret.
func (b *browser) scan(secrets ...string) {
	b.t.Helper()
	for name, body := range b.pages {
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) {
				b.t.Errorf("%s contains a secret (%.12s…)", name, s)
			}
		}
	}
}

type fixture struct {
	srv             *daemontest.Server
	root            *tfe.Client
	ws              *tfe.Workspace
	run             *tfe.Run
	clock           *clocktest.Clock
	readOnlyTeamTok string
}

// setup makes organization acme, workspace prod with a sensitive variable
// and a queued run (no agent: it waits), and a team whose policy lets it
// only read.
func setup(t *testing.T, start daemontest.Starter) fixture {
	t.Helper()
	clock := clocktest.New(time.Now())
	srv := start(t, func(c *daemon.Config) { c.Now = clock.Now })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false, HTTPClient: srv.HTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")}); err != nil {
		t.Fatal(err)
	}
	ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("prod")})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []tfe.VariableCreateOptions{
		{Key: tfe.String("db_password"), Value: tfe.String(canary), Sensitive: tfe.Bool(true), Category: tfe.Category(tfe.CategoryTerraform)},
		{Key: tfe.String("TFC_AWS_PROVIDER_AUTH"), Value: tfe.String("true"), Category: tfe.Category(tfe.CategoryEnv)},
		{Key: tfe.String("region"), Value: tfe.String("eu-west-1"), Category: tfe.Category(tfe.CategoryTerraform)},
	} {
		if _, err := root.Variables.Create(ctx, ws.ID, v); err != nil {
			t.Fatal(err)
		}
	}
	cv, err := root.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := writeFile(dir, "main.tf", `resource "terraform_data" "x" {}`); err != nil {
		t.Fatal(err)
	}
	if err := root.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		t.Fatal(err)
	}
	run, err := root.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, Message: tfe.String("ui test")})
	if err != nil {
		t.Fatal(err)
	}
	team, err := root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("auditors")})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := root.TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.NewClient(&vault.Config{Address: srv.D.URL()})
	if err != nil {
		t.Fatal(err)
	}
	v.SetToken(srv.Token)
	if err := v.Sys().PutPolicy("team-"+team.ID, `path "runcred/orgs/acme" { capabilities = ["read"] }
path "runcred/orgs/acme/*" { capabilities = ["read", "list"] }`); err != nil {
		t.Fatal(err)
	}
	return fixture{srv: srv, root: root, ws: ws, run: run, clock: clock, readOnlyTeamTok: tt.Token}
}

// TestSecurity: sign-in, CSP on every response, no secret on any page,
// CSRF and Origin checks, a read-only team's pages and forged posts, and
// the session's end at sign-out and at expiry; on both databases.
func TestSecurity(t *testing.T) { daemontest.Each(t, testSecurity) }

func testSecurity(t *testing.T, start daemontest.Starter) {
	f := setup(t, start)
	run := "/app/runs/" + f.run.ID

	anon := newBrowser(t, f.srv)
	if resp, _ := anon.do("GET", "/app/", nil, ""); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/app/sign-in") {
		t.Fatalf("an anonymous browser was not sent to sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, err := anon.c.Get(f.srv.D.URL() + "/"); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app/" {
		t.Fatalf("/ does not redirect to /app/: %v %v", resp, err)
	}
	anon.get("/app/sign-in", http.StatusOK)
	anon.get("/app/static/htmx-2.0.11.min.js", http.StatusOK)
	// Sign-in from another origin, without an origin, with a bad token.
	for name, c := range map[string]struct {
		origin, token string
		want          int
	}{
		"other origin": {"http://evil.example", f.srv.Token, http.StatusForbidden},
		"no origin":    {"", f.srv.Token, http.StatusForbidden},
		"bad token":    {anon.origin, "hvs.not-a-token", http.StatusUnauthorized},
		"no token":     {anon.origin, "", http.StatusUnprocessableEntity},
	} {
		if resp, body := anon.do("POST", "/app/sign-in", url.Values{"token": {c.token}}, c.origin); resp.StatusCode != c.want || len(resp.Cookies()) != 0 {
			t.Errorf("sign-in with %s = %d (cookies %v), want %d\n%s", name, resp.StatusCode, resp.Cookies(), c.want, body)
		}
	}

	admin := newBrowser(t, f.srv)
	admin.signIn(f.srv.Token)
	orgs := admin.get("/app/", http.StatusOK)
	if !strings.Contains(orgs, `href="/app/orgs/acme"`) {
		t.Fatalf("organizations page lacks acme:\n%s", orgs)
	}
	list := admin.get("/app/orgs/acme", http.StatusOK)
	for _, want := range []string{"prod", "AWS direct", "plan_queued", "unlocked", "default pool"} {
		if !strings.Contains(list, want) {
			t.Errorf("workspaces page lacks %q", want)
		}
	}
	wsPage := admin.get("/app/orgs/acme/workspaces/prod", http.StatusOK)
	for _, want := range []string{"db_password", "sensitive — write only", "eu-west-1", "TFC_AWS_PROVIDER_AUTH"} {
		if !strings.Contains(wsPage, want) {
			t.Errorf("workspace page lacks %q", want)
		}
	}
	runPage := admin.get(run, http.StatusOK)
	if !strings.Contains(runPage, "Cancel run") || !strings.Contains(runPage, "No policy checks") {
		t.Errorf("run page lacks the cancel button or the policy section:\n%s", runPage)
	}
	admin.get(run+"?part=summary", http.StatusOK)
	audit := admin.get("/app/audit?workspace=prod&event=platform.run", http.StatusOK)
	if !strings.Contains(audit, "Chain verified") || !strings.Contains(audit, "platform.run.create") || strings.Contains(audit, "platform.variable.create") {
		t.Errorf("audit page of the workspace's runs lacks the verified chain or the run's creation, or is not filtered:\n%s", audit)
	}
	if got := admin.get("/app/audit?since=2999-01-01T00:00", http.StatusOK); strings.Contains(got, "<details>") {
		t.Error("a time filter in the future kept records")
	}
	if resp, body := admin.do("GET", "/app/audit?since=yesterday", nil, ""); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "yesterday") {
		t.Errorf("a bad time filter = %d", resp.StatusCode)
	}
	ident := admin.get("/app/identity", http.StatusOK)
	for _, want := range []string{"current", "next", `href="/.well-known/openid-configuration"`, "/.well-known/jwks"} {
		if !strings.Contains(ident, want) {
			t.Errorf("identity page lacks %q", want)
		}
	}
	brk := admin.get("/app/broker", http.StatusOK)
	if !strings.Contains(brk, "token/") || !strings.Contains(brk, "root") || strings.Contains(brk, "may not") {
		t.Errorf("the root token's broker page lacks the token auth method or the root policy:\n%s", brk)
	}
	for _, p := range []string{"/app/no/such/page", "/app/runs/run-nosuchrun", "/app/orgs/nosuchorg"} {
		body := admin.get(p, http.StatusNotFound)
		if !strings.Contains(body, "Not found") || strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
			t.Errorf("%s: not a clear error page:\n%s", p, body)
		}
	}
	csrf := csrfOf(t, runPage)

	// State-changing requests: without the CSRF token, with another's,
	// from another origin: all refused, and the run is untouched.
	for name, c := range map[string]struct {
		form   url.Values
		origin string
	}{
		"no csrf":      {url.Values{}, admin.origin},
		"wrong csrf":   {url.Values{"csrf": {"x" + csrf}}, admin.origin},
		"other origin": {url.Values{"csrf": {csrf}}, "http://evil.example"},
		"no origin":    {url.Values{"csrf": {csrf}}, ""},
	} {
		if resp, _ := admin.do("POST", run+"/cancel", c.form, c.origin); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cancel with %s = %d, want 403", name, resp.StatusCode)
		}
	}
	if r, err := f.root.Runs.Read(context.Background(), f.run.ID); err != nil || r.Status != tfe.RunPlanQueued {
		t.Fatalf("a refused post changed the run: %v %v", r.Status, err)
	}

	// A read-only team sees the run but no buttons, and its forged posts,
	// with its own valid CSRF token, are refused by the run service.
	ro := newBrowser(t, f.srv)
	ro.signIn(f.readOnlyTeamTok)
	roRun := ro.get(run, http.StatusOK)
	if strings.Contains(roRun, "<button type=\"submit\" class=\"act-") {
		t.Errorf("a read-only team sees action buttons:\n%s", roRun)
	}
	roCSRF := csrfOf(t, roRun) // the sign-out form's
	for _, a := range []string{"cancel", "apply", "discard"} {
		if resp, _ := ro.do("POST", run+"/"+a, url.Values{"csrf": {roCSRF}}, ro.origin); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a read-only team's %s = %d, want 403", a, resp.StatusCode)
		}
	}
	if r, err := f.root.Runs.Read(context.Background(), f.run.ID); err != nil || r.Status != tfe.RunPlanQueued {
		t.Fatalf("a read-only team changed the run: %v %v", r.Status, err)
	}
	if got := ro.get("/app/orgs/acme/workspaces/prod", http.StatusOK); strings.Contains(got, "Save settings") {
		t.Error("a read-only team sees the settings form")
	}
	settings := url.Values{"csrf": {roCSRF}, "description": {"forged"}, "auto_apply": {"true"}}
	if resp, _ := ro.do("POST", "/app/orgs/acme/workspaces/prod/settings", settings, ro.origin); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a read-only team's settings post = %d, want 403", resp.StatusCode)
	}
	if got := ro.get("/app/broker", http.StatusOK); !strings.Contains(got, "may not") || strings.Contains(got, "Revoke") {
		t.Errorf("a read-only team's broker page:\n%s", got)
	}
	if resp, _ := ro.do("GET", "/app/audit", nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a read-only team read the audit log: %d", resp.StatusCode)
	}

	// The admin may cancel, with the token and from the page's origin.
	if resp, body := admin.do("POST", run+"/cancel", url.Values{"csrf": {csrf}}, admin.origin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel = %d\n%s", resp.StatusCode, body)
	}
	if r, err := f.root.Runs.Read(context.Background(), f.run.ID); err != nil || r.Status != tfe.RunCanceled {
		t.Fatalf("after cancel the run is %v (%v)", r.Status, err)
	}
	if got := admin.get("/app/audit?run="+f.run.ID, http.StatusOK); !strings.Contains(got, "platform.run.cancel") {
		t.Errorf("the run's audit records lack its cancel:\n%s", got)
	}

	// An admin changes the workspace's settings; a bad value is refused by name.
	if !strings.Contains(wsPage, "Save settings") {
		t.Error("the admin's workspace page has no settings form")
	}
	settings = url.Values{"csrf": {csrf}, "description": {"payments"}, "auto_apply": {"maybe"}}
	if resp, body := admin.do("POST", "/app/orgs/acme/workspaces/prod/settings", settings, admin.origin); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "auto_apply") {
		t.Errorf("a bad auto_apply = %d", resp.StatusCode)
	}
	settings.Set("auto_apply", "true")
	if resp, body := admin.do("POST", "/app/orgs/acme/workspaces/prod/settings", settings, admin.origin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("settings = %d\n%s", resp.StatusCode, body)
	}
	if got, err := f.root.Workspaces.ReadByID(context.Background(), f.ws.ID); err != nil || !got.AutoApply || got.Description != "payments" {
		t.Errorf("after the settings post the workspace is %+v (%v)", got, err)
	}

	admin.get("/app/audit", http.StatusOK) // every record's body, for the scan below
	admin.scan(canary, f.srv.Token, f.readOnlyTeamTok)
	ro.scan(canary, f.srv.Token, f.readOnlyTeamTok)
	anon.scan(canary, f.srv.Token, f.readOnlyTeamTok)

	// Sign-out ends the session on the server: the old cookie no longer works.
	cookies := admin.c.Jar.Cookies(mustURL(t, admin.base+"/app/"))
	if resp, _ := admin.do("POST", "/app/sign-out", url.Values{"csrf": {csrf}}, admin.origin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %d", resp.StatusCode)
	}
	replay := newBrowser(t, f.srv)
	replay.c.Jar.SetCookies(mustURL(t, admin.base+"/app/"), cookies)
	if resp, _ := replay.do("GET", "/app/", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a signed-out session's cookie still works: %d", resp.StatusCode)
	}

	// Idle expiry: the read-only team's session ends after 30 idle minutes.
	ro.get("/app/", http.StatusOK)
	f.clock.Add(web.DefaultIdleTimeout - time.Second)
	ro.get("/app/", http.StatusOK) // used in time: still alive
	f.clock.Add(web.DefaultIdleTimeout)
	if resp, _ := ro.do("GET", "/app/", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an idle session outlived its timeout: %d", resp.StatusCode)
	}
}

// TestSecureCookie: over HTTPS the session cookie is Secure.
func TestSecureCookie(t *testing.T) {
	srv := daemontest.Start(t, daemontest.TLS(t))
	b := newBrowser(t, srv)
	resp, body := b.do("POST", "/app/sign-in", url.Values{"token": {srv.Token}}, srv.D.URL())
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("sign-in over HTTPS = %d, cookies %v\n%s", resp.StatusCode, resp.Cookies(), body)
	}
}

// TestSessionMaxAge: a session in constant use still ends MaxAge after
// sign-in.
func TestSessionMaxAge(t *testing.T) {
	clock := clocktest.New(time.Now())
	srv := daemontest.Start(t, func(c *daemon.Config) { c.Now = clock.Now })
	b := newBrowser(t, srv)
	b.signIn(srv.Token)
	for passed := time.Duration(0); passed < web.DefaultMaxAge-web.DefaultIdleTimeout; passed += web.DefaultIdleTimeout / 2 {
		b.get("/app/identity", http.StatusOK)
		clock.Add(web.DefaultIdleTimeout / 2)
	}
	clock.Add(web.DefaultIdleTimeout)
	if resp, _ := b.do("GET", "/app/identity", nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a session outlived its maximum age: %d", resp.StatusCode)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
