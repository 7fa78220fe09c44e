package broker_test

// The tests in the api_*_test.go files drive every endpoint runcred serves
// through the official Go client (github.com/hashicorp/vault/api) against a
// real runcred listener, as the clients Terraform and CI use would. This
// file holds their shared helpers and the sys/ endpoints; the auth methods,
// KV v2, and tokens and leases have files of their own.

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// wantError fails t unless err is a Vault API error with the given HTTP
// status and, when msg is not empty, an error message beginning with msg
// (Vault's messages often end in a detail that varies).
func wantError(t testing.TB, err error, status int, msg string) {
	t.Helper()
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want HTTP %d %q, got %v", status, msg, err)
	}
	if re.StatusCode != status {
		t.Fatalf("want HTTP %d %q, got %d %q", status, msg, re.StatusCode, re.Errors)
	}
	if msg != "" && !slices.ContainsFunc(re.Errors, func(e string) bool { return strings.HasPrefix(e, msg) }) {
		t.Fatalf("HTTP %d: want message %q, got %q", status, msg, re.Errors)
	}
}

// mustWrite writes through the client and fails t on error.
func mustWrite(t testing.TB, c *vault.Client, path string, data map[string]any) *vault.Secret {
	t.Helper()
	sec, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}

// mustRead reads through the client and fails t on error or no data.
func mustRead(t testing.TB, c *vault.Client, path string) *vault.Secret {
	t.Helper()
	sec, err := c.Logical().Read(path)
	if err != nil || sec == nil {
		t.Fatalf("read %s: %v %v", path, sec, err)
	}
	return sec
}

// anon is a client with no token, as a login is made.
func (s *server) anon(t testing.TB) *vault.Client {
	t.Helper()
	c := s.client(t, "")
	c.ClearToken()
	return c
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestAPIAuthMounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		sys := s.Client.Sys()
		if err := sys.EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle", Description: "ci machines"}); err != nil {
			t.Fatal(err)
		}
		auths, err := sys.ListAuth()
		if err != nil {
			t.Fatal(err)
		}
		ar := auths["approle/"]
		if ar == nil || ar.Type != "approle" || ar.Description != "ci machines" || !strings.HasPrefix(ar.Accessor, "auth_approle_") {
			t.Fatalf("sys/auth approle/ = %+v", ar)
		}
		if tok := auths["token/"]; tok == nil || tok.Type != "token" {
			t.Fatalf("sys/auth token/ = %+v", tok)
		}
		// GetAuth reads one through sys/mounts/auth/:path.
		if one, err := sys.GetAuth("approle"); err != nil || one.Accessor != ar.Accessor {
			t.Fatalf("get auth: %+v %v", one, err)
		}

		// sys/auth/:path/tune, read and write.
		mustWrite(t, s.Client, "sys/auth/approle/tune", map[string]any{"default_lease_ttl": "1h", "max_lease_ttl": "2h", "description": "tuned"})
		tune := mustRead(t, s.Client, "sys/auth/approle/tune")
		if n, _ := tune.Data["default_lease_ttl"].(json.Number).Int64(); n != 3600 {
			t.Fatalf("tuned default_lease_ttl = %v", tune.Data)
		}
		if n, _ := tune.Data["max_lease_ttl"].(json.Number).Int64(); n != 7200 || tune.Data["description"] != "tuned" {
			t.Fatalf("tuned = %v", tune.Data)
		}
		// The client's typed read of the same, through sys/mounts/auth/.
		if mc, err := sys.MountConfig("auth/approle"); err != nil || mc.DefaultLeaseTTL != 3600 || mc.MaxLeaseTTL != 7200 {
			t.Fatalf("mount config: %+v %v", mc, err)
		}
		_, err = s.Client.Logical().Write("sys/auth/approle/tune", map[string]any{"default_lease_ttl": "3h", "max_lease_ttl": "2h"})
		wantError(t, err, http.StatusBadRequest, "default lease TTL cannot be greater than max lease TTL")
		_, err = s.Client.Logical().Read("sys/auth/nope/tune")
		wantError(t, err, http.StatusBadRequest, `cannot fetch sysview for path "auth/nope/"`)

		// Refusals: unknown or secrets types, reserved and taken paths.
		for _, bad := range []struct {
			path, typ, msg string
		}{
			{"x", "nosuch", `unknown auth method type "nosuch"`},
			{"x", "leasetest", `unknown auth method type "leasetest"`},
			{"token", "approle", `cannot mount at reserved path "auth/token/"`},
			{"approle", "approle", "path is already in use at auth/approle/"},
		} {
			err := sys.EnableAuthWithOptions(bad.path, &vault.EnableAuthOptions{Type: bad.typ})
			wantError(t, err, http.StatusBadRequest, bad.msg)
		}
		// A secrets engine cannot be slipped under auth/ through sys/mounts.
		err = sys.Mount("auth/sneaky", &vault.MountInput{Type: "leasetest"})
		wantError(t, err, http.StatusBadRequest, "auth methods are enabled and disabled under sys/auth")

		// sys/auth/* is root-protected: update without sudo is refused.
		c := s.client(t, s.policyToken(t, "auth-admin", `path "sys/auth/*" { capabilities = ["create", "read", "update", "delete"] }`))
		wantError(t, c.Sys().EnableAuthWithOptions("more", &vault.EnableAuthOptions{Type: "approle"}), http.StatusForbidden, "permission denied")
		wantError(t, c.Sys().DisableAuth("approle"), http.StatusForbidden, "permission denied")
		_, err = c.Logical().Read("sys/auth/approle/tune")
		wantError(t, err, http.StatusForbidden, "permission denied")

		if err := sys.DisableAuth("approle"); err != nil {
			t.Fatal(err)
		}
		if auths, _ := sys.ListAuth(); auths["approle/"] != nil {
			t.Fatal("disabled auth method still listed")
		}
		if err := sys.DisableAuth("approle"); err != nil { // disabling a missing mount succeeds, as in Vault
			t.Fatal(err)
		}
		wantError(t, sys.DisableAuth("token"), http.StatusBadRequest, `cannot unmount "auth/token/"`)
	})
}

func TestAPISecretMounts(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	sys := s.Client.Sys()
	in := &vault.MountInput{Type: "leasetest", Description: "dynamic", Config: vault.MountConfigInput{DefaultLeaseTTL: "20m", MaxLeaseTTL: "1h"}}
	if err := sys.Mount("lt", in); err != nil {
		t.Fatal(err)
	}
	m, err := sys.GetMount("lt")
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "leasetest" || m.Description != "dynamic" || m.Config.DefaultLeaseTTL != 1200 || m.Config.MaxLeaseTTL != 3600 || m.UUID == "" {
		t.Fatalf("get mount = %+v", m)
	}
	mc, err := sys.MountConfig("lt")
	if err != nil || mc.DefaultLeaseTTL != 1200 || mc.MaxLeaseTTL != 3600 {
		t.Fatalf("mount config = %+v %v", mc, err)
	}
	// A read of a mount that is not there is a 404; the client hands back
	// no mount.
	if _, err := sys.GetMount("nope"); err == nil {
		t.Fatal("get of a missing mount succeeded")
	}
	code, body := s.raw(t, "GET", "/v1/sys/mounts/nope", s.Root, nil)
	if code != http.StatusNotFound || body != "{\"errors\":[]}\n" {
		t.Fatalf("missing mount: %d %q", code, body)
	}
	// Remount, through the client's poll of sys/remount/status.
	if err := sys.Remount("lt", "moved/lt"); err != nil {
		t.Fatal(err)
	}
	mig, err := sys.StartRemount("moved/lt", "lt2")
	if err != nil {
		t.Fatal(err)
	}
	st, err := sys.RemountStatus(mig.MigrationID)
	if err != nil {
		t.Fatal(err)
	}
	if st.MigrationInfo.MigrationStatus != "success" || st.MigrationInfo.SourceMount != "moved/lt/" || st.MigrationInfo.TargetMount != "lt2/" {
		t.Fatalf("remount status = %+v", st.MigrationInfo)
	}
	if _, err := sys.RemountStatus("no-such-migration"); err == nil {
		t.Fatal("status of an unknown migration succeeded")
	}
	for _, bad := range []struct{ from, to, msg string }{
		{"nope", "x", `no matching mount at "nope/"`},
		{"sys", "x", `no matching mount at "sys/"`},
		{"lt2", "auth/lt2", "cannot remount between auth methods and secrets engines"},
		{"lt2", "sys/lt2", `cannot remount to reserved path "sys/lt2/"`},
	} {
		_, err := sys.StartRemount(bad.from, bad.to)
		wantError(t, err, http.StatusBadRequest, bad.msg)
	}
	// sys/remount is root-protected; sys/mounts is not.
	c := s.client(t, s.policyToken(t, "mover", `
path "sys/remount" { capabilities = ["update"] }
path "sys/mounts/*" { capabilities = ["create", "read", "update"] }
`))
	_, err = c.Sys().StartRemount("lt2", "lt3")
	wantError(t, err, http.StatusForbidden, "permission denied")
	if err := c.Sys().Mount("mine", &vault.MountInput{Type: "leasetest"}); err != nil {
		t.Fatalf("sys/mounts without sudo: %v", err)
	}
}

func TestAPIAuditFileDevice(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	sys := s.Client.Sys()
	logPath := filepath.Join(s.AuditDir, "audit.log")
	err := sys.EnableAuditWithOptions("file", &vault.EnableAuditOptions{Type: "file", Description: "shipping", Options: map[string]string{"file_path": logPath}})
	if err != nil {
		t.Fatal(err)
	}
	devices, err := sys.ListAudit()
	if err != nil {
		t.Fatal(err)
	}
	if d := devices["file/"]; d == nil || d.Type != "file" || d.Path != "file/" || d.Options["file_path"] != logPath || d.Description != "shipping" {
		t.Fatalf("sys/audit = %+v", devices)
	}
	// A request whose body and answer hold secrets: a new token.
	child, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}, Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	records := readAuditFile(t, logPath)
	var sawRequest, sawResponse bool
	for _, line := range records {
		if strings.Contains(line, s.Root) || strings.Contains(line, child.Auth.ClientToken) {
			t.Fatalf("audit file holds a plain token: %s", line)
		}
		if !strings.Contains(line, `"path":"auth/token/create"`) {
			continue
		}
		sawRequest = sawRequest || strings.Contains(line, `"type":"request"`)
		sawResponse = sawResponse || strings.Contains(line, `"type":"response"`)
	}
	if !sawRequest || !sawResponse {
		t.Fatalf("token create not in the audit file: %q", records)
	}
	// The values are HMAC'd: the client token's hash, as sys/audit-hash gives it.
	h, err := sys.AuditHash("file", s.Root)
	if err != nil || !strings.HasPrefix(h, "hmac-sha256:") {
		t.Fatalf("audit-hash: %q %v", h, err)
	}
	if !strings.Contains(strings.Join(records, ""), `"client_token":"`+h+`"`) {
		t.Fatal("audit file does not hold the HMAC of the client token")
	}

	// Refusals, each a 400 with its reason.
	for _, bad := range []struct {
		opts map[string]string
		typ  string
		msg  string
	}{
		{map[string]string{"file_path": "relative/audit.log"}, "file", `file_path must be an absolute path, "stdout" or "discard"`},
		{map[string]string{"file_path": filepath.Join(s.AuditDir, "raw.log"), "log_raw": "true"}, "file", "log_raw is not supported"},
		{map[string]string{"file_path": filepath.Join(t.TempDir(), "elsewhere.log")}, "file", "file_path must be a file directly in the audit directory"},
		{map[string]string{"file_path": filepath.Join(s.AuditDir, "..", "escape.log")}, "file", "file_path must be a file directly in the audit directory"},
		{map[string]string{"file_path": filepath.Join(s.AuditDir, "x.log"), "mode": "0755"}, "file", "invalid mode"},
		{map[string]string{}, "file", "file_path is required"},
		{map[string]string{"file_path": "discard"}, "syslog", `audit device type "syslog" is not supported`},
	} {
		err := sys.EnableAuditWithOptions("bad", &vault.EnableAuditOptions{Type: bad.typ, Options: bad.opts})
		wantError(t, err, http.StatusBadRequest, bad.msg)
	}
	// A symlink planted in the audit directory is not followed.
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.Symlink(target, filepath.Join(s.AuditDir, "link.log")); err != nil {
		t.Fatal(err)
	}
	err = sys.EnableAuditWithOptions("bad", &vault.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": filepath.Join(s.AuditDir, "link.log")}})
	wantError(t, err, http.StatusBadRequest, "cannot open audit file")
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("the symlink's target was created: %v", err)
	}
	if devices, _ := sys.ListAudit(); len(devices) != 1 {
		t.Fatalf("a refused device was enabled: %+v", devices)
	}
	// Audit devices are root-protected.
	c := s.client(t, s.policyToken(t, "auditor", `path "sys/audit*" { capabilities = ["create", "read", "update", "delete"] }`))
	_, err = c.Sys().ListAudit()
	wantError(t, err, http.StatusForbidden, "permission denied")
	wantError(t, c.Sys().DisableAudit("file"), http.StatusForbidden, "permission denied")

	if err := sys.DisableAudit("file"); err != nil {
		t.Fatal(err)
	}
	before := len(readAuditFile(t, logPath))
	if _, err := s.Client.Auth().Token().LookupSelf(); err != nil {
		t.Fatal(err)
	}
	if after := len(readAuditFile(t, logPath)); after != before {
		t.Fatalf("a disabled device still writes: %d lines, then %d", before, after)
	}
}

// readAuditFile returns the lines of a file audit device, each checked to
// be one JSON object with a time.
func readAuditFile(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Time string `json:"time"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Time == "" || rec.Type == "" {
			t.Fatalf("audit line is not a record: %q %v", sc.Text(), err)
		}
		out = append(out, sc.Text())
	}
	return out
}

func TestAPICapabilitiesPoliciesHealth(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	tok := s.policyToken(t, "reader", `
path "lt/creds/*" { capabilities = ["read", "list"] }
path "lt/creds/secret" { capabilities = ["deny"] }
`)
	c := s.client(t, tok)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"lt/creds/a", []string{"list", "read"}},
		{"lt/creds/secret", []string{"deny"}},
		{"sys/mounts", []string{"deny"}},
	} {
		got, err := c.Sys().CapabilitiesSelf(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(got), tc.want) {
			t.Errorf("capabilities-self %s = %v, want %v", tc.path, got, tc.want)
		}
	}
	if got, err := s.Client.Sys().CapabilitiesSelf("anything"); err != nil || !slices.Equal(got, []string{"root"}) {
		t.Fatalf("root capabilities-self = %v %v", got, err)
	}
	// sys/capabilities answers for the named token, not the caller.
	got, err := s.Client.Sys().Capabilities(tok, "lt/creds/a")
	if err != nil || !slices.Equal(sorted(got), []string{"list", "read"}) {
		t.Fatalf("sys/capabilities for another token = %v %v", got, err)
	}
	_, err = s.Client.Sys().Capabilities("hvs.not-a-token", "lt/creds/a")
	wantError(t, err, http.StatusBadRequest, "invalid token")
	_, err = c.Sys().Capabilities(s.Root, "lt/creds/a") // not in the default policy
	wantError(t, err, http.StatusForbidden, "permission denied")
	_, err = c.Logical().Write("sys/capabilities-self", map[string]any{})
	wantError(t, err, http.StatusBadRequest, "missing paths")

	// The legacy policy API.
	legacy := mustRead(t, s.Client, "sys/policy")
	var names []string
	for _, n := range legacy.Data["policies"].([]any) {
		names = append(names, n.(string))
	}
	if !slices.Equal(names, []string{"default", "reader", "root"}) {
		t.Fatalf("sys/policy = %v", legacy.Data)
	}
	one := mustRead(t, s.Client, "sys/policy/reader")
	if one.Data["name"] != "reader" || !strings.Contains(one.Data["rules"].(string), `path "lt/creds/*"`) {
		t.Fatalf("sys/policy/reader = %v", one.Data)
	}
	mustWrite(t, s.Client, "sys/policy/legacy", map[string]any{"rules": `path "x/*" { capabilities = ["read"] }`})
	if p, err := s.Client.Sys().GetPolicy("legacy"); err != nil || !strings.Contains(p, `path "x/*"`) {
		t.Fatalf("policy written through sys/policy: %q %v", p, err)
	}
	_, err = s.Client.Logical().Write("sys/policy/empty", map[string]any{"rules": ""})
	wantError(t, err, http.StatusBadRequest, "'policy' parameter not supplied or empty")
	_, err = c.Logical().Read("sys/policy")
	wantError(t, err, http.StatusForbidden, "permission denied")

	// sys/health answers HEAD with the status alone, without a token.
	for _, tc := range []struct {
		query string
		want  int
	}{{"", http.StatusOK}, {"?activecode=204", http.StatusNoContent}} {
		code, body := s.raw(t, http.MethodHead, "/v1/sys/health"+tc.query, "", nil)
		if code != tc.want || body != "" {
			t.Errorf("HEAD sys/health%s: %d %q", tc.query, code, body)
		}
	}
}
