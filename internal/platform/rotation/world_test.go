package rotation_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/rotation"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store/storetest"
)

// The old mount every test rotates, with the suffix format rotation keeps.
const oldMount = "secret-ab12cd34"

var newPathRe = regexp.MustCompile(`^secret-[a-z0-9]{8}/$`)

var root = access.WithCaller(context.Background(), access.Caller{Accessor: "acc-root", DisplayName: "root", Policies: []string{"root"}})

// consumerPolicy lets a consumer read the app secret and its metadata.
const consumerPolicy = `
path "secret-ab12cd34/data/app" { capabilities = ["read"] }
path "secret-ab12cd34/metadata/app" { capabilities = ["read"] }
`

// world is a daemon with a kv v2 mount holding a secret of two versions, a
// consumer policy held by a token and an AppRole, and an operator workspace
// whose variables (one managed by a manager workspace, one sensitive) name
// the mount.
type world struct {
	srv      *daemontest.Server
	root     *vault.Client
	token    string // holds the consumer policy
	roleID   string
	secretID string
	operator workspace.Workspace
	manager  workspace.Workspace
}

// backends runs fn once per database, with a starter of daemons on one
// fresh database of that kind (a restart reuses it).
func backends(t *testing.T, fn func(t *testing.T, start func(t *testing.T, tweak func(*daemon.Config)) *daemontest.Server)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url := b.NewURL(t)
			var first *daemontest.Server
			fn(t, func(t *testing.T, tweak func(*daemon.Config)) *daemontest.Server {
				srv := daemontest.Start(t, func(c *daemon.Config) {
					c.Database = url
					c.RotationClaim = time.Second
					if first != nil { // a restart: same database, key and token
						c.RootKeyFile, c.RootTokenFile = first.Dir+"/root-key", first.Dir+"/root-token"
					}
					if tweak != nil {
						tweak(c)
					}
				})
				if first == nil {
					first = srv
				}
				return srv
			})
		})
	}
}

func vaultClient(t testing.TB, srv *daemontest.Server, tok string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = srv.D.URL()
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

func newWorld(t *testing.T, srv *daemontest.Server) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{srv: srv, root: vaultClient(t, srv, srv.Token)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.root.Sys().Mount(oldMount, &vault.MountInput{Type: "kv-v2", Description: "operator values"}))
	kv := w.root.KVv2(oldMount)
	_, err := kv.Put(ctx, "app", map[string]any{"password": "one"})
	must(err)
	_, err = kv.Put(ctx, "app", map[string]any{"password": "two"})
	must(err)
	must(kv.PutMetadata(ctx, "app", vault.KVMetadataPutInput{CustomMetadata: map[string]any{"owner": "ops"}}))
	_, err = kv.Put(ctx, "other", map[string]any{"x": "y"})
	must(err)
	must(w.root.Sys().PutPolicy("consumer", consumerPolicy))
	sec, err := w.root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"consumer"}})
	must(err)
	w.token = sec.Auth.ClientToken
	must(w.root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}))
	_, err = w.root.Logical().Write("auth/approle/role/op", map[string]any{"token_policies": "consumer"})
	must(err)
	rid, err := w.root.Logical().Read("auth/approle/role/op/role-id")
	must(err)
	w.roleID = rid.Data["role_id"].(string)
	sid, err := w.root.Logical().Write("auth/approle/role/op/secret-id", nil)
	must(err)
	w.secretID = sid.Data["secret_id"].(string)

	p := srv.D.Platform
	_, err = p.Organizations.Create(root, organization.Options{Name: "acme", Email: "ops@acme.test"})
	must(err)
	name := func(s string) *string { return &s }
	w.manager, err = p.Workspaces.Create(root, "acme", workspace.Options{Name: name("manager")})
	must(err)
	w.operator, err = p.Workspaces.Create(root, "acme", workspace.Options{Name: name("operator")})
	must(err)
	cv, err := p.ConfigurationVersions.Create(root, w.operator.ID, configversion.Options{AutoQueueRuns: new(bool)})
	must(err)
	must(p.ConfigurationVersions.Upload(root, cv.UploadToken, tarGz(t, map[string]string{"main.tf": "output \"x\" { value = 1 }\n"})))
	cat, yes := variable.CategoryTerraform, true
	_, err = p.Variables.CreateVariable(root, w.operator.ID, variable.Options{Key: name("kv_path"), Value: name(oldMount + "/data/app"),
		Category: &cat, ManagingWorkspaceID: &w.manager.ID})
	must(err)
	_, err = p.Variables.CreateVariable(root, w.operator.ID, variable.Options{Key: name("kv_mount"), Value: name(oldMount),
		Category: &cat, Sensitive: &yes})
	must(err)
	// A value that merely starts like the mount's name is not the mount.
	_, err = p.Variables.CreateVariable(root, w.manager.ID, variable.Options{Key: name("lookalike"), Value: name(oldMount + "x/data/app"), Category: &cat})
	must(err)
	return w
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// vars returns the operator's variables by key, values revealed.
func (w *world) vars(t testing.TB) map[string]variable.RunVariable {
	t.Helper()
	vs, err := w.srv.D.Platform.Variables.WorkspaceVariables(root, w.operator.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]variable.RunVariable{}
	for _, v := range vs {
		out[v.Key] = v
	}
	return out
}

// kvPath is the secret's path as the operator's variable says now.
func (w *world) kvPath(t testing.TB) string {
	t.Helper()
	return w.vars(t)["kv_path"].Value.RevealString()
}

// login is an AppRole login, as a run does it.
func (w *world) login() (string, error) {
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = w.srv.D.URL(), 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		return "", err
	}
	c.ClearToken()
	sec, err := c.Logical().Write("auth/approle/login", map[string]any{"role_id": w.roleID, "secret_id": w.secretID})
	if err != nil {
		return "", err
	}
	return sec.Auth.ClientToken, nil
}

// get reads path with tok over HTTP and returns the status and body.
func (w *world) get(t testing.TB, tok, path string) (int, map[string]any) {
	t.Helper()
	return w.call(t, "GET", "/v1/"+path, tok, nil)
}

func (w *world) call(t testing.TB, method, path, tok string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, w.srv.D.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("X-Vault-Token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// password reads the app secret at path (a kv v2 data path) with tok.
func (w *world) password(t testing.TB, tok, path string) (string, int) {
	t.Helper()
	code, body := w.get(t, tok, path)
	if code != http.StatusOK {
		return "", code
	}
	data, _ := body["data"].(map[string]any)
	inner, _ := data["data"].(map[string]any)
	s, _ := inner["password"].(string)
	return s, code
}

// rotate asks the API to rotate the mount with tok.
func (w *world) rotate(t testing.TB, tok, mount string) (int, rotation.Rotation, string) {
	t.Helper()
	req, err := http.NewRequest("POST", w.srv.D.URL()+"/api/runcred/v1/mounts/"+mount+"/rotate", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r rotation.Rotation
	_ = json.Unmarshal(raw, &r)
	return resp.StatusCode, r, string(raw)
}

// latest is the newest rotation of the old mount, from the journal.
func (w *world) latest(t testing.TB) rotation.Rotation {
	t.Helper()
	rs, err := w.srv.D.Rotations.List(root, oldMount)
	if err != nil || len(rs) == 0 {
		t.Fatalf("rotations of %s: %v, %v", oldMount, rs, err)
	}
	return rs[0]
}

// checkRotated holds the world to the state of a finished rotation to
// newPath: the secrets there (every version, the metadata), the policy and
// the variables naming it, the old path gone and nothing naming it.
func (w *world) checkRotated(t *testing.T, newPath string) {
	t.Helper()
	if !newPathRe.MatchString(newPath) || newPath == oldMount+"/" {
		t.Fatalf("new path %q: want secret-<8 lowercase alphanumerics>/, not the old one", newPath)
	}
	tok := w.token
	if pw, code := w.password(t, tok, newPath+"data/app"); code != 200 || pw != "two" {
		t.Errorf("the consumer token reads %q (HTTP %d) at the new path, want the current version", pw, code)
	}
	if code, _ := w.get(t, tok, oldMount+"/data/app"); code != http.StatusNotFound {
		t.Errorf("the old path answers %d, want 404", code)
	}
	if code, _ := w.get(t, w.srv.Token, oldMount+"/data/app"); code != http.StatusNotFound {
		t.Errorf("the old path answers root %d, want 404", code)
	}
	if pw, code := w.password(t, w.srv.Token, newPath+"data/app?version=1"); code != 200 || pw != "one" {
		t.Errorf("version 1 at the new path: %q (HTTP %d)", pw, code)
	}
	code, meta := w.get(t, tok, newPath+"metadata/app")
	md, _ := meta["data"].(map[string]any)
	if code != 200 || md["current_version"] != float64(2) || len(md["versions"].(map[string]any)) != 2 ||
		md["custom_metadata"].(map[string]any)["owner"] != "ops" {
		t.Errorf("metadata at the new path: HTTP %d %v", code, md)
	}
	if code, _ := w.get(t, tok, newPath+"data/other"); code != http.StatusForbidden {
		t.Errorf("the consumer reads what its policy never granted: HTTP %d", code)
	}
	pol, err := w.root.Sys().GetPolicy("consumer")
	if err != nil || strings.Contains(pol, oldMount) || !strings.Contains(pol, strings.TrimSuffix(newPath, "/")+"/data/app") {
		t.Errorf("consumer policy after the rotation:\n%s (%v)", pol, err)
	}
	approle, err := w.login()
	if err != nil {
		t.Fatal(err)
	}
	if pw, code := w.password(t, approle, newPath+"data/app"); code != 200 || pw != "two" {
		t.Errorf("an AppRole login's token reads %q (HTTP %d) at the new path", pw, code)
	}
	vs := w.vars(t)
	if got := vs["kv_path"]; got.Value.RevealString() != newPath+"data/app" || got.ManagingWorkspaceID != w.manager.ID {
		t.Errorf("kv_path = %q managed by %q, want %q managed by %s", got.Value.RevealString(), got.ManagingWorkspaceID, newPath+"data/app", w.manager.ID)
	}
	if got := vs["kv_mount"].Value.RevealString(); got != strings.TrimSuffix(newPath, "/") {
		t.Errorf("sensitive kv_mount = %q, want %q", got, strings.TrimSuffix(newPath, "/"))
	}
	mv, err := w.srv.D.Platform.Variables.WorkspaceVariables(root, w.manager.ID)
	if err != nil || len(mv) != 1 || mv[0].Value.RevealString() != oldMount+"x/data/app" {
		t.Errorf("a look-alike value was rewritten: %v %v", mv, err)
	}
	mounts, err := w.root.Sys().ListMounts()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mounts[oldMount+"/"]; ok {
		t.Errorf("the old mount is still listed")
	}
	if m, ok := mounts[newPath]; !ok || m.Description != "operator values" || m.Options["version"] != "2" {
		t.Errorf("the new mount: %+v (listed %v)", m, ok)
	}
	// Writes go to the new mount.
	if _, err := w.root.KVv2(strings.TrimSuffix(newPath, "/")).Put(context.Background(), "app", map[string]any{"password": "three"}); err != nil {
		t.Errorf("write at the new path: %v", err)
	}
}

type vaultTokenRequest = vault.TokenCreateRequest

var mountInputAWS = vault.MountInput{Type: "aws"}
