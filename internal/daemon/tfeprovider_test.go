package daemon_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/tools"
)

// tfeWork is an OpenTofu working directory whose configuration uses the
// real terraform-provider-tfe from the offline mirror against a daemon
// served over HTTPS: the provider finds the API by service discovery at
// https://127.0.0.1:PORT, trusts the daemon's CA through SSL_CERT_FILE and
// authenticates with TFE_TOKEN, as a platform team would set it up.
type tfeWork struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

func newTFEWork(t *testing.T, srv *daemontest.Server) *tfeWork {
	t.Helper()
	bin, mirror := tools.OpenTofu(t)
	tools.Path(t, "providers/registry.opentofu.org/hashicorp/tfe/0.80.0")
	home := t.TempDir()
	cli, err := json.Marshal(map[string]any{"provider_installation": map[string]any{
		"filesystem_mirror": []any{map[string]any{"path": mirror, "include": []string{"registry.opentofu.org/hashicorp/*"}}},
		"direct":            []any{map[string]any{"exclude": []string{"registry.opentofu.org/*/*", "registry.terraform.io/*/*"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "cli.tfrc.json"), cli, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tfeWork{t: t, bin: bin, dir: t.TempDir(), env: []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TF_CLI_CONFIG_FILE=" + filepath.Join(home, "cli.tfrc.json"),
		"TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1",
		"SSL_CERT_FILE=" + srv.CAFile(), "TFE_TOKEN=" + srv.Token,
		"TF_VAR_hostname=" + strings.TrimPrefix(srv.D.URL(), "https://"),
	}}
}

// write replaces the configuration.
func (w *tfeWork) write(config string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(tfeHeader+config), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

const tfeHeader = `
terraform {
  required_providers {
    tfe = { source = "hashicorp/tfe", version = "0.80.0" }
  }
}
variable "hostname" { type = string }
variable "gen" { type = number }
provider "tfe" { hostname = var.hostname }
`

// run runs tofu and returns its output and exit code; any code but the
// wanted ones fails the test with the output.
func (w *tfeWork) run(want []int, args ...string) (string, int) {
	w.t.Helper()
	var out, errOut bytes.Buffer
	full := args
	if args[0] != "state" {
		full = append(args[:1:1], append([]string{"-no-color"}, args[1:]...)...)
	}
	// A command that hangs (a client retrying a failing request) fails the
	// test with its output instead of running into the test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, full...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = w.dir, w.env, &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		w.t.Fatalf("tofu %s: %v", args[0], err)
	}
	for _, c := range want {
		if c == code {
			return out.String(), code
		}
	}
	w.t.Fatalf("tofu %s exited %d:\n%s\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return "", 0
}

// gen sets the configuration's generation; the update step changes it.
func gen(n int) string { return "-var=gen=" + string(rune('0'+n)) }

// noDrift runs plan -detailed-exitcode and fails unless it is 0 (nothing
// to change).
func (w *tfeWork) noDrift(step string, g int) {
	w.t.Helper()
	out, code := w.run([]int{0, 2}, "plan", "-input=false", "-detailed-exitcode", gen(g))
	if code != 0 {
		w.t.Fatalf("%s: plan wants changes:\n%s", step, out)
	}
}

// state is the state's resources, by address, as tofu show -json has them.
func (w *tfeWork) state() map[string]map[string]any {
	w.t.Helper()
	out, _ := w.run([]int{0}, "show", "-json")
	var doc struct {
		Values struct {
			Root struct {
				Resources []struct {
					Address string         `json:"address"`
					Values  map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		w.t.Fatalf("show -json: %v\n%s", err, out)
	}
	m := map[string]map[string]any{}
	for _, r := range doc.Values.Root.Resources {
		m[r.Address] = r.Values
	}
	return m
}

// resetAfterImport are the resources whose sensitive value an import
// cannot read back.
var resetAfterImport = []string{"tfe_variable.secret"}

// importer names a resource and how its import ID is made from its state.
type importer struct {
	addr string
	id   func(st map[string]map[string]any) string
}

// cycle takes config through create, a clean plan, an update, a clean
// plan, import of every resource in imports (forgotten and imported back)
// and a clean plan, and destroy.
func (w *tfeWork) cycle(config string, imports []importer) map[string]map[string]any {
	w.t.Helper()
	w.write(config)
	w.run([]int{0}, "init", "-input=false")
	w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(1))
	w.noDrift("after create", 1)
	w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(2))
	w.noDrift("after update", 2)
	st := w.state()
	for _, im := range imports {
		id := im.id(st)
		w.run([]int{0}, "state", "rm", im.addr)
		w.run([]int{0}, "import", "-input=false", gen(2), im.addr, id)
	}
	// A sensitive value is never read back, so importing a sensitive
	// variable leaves its value to be written once, as with HCP Terraform;
	// that and nothing else may change.
	out, code := w.run([]int{0, 2}, "plan", "-input=false", "-detailed-exitcode", gen(2))
	if code == 2 {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, " will be ") && !slices.Contains(resetAfterImport, strings.TrimSpace(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(line), "# "), " will be ", 2)[0])) {
				w.t.Fatalf("after import: plan wants changes:\n%s", out)
			}
		}
		if !strings.Contains(out, "0 to add, "+strconv.Itoa(len(resetAfterImport))+" to change, 0 to destroy") {
			w.t.Fatalf("after import: plan wants changes:\n%s", out)
		}
		w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(2))
	}
	w.noDrift("after import", 2)
	w.run([]int{0}, "destroy", "-input=false", "-auto-approve", gen(2))
	if left := w.state(); len(left) != 0 {
		w.t.Fatalf("destroy left %v", left)
	}
	return st
}

// attr is a string attribute of a resource in the state.
func attr(st map[string]map[string]any, addr, name string) string {
	s, _ := st[addr][name].(string)
	return s
}

// TestTFEProvider manages runcred with the real tfe provider: every
// resource goes through create, update, import and destroy with a clean
// plan after each step.
func TestTFEProvider(t *testing.T) { daemontest.Each(t, testTFEProvider) }

func testTFEProvider(t *testing.T, start daemontest.Starter) {
	srv := start(t, daemontest.TLS(t))
	w := newTFEWork(t, srv)
	byID := func(addr string) importer {
		return importer{addr, func(st map[string]map[string]any) string { return attr(st, addr, "id") }}
	}
	w.cycle(`
resource "tfe_organization" "acme" {
  name  = "acme"
  email = "ops${var.gen}@acme.test"
}
resource "tfe_project" "infra" {
  organization = tfe_organization.acme.name
  name         = "infra"
  description  = "shared infrastructure ${var.gen}"
  tags         = { team = "platform", stage = "s${var.gen}" }
}
resource "tfe_agent_pool" "pool" {
  organization = tfe_organization.acme.name
  name         = "pool-${var.gen}"
}
resource "tfe_workspace" "net" {
  organization      = tfe_organization.acme.name
  project_id        = tfe_project.infra.id
  name              = "net-${var.gen}"
  description       = "network ${var.gen}"
  working_directory = "infra/net${var.gen}"
  terraform_version = "1.6.${var.gen}"
  tags              = { tier = "t${var.gen}" }
}
resource "tfe_workspace_settings" "net" {
  workspace_id   = tfe_workspace.net.id
  execution_mode = var.gen == 1 ? "agent" : "remote"
  auto_apply     = var.gen == 2
  agent_pool_id  = var.gen == 1 ? tfe_agent_pool.pool.id : null
}
resource "tfe_variable" "plain" {
  workspace_id = tfe_workspace.net.id
  key          = "region"
  value        = "eu-${var.gen}"
  category     = "terraform"
  description  = "the region ${var.gen}"
}
resource "tfe_variable" "secret" {
  workspace_id = tfe_workspace.net.id
  key          = "API_KEY"
  value        = "s3cr3t-${var.gen}"
  category     = "env"
  sensitive    = true
}
resource "tfe_variable_set" "shared" {
  organization = tfe_organization.acme.name
  name         = "shared-${var.gen}"
  description  = "shared ${var.gen}"
}
resource "tfe_variable" "in_set" {
  variable_set_id = tfe_variable_set.shared.id
  key             = "owner"
  value           = "team-${var.gen}"
  category        = "terraform"
  hcl             = false
}
resource "tfe_workspace_variable_set" "net" {
  workspace_id    = tfe_workspace.net.id
  variable_set_id = tfe_variable_set.shared.id
}
resource "tfe_team" "ops" {
  organization = tfe_organization.acme.name
  name         = "ops-${var.gen}"
  allow_member_token_management = var.gen == 1
}
resource "tfe_team_token" "ops" {
  team_id     = tfe_team.ops.id
  description = "ops token"
}
resource "tfe_agent_token" "pool" {
  agent_pool_id = tfe_agent_pool.pool.id
  description   = "agent ${var.gen}"
}
resource "tfe_workspace" "app" {
  organization = tfe_organization.acme.name
  name         = "app-${var.gen}"
}
resource "tfe_run_trigger" "net_to_app" {
  workspace_id  = tfe_workspace.app.id
  sourceable_id = tfe_workspace.net.id
}
data "tfe_workspace" "net" {
  organization = tfe_organization.acme.name
  name         = tfe_workspace.net.name
}
output "ws_desc" { value = data.tfe_workspace.net.description }
`, []importer{byID("tfe_organization.acme"), byID("tfe_project.infra"), byID("tfe_agent_pool.pool"), byID("tfe_workspace.net"),
		byID("tfe_workspace_settings.net"),
		{"tfe_variable.plain", func(st map[string]map[string]any) string {
			return "acme/" + attr(st, "tfe_workspace.net", "name") + "/" + attr(st, "tfe_variable.plain", "id")
		}},
		{"tfe_variable.secret", func(st map[string]map[string]any) string {
			return "acme/" + attr(st, "tfe_workspace.net", "name") + "/" + attr(st, "tfe_variable.secret", "id")
		}},
		byID("tfe_variable_set.shared"),
		{"tfe_variable.in_set", func(st map[string]map[string]any) string {
			return "acme/" + attr(st, "tfe_variable_set.shared", "id") + "/" + attr(st, "tfe_variable.in_set", "id")
		}},
		{"tfe_workspace_variable_set.net", func(st map[string]map[string]any) string {
			return "acme/" + attr(st, "tfe_workspace.net", "name") + "/" + attr(st, "tfe_variable_set.shared", "name")
		}},
		{"tfe_team.ops", func(st map[string]map[string]any) string { return "acme/" + attr(st, "tfe_team.ops", "id") }},
		byID("tfe_team_token.ops"), byID("tfe_workspace.app"), byID("tfe_run_trigger.net_to_app"),
	})
}

const outputsState = `{"version":4,"terraform_version":"1.6.3","serial":1,"lineage":"lin-outputs",
"outputs":{"region":{"value":"eu-west-1","type":"string"},"db_password":{"value":"hunter2","type":"string","sensitive":true},
"ports":{"value":[80,443],"type":["list","number"]}},"resources":[]}`

// TestTFEProviderOutputs: data tfe_outputs returns the real outputs of a
// workspace's state, the sensitive one only to a token that may read the
// workspace's state; to one that may read only its outputs it is null.
func TestTFEProviderOutputs(t *testing.T) { daemontest.Each(t, testTFEProviderOutputs) }

func testTFEProviderOutputs(t *testing.T, start daemontest.Starter) {
	srv := start(t, daemontest.TLS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := goTFE(t, srv, srv.Token)
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")}); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net"), ExecutionMode: tfe.String("local")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(outputsState))
	if _, err := c.StateVersions.Create(ctx, ws.ID, tfe.StateVersionCreateOptions{Serial: tfe.Int64(1), Lineage: tfe.String("lin-outputs"),
		MD5: tfe.String(hex.EncodeToString(sum[:])), State: tfe.String(base64.StdEncoding.EncodeToString([]byte(outputsState)))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Workspaces.Unlock(ctx, ws.ID); err != nil {
		t.Fatal(err)
	}
	v, err := vault.NewClient(&vault.Config{Address: srv.D.URL(), HttpClient: srv.HTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	v.SetToken(srv.Token)
	if err := v.Sys().PutPolicy("outputs-only", `path "runcred/orgs/acme" { capabilities = ["read"] }
path "runcred/orgs/acme/workspaces/net" { capabilities = ["read"] }
path "runcred/orgs/acme/workspaces/net/state-outputs" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	limited, err := v.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"outputs-only"}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatal(err)
	}

	// The permissions block answers for the token that asks.
	for _, tc := range []struct {
		token               string
		update, state, runs bool
	}{{srv.Token, true, true, true}, {limited.Auth.ClientToken, false, false, false}} {
		r, err := goTFE(t, srv, tc.token).Workspaces.ReadByID(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		p := r.Permissions
		if p == nil || !p.CanReadSettings || p.CanUpdate != tc.update || p.CanDestroy != tc.update || p.CanReadStateVersions != tc.state ||
			p.CanQueueRun != tc.runs || p.CanLock != tc.update || p.CanForceDelete == nil || *p.CanForceDelete {
			t.Errorf("permissions for %s… = %+v", tc.token[:8], p)
		}
	}

	config := `
data "tfe_outputs" "net" {
  organization = "acme"
  workspace    = "net"
}
output "region" { value = data.tfe_outputs.net.nonsensitive_values.region }
output "ports" { value = data.tfe_outputs.net.nonsensitive_values.ports }
output "password" {
  value     = data.tfe_outputs.net.values.db_password
  sensitive = true
}
output "withheld" {
  value     = data.tfe_outputs.net.values.db_password == null
  sensitive = true
}
`
	for _, tc := range []struct {
		token, password, withheld string
	}{{srv.Token, `"hunter2"`, "false"}, {limited.Auth.ClientToken, "absent", "true"}} { // a null output is not kept
		w := newTFEWork(t, srv)
		w.env = append(w.env, "TFE_TOKEN="+tc.token) // the later one wins
		w.write(config)
		w.run([]int{0}, "init", "-input=false")
		w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(1))
		w.noDrift("outputs", 1)
		out, _ := w.run([]int{0}, "output", "-json")
		var got map[string]struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output -json: %v\n%s", err, out)
		}
		compact := func(name string) string {
			var b bytes.Buffer
			if json.Compact(&b, got[name].Value) != nil {
				return "absent"
			}
			return b.String()
		}
		if compact("region") != `"eu-west-1"` || compact("ports") != `[80,443]` || compact("password") != tc.password || compact("withheld") != tc.withheld {
			t.Errorf("outputs = %s, want region eu-west-1, ports [80,443], password %s, withheld %s", out, tc.password, tc.withheld)
		}
	}
}

// TestOpenTofuRemoteBackendLocal: OpenTofu's remote backend on a workspace
// whose execution mode is local runs OpenTofu on this machine and keeps its
// state in runcred: apply stores it (under the workspace's lock), a plan
// after it is clean, outputs and the resource count are read back, and
// destroy empties it.
func TestOpenTofuRemoteBackendLocal(t *testing.T) {
	for _, block := range []string{`backend "remote"`, "cloud"} {
		t.Run(strings.Fields(block)[0], func(t *testing.T) {
			daemontest.Each(t, func(t *testing.T, start daemontest.Starter) { testOpenTofuRemoteBackendLocal(t, start, block) })
		})
	}
}

func testOpenTofuRemoteBackendLocal(t *testing.T, start daemontest.Starter, block string) {
	srv := start(t, daemontest.TLS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := goTFE(t, srv, srv.Token)
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")}); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net"), ExecutionMode: tfe.String("local")})
	if err != nil {
		t.Fatal(err)
	}
	w := newTFEWork(t, srv)
	config := fmt.Sprintf(`
terraform {
  %s {
    hostname     = %q
    organization = "acme"
    token        = %q
    workspaces { name = "net" }
  }
}
resource "terraform_data" "a" { input = "a-${var.gen}" }
resource "terraform_data" "b" { input = "b" }
output "region" { value = "eu-${var.gen}" }
output "secret" {
  value     = "s3cr3t"
  sensitive = true
}
variable "gen" { type = number }
`, block, strings.TrimPrefix(srv.D.URL(), "https://"), srv.Token)
	if err := os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	w.run([]int{0}, "init", "-input=false")
	w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(1))
	w.noDrift("after apply", 1)
	w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(2))
	w.noDrift("after update", 2)

	r, err := c.Workspaces.ReadByIDWithOptions(ctx, ws.ID, &tfe.WorkspaceReadOptions{Include: []tfe.WSIncludeOpt{tfe.WSOutputs}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ResourceCount != 2 || r.Locked {
		t.Errorf("after apply: %d resources, locked %v", r.ResourceCount, r.Locked)
	}
	outs := map[string]any{}
	for _, o := range r.Outputs {
		outs[o.Name] = o.Value
	}
	if outs["region"] != "eu-2" || len(outs) != 2 {
		t.Errorf("outputs = %v", outs)
	}
	if _, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws}); err == nil {
		t.Error("a run was queued on a local workspace")
	}
	w.run([]int{0}, "destroy", "-input=false", "-auto-approve", gen(2))
	if r, err := c.Workspaces.ReadByID(ctx, ws.ID); err != nil || r.ResourceCount != 0 {
		t.Errorf("after destroy: %+v, %v", r, err)
	}
}
