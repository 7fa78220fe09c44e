package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/fail"
)

// The operator verbs are tested against a whole runcred server started
// in-process, through Main, as a user would run them.

type testServer struct {
	*daemontest.Server
	t *testing.T
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	return &testServer{Server: daemontest.Start(t, nil), t: t}
}

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// runcred runs the command line as the root token.
func (s *testServer) runcred(stdin string, args ...string) result {
	s.t.Helper()
	return s.as(s.Token, stdin, args...)
}

// as runs the command line with token (none when "") against s.
func (s *testServer) as(token, stdin string, args ...string) result {
	s.t.Helper()
	// The connection flags go before a "--", after which everything is an
	// argument, as a user would write them.
	end := len(args)
	if i := slices.Index(args, "--"); i >= 0 {
		end = i
	}
	full := append(append([]string{}, args[:end]...), "--addr", s.D.URL())
	if token != "" {
		full = append(full, "--token", token)
	}
	full = append(full, args[end:]...)
	var out, errb bytes.Buffer
	code := Main(full, strings.NewReader(stdin), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs the command line as root and fails the test unless it succeeds.
func (s *testServer) ok(args ...string) string {
	s.t.Helper()
	r := s.runcred("", args...)
	if r.code != 0 {
		s.t.Fatalf("runcred %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs the command line as token and checks it exits code with
// stderr mentioning want.
func (s *testServer) fails(token string, code int, want string, args ...string) {
	s.t.Helper()
	r := s.as(token, "", args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		s.t.Fatalf("runcred %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(args, " "), r.code, r.stderr, code, want)
	}
}

// api is a go-tfe client of s as root, to check what the server holds.
func (s *testServer) api() *tfe.Client {
	s.t.Helper()
	c, err := tfe.NewClient(&tfe.Config{Address: s.D.URL(), Token: s.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// rootCtx is a context whose caller is root, for calling the platform
// service directly as the run engine does.
func rootCtx() context.Context {
	return access.WithCaller(context.Background(), access.Caller{DisplayName: "test", Policies: []string{"root"}})
}

// token makes a token with policies (and no default policy) through the broker.
func (s *testServer) token(policies ...string) string {
	s.t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = s.D.URL()
	vc, err := vault.NewClient(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	vc.SetToken(s.Token)
	sec, err := vc.Auth().Token().Create(&vault.TokenCreateRequest{Policies: policies, NoDefaultPolicy: len(policies) > 0})
	if err != nil {
		s.t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// policy writes a broker ACL policy.
func (s *testServer) policy(name, hcl string) {
	s.t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = s.D.URL()
	vc, err := vault.NewClient(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	vc.SetToken(s.Token)
	if err := vc.Sys().PutPolicy(name, hcl); err != nil {
		s.t.Fatal(err)
	}
}

func TestParseWorkspaceRef(t *testing.T) {
	for _, tc := range []struct {
		in        string
		org, name string
	}{
		{"demo/ws1", "demo", "ws1"},
		{"my-org/app_prod-2", "my-org", "app_prod-2"},
		{"demo", "", ""},
		{"demo/", "", ""},
		{"/ws1", "", ""},
		{"demo/ws1/x", "", ""},
		{"demo//ws1", "", ""},
		{"de mo/ws1", "", ""},
		{"demo/ws:1", "", ""},
		{"demo/ws*", "", ""},
		{"", "", ""},
		{"demo/" + strings.Repeat("a", 200), "", ""},
	} {
		ref, err := parseWorkspaceRef(tc.in)
		if tc.org == "" {
			if fail.KindOf(err) != fail.Invalid {
				t.Errorf("parseWorkspaceRef(%q) = %v, %v; want an invalid error", tc.in, ref, err)
			}
			continue
		}
		if err != nil || ref.org != tc.org || ref.name != tc.name {
			t.Errorf("parseWorkspaceRef(%q) = %+v, %v; want %s/%s", tc.in, ref, err, tc.org, tc.name)
		}
	}
}

func FuzzParseWorkspaceRef(f *testing.F) {
	for _, s := range []string{"demo/ws1", "a/b/c", "/", "x/\x1b[2J", "d\xffo/w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseWorkspaceRef(s)
		if err != nil {
			if fail.KindOf(err) != fail.Invalid {
				t.Fatalf("parseWorkspaceRef(%q): %v is not an invalid-input error", s, err)
			}
			return
		}
		if ref.String() != s || strings.ContainsAny(ref.org+ref.name, "/:*+ \x00") {
			t.Fatalf("parseWorkspaceRef(%q) accepted %+v", s, ref)
		}
	})
}

func TestQuoteShowsControlCharactersEscaped(t *testing.T) {
	for in, want := range map[string]string{
		"plain value":  "plain value",
		"x\x1b[2Jy":    `"x\x1b[2Jy"`,
		"a\tb":         `"a\tb"`,
		"line\nbreak":  `"line\nbreak"`,
		"bad\xffutf8":  `"bad\xffutf8"`,
		"unicode é ok": "unicode é ok",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Every verb needs a token; without one it says where a token comes from.
func TestVerbsWithoutATokenAreRefused(t *testing.T) {
	s := startServer(t)
	t.Setenv("RUNCRED_TOKEN", "")
	t.Setenv("RUNCRED_TOKEN_FILE", "")
	for _, args := range [][]string{
		{"workspace", "list", "demo"},
		{"workspace", "create", "demo/ws1", "--create-org"},
		{"var", "list", "demo/ws1"},
		{"run", "show", "run-abc"},
		{"state", "pull", "demo/ws1"},
	} {
		s.fails("", 1, "no API token: pass --token or set RUNCRED_TOKEN", args...)
	}
}

func TestUnknownTokenIsRefused(t *testing.T) {
	s := startServer(t)
	s.fails("hvs.not-a-token", 1, "did not accept the API token", "workspace", "list", "demo")
	s.fails("hvs.not-a-token", 1, "did not accept the API token", "workspace", "create", "demo/ws1", "--create-org")
}

// A token whose policies grant nothing sees nothing; one granted reading a
// workspace may read it and nothing more.
func TestTokenWithoutGrantsIsRefused(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/ws1", "--create-org")
	s.ok("var", "set", "demo/ws1", "region", "us-east-1")

	none := s.token("default")
	s.fails(none, 1, "workspace demo/ws1 not found, or the token may not see it", "workspace", "show", "demo/ws1")
	s.fails(none, 1, "not found, or the token may not see it", "workspace", "list", "demo")
	s.fails(none, 1, "not found, or the token may not see it", "var", "list", "demo/ws1")
	s.fails(none, 1, "organization demo not found, or the token may not create workspaces in it", "workspace", "create", "demo/ws2")
	s.fails(none, 1, "not found, or the token may not see it", "run", "start", "demo/ws1", t.TempDir(), "--no-follow")
	s.fails(none, 1, "not found, or the token may not see it", "state", "pull", "demo/ws1")

	s.policy("ws1-reader", `path "runcred/orgs/demo/workspaces/ws1" { capabilities = ["read"] }`)
	reader := s.token("ws1-reader")
	if r := s.as(reader, "", "workspace", "show", "demo/ws1"); r.code != 0 || !strings.Contains(r.stdout, "demo/ws1") {
		t.Fatalf("a token that may read the workspace: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	s.fails(reader, 1, "not found, or the token may not see it", "var", "set", "demo/ws1", "region", "eu-west-1")
	s.fails(reader, 1, "not found, or the token may not see it", "run", "start", "demo/ws1", t.TempDir(), "--no-follow")
	if out := s.ok("var", "list", "demo/ws1"); !strings.Contains(out, "us-east-1") {
		t.Fatalf("a refused var set changed the variable:\n%s", out)
	}
}
