package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/minio"
	"github.com/runcred/runcred/internal/peers/stsfake"
	"github.com/runcred/runcred/internal/peers/tools"
)

// notReadBack are, by resource type, the attributes terraform-provider-vault
// never reads back from a server (Vault's answers do not hold them, or the
// provider does not look): write-only secrets, the provider's own switches,
// and a few its import leaves empty. A plan right after an import may show
// those, and only those; it shows the same against Vault.
var notReadBack = map[string][]string{
	"*":                        {"disable_remount"},
	"vault_aws_secret_backend": {"secret_key"},
	// The import reads the whole endpoint into data_json, as
	// ignore_absent_fields (a switch) is not known yet.
	"vault_generic_endpoint": {"data_json", "ignore_absent_fields", "disable_delete", "write_data"},
	"vault_jwt_auth_backend": {"description"}, // its read sets the mount's type and accessor, not its description
	"vault_kv_secret_v2":     {"data_json", "delete_all_versions", "disable_read"},
	// The read sets policies, display name, uses, metadata and
	// lease_duration; not ttl or no_default_policy.
	"vault_token": {"ttl", "no_default_policy"},
}

// vaultImportable are the resources of testdata/vaultprovider that
// terraform-provider-vault can import; the others (a secret ID) cannot be.
var vaultImportable = []string{
	"vault_mount.kv", "vault_kv_secret_v2.app", "vault_policy.app", "vault_auth_backend.approle",
	"vault_approle_auth_backend_role.app", "vault_aws_secret_backend.aws", "vault_aws_secret_backend_role.deploy",
	"vault_jwt_auth_backend.jwt", "vault_jwt_auth_backend_role.ci", "vault_token.ci", "vault_generic_endpoint.role",
}

// engineUserPolicy is what the AWS engine's MinIO user may do.
const engineUserPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::state","arn:aws:s3:::state/*"]}]}`

// TestVaultProviderCycle runs a platform team's admin workspace, written
// with the real terraform-provider-vault from the offline mirror, through
// OpenTofu against runcred over HTTPS, on each database: apply, an empty
// plan, an update of an attribute of every resource, an empty plan, the
// import of every importable resource into a fresh state and an empty plan
// there, and destroy. One AWS engine issues credentials from a real MinIO
// (used on its S3); another from the STS fake, which also answers the
// sts:GetCallerIdentity the provider's data source checks its credentials
// with (MinIO has no such call).
func TestVaultProviderCycle(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) {
		srv := start(t, daemontest.TLS(t))
		m := minio.Start(t, minio.Options{Policies: map[string]string{"engine": engineUserPolicy}, Buckets: []string{"state"}})
		user, password := "runcred-engine", rand.Text()
		m.AddUser(t, user, password, "engine")
		st := stsfake.Start(t, stsfake.Options{Roles: []string{"arn:aws:iam::123456789012:role/deploy"}})
		ca, err := os.ReadFile(srv.CAFile())
		if err != nil {
			t.Fatal(err)
		}
		env := []string{
			"VAULT_ADDR=" + srv.D.URL(), "VAULT_TOKEN=" + srv.Token, "VAULT_CACERT=" + srv.CAFile(),
			"AWS_ENDPOINT_URL_STS=" + st.URL, "AWS_EC2_METADATA_DISABLED=true",
			"TF_VAR_sts_url=" + st.URL, "TF_VAR_sts_access_key=" + st.AccessKey, "TF_VAR_sts_secret_key=" + st.SecretKey,
			"TF_VAR_issuer=" + srv.D.PublicURL(), "TF_VAR_issuer_ca=" + string(ca),
			"TF_VAR_minio_url=" + m.URL, "TF_VAR_minio_user=" + user, "TF_VAR_minio_password=" + password,
		}
		c := vaultClientTLS(t, srv)

		ws := newTofuDir(t, "testdata/vaultprovider", env)
		ws.run(t, "init")
		ws.apply(t, 1)
		ws.noDrift(t, 1)
		checkStep(t, c, 1)
		checkMinIOCreds(t, c, m)
		if out := ws.outputs(t); out["kv_user"] != "app" || out["role_id"] == "" || out["approle_accessor"] == "" || out["aws_lease"] != float64(900) {
			t.Fatalf("data sources read %v", out)
		}

		ws.apply(t, 2)
		ws.noDrift(t, 2)
		checkStep(t, c, 2)

		ids := ws.ids(t)
		imp := newTofuDir(t, "testdata/vaultprovider", env)
		imp.run(t, "init")
		var targets []string
		for _, addr := range vaultImportable {
			id, ok := ids[addr]
			if !ok || id == "" {
				t.Fatalf("%s has no id in the state: %v", addr, ids)
			}
			imp.run(t, "import", "-var=step=2", addr, id)
			targets = append(targets, "-target="+addr)
		}
		imp.importDrift(t, 2, targets)

		ws.run(t, "destroy", "-auto-approve", "-var=step=2")
		mounts, err := c.Sys().ListMounts()
		if err != nil {
			t.Fatal(err)
		}
		auths, err := c.Sys().ListAuth()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"secret/", "aws/"} {
			if _, ok := mounts[p]; ok {
				t.Errorf("mount %s survived destroy", p)
			}
		}
		for _, p := range []string{"approle/", "jwt/"} {
			if _, ok := auths[p]; ok {
				t.Errorf("auth mount %s survived destroy", p)
			}
		}
	})
}

// checkMinIOCreds uses credentials of the MinIO-backed engine on MinIO's
// S3: they read the bucket the engine's user may read.
func checkMinIOCreds(t *testing.T, c *vault.Client, m *minio.Server) {
	t.Helper()
	sec, err := c.Logical().Read("aws/creds/deploy")
	if err != nil || sec == nil {
		t.Fatalf("aws/creds/deploy: %v %v", sec, err)
	}
	if sec.LeaseDuration != 900 {
		t.Errorf("MinIO credentials lease_duration %d, want the role's default_sts_ttl 900", sec.LeaseDuration)
	}
	s3c := m.S3(aws.Credentials{AccessKeyID: sec.Data["access_key"].(string), SecretAccessKey: sec.Data["secret_key"].(string),
		SessionToken: sec.Data["security_token"].(string)})
	if _, err := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("state")}); err != nil {
		t.Fatalf("MinIO credentials from the engine cannot list the bucket: %v", err)
	}
}

// checkStep reads back, with the official client, what each step wrote.
func checkStep(t *testing.T, c *vault.Client, step int) {
	t.Helper()
	kv, err := c.KVv2("secret").Get(context.Background(), "app/config")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int]string{1: "first", 2: "second"}[step]; kv.Data["password"] != want {
		t.Fatalf("step %d: kv password %v, want %s", step, kv.Data["password"], want)
	}
	cfg, err := c.Logical().Read("auth/jwt/config")
	if err != nil || cfg == nil {
		t.Fatalf("jwt config: %v %v", cfg, err)
	}
	if cfg.Data["namespace_in_state"] != (step == 1) || cfg.Data["default_role"] != map[int]string{1: "", 2: "ci"}[step] {
		t.Fatalf("step %d: jwt config %v", step, cfg.Data)
	}
	role, err := c.Logical().Read("auth/approle/role/app")
	if err != nil || role == nil {
		t.Fatalf("approle role: %v %v", role, err)
	}
	if ttl, _ := role.Data["token_ttl"].(json.Number).Int64(); ttl != map[int]int64{1: 3600, 2: 1800}[step] {
		t.Fatalf("step %d: approle token_ttl %v", step, role.Data["token_ttl"])
	}
}

func vaultClientTLS(t *testing.T, srv *daemontest.Server) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = srv.D.URL(), 0
	if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: srv.CAFile()}); err != nil {
		t.Fatal(err)
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(srv.Token)
	return c
}

// tofuDir is a working directory holding a copy of a configuration, run
// with OpenTofu and providers from the offline mirror only.
type tofuDir struct {
	bin, dir string
	env      []string
}

func newTofuDir(t *testing.T, src string, env []string) *tofuDir {
	t.Helper()
	bin, mirror := tools.OpenTofu(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	cli, err := json.Marshal(map[string]any{"provider_installation": map[string]any{
		"filesystem_mirror": []any{map[string]any{"path": mirror,
			"include": []string{"registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"}}},
		"direct": []any{map[string]any{"exclude": []string{"registry.opentofu.org/*/*", "registry.terraform.io/*/*"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cliFile := filepath.Join(home, "tofurc.json")
	if err := os.WriteFile(cliFile, cli, 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TF_CLI_CONFIG_FILE=" + cliFile,
		"TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TMPDIR=" + os.TempDir()}
	return &tofuDir{bin: bin, dir: dir, env: append(base, env...)}
}

// exec runs tofu with args and returns its exit code and output.
func (d *tofuDir) exec(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, append(args[:1:1], append([]string{"-no-color"}, args[1:]...)...)...)
	cmd.Dir, cmd.Env = d.dir, d.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("tofu %s: %v", strings.Join(args, " "), err)
	}
	return 0, out.String()
}

// run runs tofu and fails the test if it does not succeed.
func (d *tofuDir) run(t *testing.T, args ...string) string {
	t.Helper()
	code, out := d.exec(t, args...)
	if code != 0 {
		t.Fatalf("tofu %s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func (d *tofuDir) apply(t *testing.T, step int) {
	t.Helper()
	d.run(t, "apply", "-auto-approve", "-var=step="+strconv.Itoa(step))
}

// plan runs plan -detailed-exitcode: 0 is no change, 2 is changes.
func (d *tofuDir) plan(t *testing.T, step int, extra ...string) (int, string) {
	t.Helper()
	return d.exec(t, append([]string{"plan", "-detailed-exitcode", "-input=false", "-var=step=" + strconv.Itoa(step)}, extra...)...)
}

// noDrift fails the test unless a plan right after an apply is empty.
func (d *tofuDir) noDrift(t *testing.T, step int) {
	t.Helper()
	if code, out := d.plan(t, step); code != 0 {
		t.Fatalf("plan after the step %d apply = %d, want 0 (no drift):\n%s", step, code, out)
	}
}

// importDrift plans the imported resources (targets) and fails the test if
// the plan changes any attribute outside notReadBack.
func (d *tofuDir) importDrift(t *testing.T, step int, targets []string) {
	t.Helper()
	code, out := d.plan(t, step, append([]string{"-out=import.plan"}, targets...)...)
	if code == 0 {
		return
	}
	if code != 2 {
		t.Fatalf("plan after import exited %d:\n%s", code, out)
	}
	var plan struct {
		ResourceChanges []struct {
			Address, Type string
			Change        struct {
				Actions       []string
				Before, After map[string]any
				AfterUnknown  map[string]any `json:"after_unknown"`
			}
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(d.run(t, "show", "-json", "import.plan")), &plan); err != nil {
		t.Fatal(err)
	}
	for _, rc := range plan.ResourceChanges {
		if len(rc.Change.Actions) == 1 && (rc.Change.Actions[0] == "no-op" || rc.Change.Actions[0] == "read") {
			continue
		}
		for k, after := range rc.Change.After {
			if unknown, _ := rc.Change.AfterUnknown[k].(bool); unknown {
				continue // follows from a change elsewhere
			}
			if reflect.DeepEqual(rc.Change.Before[k], after) || emptyValue(rc.Change.Before[k]) && emptyValue(after) {
				continue
			}
			if !slices.Contains(notReadBack["*"], k) && !slices.Contains(notReadBack[rc.Type], k) {
				t.Errorf("after import, %s.%s = %v, but the configuration says %v", rc.Address, k, rc.Change.Before[k], after)
			}
		}
	}
	if t.Failed() {
		t.Fatalf("plan after import:\n%s", out)
	}
}

// emptyValue is null, "", false, 0, or an empty list or map: the provider's
// SDK treats them alike.
func emptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// ids maps each managed resource's address to its id.
func (d *tofuDir) ids(t *testing.T) map[string]string {
	t.Helper()
	var st struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address, Mode string
					Values        map[string]any
				}
			} `json:"root_module"`
		}
	}
	if err := json.Unmarshal([]byte(d.run(t, "show", "-json")), &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range st.Values.RootModule.Resources {
		if r.Mode == "managed" {
			id, _ := r.Values["id"].(string)
			out[r.Address] = id
		}
	}
	return out
}

// outputs are the root module's output values.
func (d *tofuDir) outputs(t *testing.T) map[string]any {
	t.Helper()
	var outs map[string]struct{ Value any }
	if err := json.Unmarshal([]byte(d.run(t, "output", "-json")), &outs); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	for k, v := range outs {
		m[k] = v.Value
	}
	return m
}
