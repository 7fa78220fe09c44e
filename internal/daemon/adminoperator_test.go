package daemon_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/minio"
	"github.com/runcred/runcred/internal/peers/tools"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/rotation"
	"github.com/runcred/runcred/internal/policy"
)

// engineBucketsPolicy is what the broker's AWS engine (a MinIO user) may
// do: both buckets. The operator's role narrows it to one.
const engineBucketsPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::operator-bucket","arn:aws:s3:::operator-bucket/*","arn:aws:s3:::other-bucket","arn:aws:s3:::other-bucket/*"]}]}`

// TestAdminOperatorStory runs examples/admin-operator as runcred runs, with
// the real OpenTofu, MinIO and the real vault and tfe providers: the admin
// workspace provisions the broker side; its apply triggers a run of the
// manager workspace, which creates the operator workspace and writes its
// AppRole variables; the operator's run logs in with them and gets AWS
// credentials that reach its bucket and nothing else.
func TestAdminOperatorStory(t *testing.T) { daemontest.Each(t, testAdminOperatorStory) }

func testAdminOperatorStory(t *testing.T, start daemontest.Starter) {
	srv := start(t, daemontest.TLS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m := minio.Start(t, minio.Options{Policies: map[string]string{"engine": engineBucketsPolicy}, Buckets: []string{"operator-bucket", "other-bucket"}})
	engineUser, enginePassword := "runcred-engine", rand.Text()
	m.AddUser(t, engineUser, enginePassword, "engine")
	caPEM, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	root := vaultClientTLS(t, srv)
	rootTFE := goTFE(t, srv, srv.Token)
	addr := srv.D.URL()

	// The platform team's bootstrap, as root: runs of the admin and
	// manager workspaces log in to the broker with their workload
	// identity (TFC_VAULT_PROVIDER_AUTH).
	must(t, root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	write(t, root, "auth/jwt/config", map[string]any{"oidc_discovery_url": srv.D.PublicURL(), "bound_issuer": srv.D.PublicURL(),
		"oidc_discovery_ca_pem": string(caPEM)})
	for ws, policy := range map[string]string{"admin": "admin-runs", "manager": "manager"} {
		write(t, root, "auth/jwt/role/"+ws, map[string]any{"role_type": "jwt", "user_claim": "terraform_full_workspace",
			"bound_audiences": []string{"vault.workload.identity"}, "bound_claims_type": "glob",
			"bound_claims":   map[string]any{"sub": "organization:acme:project:Default Project:workspace:" + ws + ":run_phase:*"},
			"token_policies": []string{policy}, "token_ttl": "20m"})
	}
	must(t, root.Sys().PutPolicy("admin-runs", `
path "sys/mounts" { capabilities = ["read", "list"] }
path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/auth" { capabilities = ["read", "list"] }
path "sys/auth/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "auth/approle/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "aws/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "secret-*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "auth/token/create" { capabilities = ["update"] }
`))
	if _, err := rootTFE.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")}); err != nil {
		t.Fatal(err)
	}
	vaultAuth := map[string]string{"env:TFC_VAULT_PROVIDER_AUTH": "true", "env:TFC_VAULT_ADDR": addr,
		"env:TFC_VAULT_ENCODED_CACERT": base64.StdEncoding.EncodeToString(caPEM)}
	admin := storyWorkspace(t, ctx, rootTFE, "admin", vaultAuth, map[string]string{"env:TFC_VAULT_RUN_ROLE": "admin",
		"bucket": "operator-bucket", "aws_endpoint": m.URL, "aws_access_key": engineUser, "aws_secret_key!": enginePassword})
	// The operator workspace goes in a project of its own, which the
	// manager's run tokens are granted: they manage what is in it, and
	// nothing of the admin's or the manager's own.
	operators, err := rootTFE.Projects.Create(ctx, "acme", tfe.ProjectCreateOptions{Name: "operators"})
	if err != nil {
		t.Fatal(err)
	}
	// No TFE_TOKEN is stored: the manager's tfe provider runs with its
	// run's own token.
	manager := storyWorkspace(t, ctx, rootTFE, "manager", vaultAuth, map[string]string{"env:TFC_VAULT_RUN_ROLE": "manager",
		"env:SSL_CERT_FILE": "ca.pem", "operator_project_id": operators.ID,
		"hostname": strings.TrimPrefix(addr, "https://"), "organization": "acme", "vault_addr": addr})
	grantManage(t, srv, manager.ID, operators.ID)
	// The admin shares its outputs with the manager (tfe_outputs).
	if err := rootTFE.Workspaces.AddRemoteStateConsumers(ctx, admin.ID, tfe.WorkspaceAddRemoteStateConsumersOptions{
		Workspaces: []*tfe.Workspace{manager}}); err != nil {
		t.Fatal(err)
	}
	storyUpload(t, ctx, rootTFE, admin, "admin", nil)
	// The tfe provider in the manager's run trusts runcred's CA through
	// SSL_CERT_FILE, a file of the configuration.
	storyUpload(t, ctx, rootTFE, manager, "manager", map[string][]byte{"ca.pem": caPEM})
	if _, err := rootTFE.RunTriggers.Create(ctx, manager.ID, tfe.RunTriggerCreateOptions{Sourceable: admin}); err != nil {
		t.Fatal(err)
	}
	startStoryAgent(t, srv)

	// 1. The admin workspace applies.
	adminRun, err := rootTFE.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: admin, Message: tfe.String("admin: provision the broker")})
	if err != nil {
		t.Fatal(err)
	}
	storyApply(t, ctx, rootTFE, adminRun.ID)
	if _, err := root.Logical().Read("sys/policies/acl/operator"); err != nil {
		t.Fatal(err)
	}

	// 2. The manager's run was queued by the admin's apply; it applies.
	runs, err := rootTFE.Runs.List(ctx, manager.ID, nil)
	if err != nil || len(runs.Items) != 1 || runs.Items[0].Message != "Triggered by run "+adminRun.ID+" in workspace admin" {
		t.Fatalf("manager's runs after the admin's apply = %+v, %v", runs, err)
	}
	storyApply(t, ctx, rootTFE, runs.Items[0].ID)
	operator, err := rootTFE.Workspaces.Read(ctx, "acme", "operator")
	if err != nil {
		t.Fatalf("the manager did not create the operator workspace: %v", err)
	}
	vars, err := rootTFE.Variables.List(ctx, operator.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vars.Items {
		got[v.Key] = fmt.Sprintf("sensitive=%v", v.Sensitive)
		if v.Sensitive && v.Value != "" {
			t.Errorf("variable %s: sensitive value %q read back", v.Key, v.Value)
		}
	}
	if got["role_id"] != "sensitive=true" || got["secret_id"] != "sensitive=true" || got["kv_mount"] != "sensitive=false" {
		t.Fatalf("operator's variables = %v", got)
	}
	triggers, err := rootTFE.RunTriggers.List(ctx, operator.ID, &tfe.RunTriggerListOptions{RunTriggerType: tfe.RunTriggerInbound})
	if err != nil || len(triggers.Items) != 1 || triggers.Items[0].SourceableName != "manager" {
		t.Fatalf("operator's run triggers = %+v, %v", triggers, err)
	}

	// The manager's writes came from its run's own token: each variable
	// is managed by workspace manager and was last written by that run.
	if operator.Project == nil || operator.Project.ID != operators.ID {
		t.Errorf("the operator workspace is in project %+v, want %s", operator.Project, operators.ID)
	}
	written, err := srv.D.Platform.Variables.Variables(rootCtx(), operator.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range written {
		if v.ManagingWorkspaceID != manager.ID || v.WrittenBy.Kind != resource.WriterRun || v.WrittenBy.ID != runs.Items[0].ID ||
			v.WrittenBy.WorkspaceID != manager.ID {
			t.Errorf("variable %s: managed by %q, written by %+v; want workspace %s and its run %s", v.Key, v.ManagingWorkspaceID,
				v.WrittenBy, manager.ID, runs.Items[0].ID)
		}
	}
	protectVariables(t, ctx, rootTFE, operator)

	// 3. The operator plans and applies with its AppRole; VAULT_CACERT
	// (a file of the configuration) makes the vault provider trust the
	// broker.
	if _, err := rootTFE.Variables.Create(ctx, operator.ID, tfe.VariableCreateOptions{Key: tfe.String("VAULT_CACERT"), Value: tfe.String("ca.pem"),
		Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
		t.Fatal(err)
	}
	storyUpload(t, ctx, rootTFE, operator, "operator", map[string][]byte{"ca.pem": caPEM})
	opRun, err := rootTFE.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: operator, Message: tfe.String("operator: deploy")})
	if err != nil {
		t.Fatal(err)
	}
	storyApply(t, ctx, rootTFE, opRun.ID)

	// Its credentials (in its state, as the classic configuration leaves
	// them) reach its bucket and nothing else.
	creds := operatorCreds(t, ctx, rootTFE, operator)
	s3c := m.S3(creds)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("operator-bucket"), Key: aws.String("deploy.txt"), Body: strings.NewReader("ok")}); err != nil {
		t.Errorf("operator's credentials cannot write its bucket: %v", err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("other-bucket"), Key: aws.String("x"), Body: strings.NewReader("no")}); err == nil {
		t.Error("operator's credentials wrote another bucket")
	}
	if _, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("other-bucket")}); err == nil {
		t.Error("operator's credentials listed another bucket")
	}

	// The AppRole's token reaches nothing else in the broker.
	roleID, secretID := operatorAppRole(t, ctx, rootTFE, manager, root)
	op, err := vault.NewClient(root.CloneConfig())
	if err != nil {
		t.Fatal(err)
	}
	login, err := op.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || login == nil || login.Auth == nil {
		t.Fatalf("AppRole login: %v", err)
	}
	op.SetToken(login.Auth.ClientToken)
	paths := readPaths(t, root, ctx, rootTFE, admin)
	for _, p := range []string{"aws/creds/other", paths["manager"] + "/data/config", "auth/approle/role/operator/secret-id", "sys/policies/acl/operator"} {
		if _, err := op.Logical().Read(p); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("operator's AppRole token read %s: %v; want 403", p, err)
		}
	}
	if sec, err := op.Logical().Read(paths["operator"] + "/data/config"); err != nil || sec == nil {
		t.Errorf("operator's AppRole token cannot read its KV path: %v", err)
	}

	// 3b. The better path, in a workspace of its own (a workspace whose
	// state runcred keeps cannot move it to a backend of the
	// configuration's in a run): the agent logs in with the same AppRole
	// and hands the run a shared credentials file for the granted role;
	// the state goes to the operator's bucket with it, and no key is kept.
	agentRoleID, agentSecretID := operatorAppRole(t, ctx, rootTFE, manager, root)
	operatorAgent := storyWorkspace(t, ctx, rootTFE, "operator-agent", map[string]string{"env:TFC_VAULT_PROVIDER_AUTH": "true",
		"env:TFC_VAULT_ADDR": addr, "env:TFC_VAULT_AUTH_TYPE": "approle", "env:TFC_VAULT_ENCODED_CACERT": base64.StdEncoding.EncodeToString(caPEM),
		"env:TFC_VAULT_BACKED_AWS_AUTH": "true", "env:TFC_VAULT_BACKED_AWS_AUTH_TYPE": "assumed_role",
		"env:TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "operator", "env:TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN": "arn:aws:iam::123456789012:role/operator",
		"role_id!": agentRoleID, "secret_id!": agentSecretID})
	agentPath, err := os.ReadFile(filepath.Join("..", "..", "examples", "admin-operator", "operator-agent", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	storyUploadFiles(t, ctx, rootTFE, operatorAgent, map[string][]byte{"main.tf": []byte(strings.ReplaceAll(string(agentPath), "http://127.0.0.1:9000", m.URL))})
	agentRun, err := rootTFE.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: operatorAgent, Message: tfe.String("operator: the agent's AppRole login")})
	if err != nil {
		t.Fatal(err)
	}
	storyApply(t, ctx, rootTFE, agentRun.ID)
	obj, err := m.Admin().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("operator-bucket"), Key: aws.String("operator/terraform.tfstate")})
	if err != nil {
		t.Fatalf("the agent path's state is not in the operator's bucket: %v", err)
	}
	st, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !strings.Contains(string(st), `"terraform_data"`) || strings.Contains(string(st), creds.AccessKeyID) || strings.Contains(string(st), "secret_key") {
		t.Errorf("the agent path's state:\n%s", st)
	}

	// 3c. The platform team rotates the operator's KV mount: the copy, the
	// operator's ACL policy and its managed kv_mount variable follow the
	// new path, a run is queued in the operator workspace, and it applies
	// reading its values from there; the old path is gone.
	rot := rotateMount(t, srv, paths["operator"])
	if rot.State != rotation.Done || len(rot.Report.Runs) != 1 || rot.Report.Runs[0].WorkspaceID != operator.ID || rot.Report.Runs[0].RunID == "" {
		t.Fatalf("rotation = %+v", rot)
	}
	storyApply(t, ctx, rootTFE, rot.Report.Runs[0].RunID)
	newPath := strings.TrimSuffix(rot.NewPath, "/")
	if v := variableValue(t, srv, operator.ID, "kv_mount"); v != newPath {
		t.Errorf("kv_mount after the rotation = %q, want %q", v, newPath)
	}
	if out := stateAttrs(t, currentState(t, ctx, rootTFE, operator), "data", "vault_kv_secret_v2", "config")["mount"]; out != newPath {
		t.Errorf("the rotation's run read mount %v, want %q", out, newPath)
	}
	if sec, err := root.Logical().Read(paths["operator"] + "/data/config"); err == nil && sec != nil {
		t.Errorf("the old path still answers: %v", sec.Data)
	}

	// 4. The operator team may edit variables and queue runs; its edit of
	// role_id is stopped by the protected-variables policy.
	team, err := rootTFE.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("operators")})
	if err != nil {
		t.Fatal(err)
	}
	teamTok, err := rootTFE.TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The classic operator permission, granted explicitly: a new team has
	// no access until it is granted.
	if _, err := rootTFE.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessCustom), Team: team, Workspace: operator,
		Runs: tfe.RunsPermission(tfe.RunsPermissionApply), Variables: tfe.VariablesPermission(tfe.VariablesPermissionWrite),
		StateVersions: tfe.StateVersionsPermission(tfe.StateVersionsPermissionNone)}); err != nil {
		t.Fatal(err)
	}
	opTFE := goTFE(t, srv, teamTok.Token)
	// It points role_id and secret_id at another AppRole it got hold of,
	// one that logs in as well: the plan succeeds, the policy stops it.
	write(t, root, "auth/approle/role/rogue", map[string]any{"token_policies": []string{"operator"}})
	rogue, err := root.Logical().Read("auth/approle/role/rogue/role-id")
	if err != nil {
		t.Fatal(err)
	}
	rogueSecret, err := root.Logical().Write("auth/approle/role/rogue/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	vars, err = opTFE.Variables.List(ctx, operator.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars.Items {
		value := map[string]any{"role_id": rogue.Data["role_id"], "secret_id": rogueSecret.Data["secret_id"]}[v.Key]
		if value == nil {
			continue
		}
		if _, err := opTFE.Variables.Update(ctx, operator.ID, v.ID, tfe.VariableUpdateOptions{Value: tfe.String(value.(string))}); err != nil {
			t.Fatal(err)
		}
	}
	edited, err := opTFE.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: operator, Message: tfe.String("operator: my own role")})
	if err != nil {
		t.Fatal(err)
	}
	storyWait(t, ctx, rootTFE, edited.ID, tfe.RunErrored)
	if r, err := srv.D.Platform.Runs.Run(rootCtx(), edited.ID); err != nil || !strings.Contains(r.ErrorMessage, "protected-variables") ||
		!strings.Contains(r.ErrorMessage, "role_id") {
		t.Fatalf("the edited run's error: %q, %v", r.ErrorMessage, err)
	}
}

// grantManage grants workspace wsID's run tokens the management of the
// workspaces and variables of project projectID, as an organization owner
// does through the API.
func grantManage(t *testing.T, srv *daemontest.Server, wsID, projectID string) {
	t.Helper()
	body := `{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[{"project-id":"` + projectID +
		`","permission":"manage-workspaces-and-variables"}]}}}`
	if code, b := rawAs(t, srv, srv.Token, http.MethodPatch, "/api/v2/workspaces/"+wsID+"/runcred-run-token-grants", body); code != http.StatusOK {
		t.Fatalf("granting: HTTP %d %s", code, b)
	}
}

// rotateMount rotates the broker's kv mount as root, through the API.
func rotateMount(t *testing.T, srv *daemontest.Server, mount string) rotation.Rotation {
	t.Helper()
	code, b := rawAs(t, srv, srv.Token, http.MethodPost, "/api/runcred/v1/mounts/"+mount+"/rotate", "")
	var r rotation.Rotation
	if code != http.StatusOK || json.Unmarshal([]byte(b), &r) != nil {
		t.Fatalf("rotating %s: HTTP %d %s", mount, code, b)
	}
	return r
}

// variableValue is the value of workspace wsID's non-sensitive variable
// key.
func variableValue(t *testing.T, srv *daemontest.Server, wsID, key string) string {
	t.Helper()
	vs, err := srv.D.Platform.Variables.Variables(rootCtx(), wsID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Key == key {
			return v.Value
		}
	}
	t.Fatalf("no variable %s", key)
	return ""
}

// protectVariables attaches the built-in protected-variables policy
// (hard-mandatory) to workspace ws.
func protectVariables(t *testing.T, ctx context.Context, c *tfe.Client, ws *tfe.Workspace) {
	t.Helper()
	hard := tfe.EnforcementHard
	p, err := c.Policies.Create(ctx, "acme", tfe.PolicyCreateOptions{Name: tfe.String("protected-variables"), Kind: tfe.OPA,
		Query: tfe.String("data.terraform.policies.protected_variables.deny"), EnforcementLevel: &hard})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Policies.Upload(ctx, p.ID, policy.LibraryFiles()["protected_variables.rego"]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("managed-variables"), Kind: tfe.OPA,
		Policies: []*tfe.Policy{p}, Workspaces: []*tfe.Workspace{ws}}); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, c *vault.Client, path string, data map[string]any) {
	t.Helper()
	if _, err := c.Logical().Write(path, data); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// storyWorkspace creates workspace name with the variables of each map: a
// key "env:K" is an environment variable, "K!" a sensitive one.
func storyWorkspace(t *testing.T, ctx context.Context, c *tfe.Client, name string, varMaps ...map[string]string) *tfe.Workspace {
	t.Helper()
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, vars := range varMaps {
		for k, v := range vars {
			o := tfe.VariableCreateOptions{Category: tfe.Category(tfe.CategoryTerraform), Value: tfe.String(v)}
			if s, ok := strings.CutPrefix(k, "env:"); ok {
				k, o.Category = s, tfe.Category(tfe.CategoryEnv)
			}
			if s, ok := strings.CutSuffix(k, "!"); ok {
				k, o.Sensitive = s, tfe.Bool(true)
			}
			o.Key = tfe.String(k)
			if _, err := c.Variables.Create(ctx, ws.ID, o); err != nil {
				t.Fatalf("%s: variable %s: %v", name, k, err)
			}
		}
	}
	return ws
}

// storyUpload uploads examples/admin-operator/<dir>, with extra files.
func storyUpload(t *testing.T, ctx context.Context, c *tfe.Client, ws *tfe.Workspace, dir string, extra map[string][]byte) {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "admin-operator", dir)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(src, e.Name())); err == nil && strings.HasSuffix(e.Name(), ".tf") {
			files[e.Name()] = b
		}
	}
	for k, v := range extra {
		files[k] = v
	}
	storyUploadFiles(t, ctx, c, ws, files)
}

// storyUploadFiles uploads files as a configuration version of ws.
func storyUploadFiles(t *testing.T, ctx context.Context, c *tfe.Client, ws *tfe.Workspace, files map[string][]byte) {
	t.Helper()
	tmp := t.TempDir()
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(tmp, k), v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, tmp); err != nil {
		t.Fatal(err)
	}
}

// startStoryAgent runs an agent with the real OpenTofu until the test ends.
func startStoryAgent(t *testing.T, srv *daemontest.Server) {
	t.Helper()
	bin, mirror := tools.OpenTofu(t)
	tok, err := srv.D.DefaultAgentToken(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Server: srv.D.URL(), Token: tok, Binary: bin, ProviderMirror: mirror, WorkDir: t.TempDir(),
		HTTPClient: srv.HTTPClient(t), Poll: 50 * time.Millisecond, Watch: 200 * time.Millisecond, Flush: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
}

// storyWait polls run id until it rests, and fails unless it is want.
func storyWait(t *testing.T, ctx context.Context, c *tfe.Client, id string, want tfe.RunStatus) {
	t.Helper()
	rest := map[tfe.RunStatus]bool{tfe.RunApplied: true, tfe.RunErrored: true, tfe.RunCanceled: true, tfe.RunDiscarded: true,
		tfe.RunPlannedAndFinished: true, tfe.RunPlanned: true, tfe.RunPolicySoftFailed: true, tfe.RunPostPlanAwaitingDecision: true}
	for {
		r, err := c.Runs.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rest[r.Status] {
			if r.Status != want {
				t.Fatalf("run %s is %s, want %s:\n%s", id, r.Status, want, storyLogs(ctx, c, r))
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s still %s", id, r.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// storyApply waits for run id to plan, confirms it and waits for the apply.
func storyApply(t *testing.T, ctx context.Context, c *tfe.Client, id string) {
	t.Helper()
	storyWait(t, ctx, c, id, tfe.RunPlanned)
	if err := c.Runs.Apply(ctx, id, tfe.RunApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	storyWait(t, ctx, c, id, tfe.RunApplied)
}

// storyLogs is the logs of r's plan and apply that have ended (a log
// reader waits for its phase to end).
func storyLogs(ctx context.Context, c *tfe.Client, r *tfe.Run) string {
	ended := map[string]bool{"finished": true, "errored": true, "canceled": true}
	var b strings.Builder
	if r.Plan != nil {
		if p, err := c.Plans.Read(ctx, r.Plan.ID); err == nil && ended[string(p.Status)] {
			if l, err := c.Plans.Logs(ctx, r.Plan.ID); err == nil {
				_, _ = io.Copy(&b, l)
			}
		}
	}
	if r.Apply != nil {
		if a, err := c.Applies.Read(ctx, r.Apply.ID); err == nil && ended[string(a.Status)] {
			if l, err := c.Applies.Logs(ctx, r.Apply.ID); err == nil {
				_, _ = io.Copy(&b, l)
			}
		}
	}
	return b.String()
}

// currentState is workspace ws's current state, as root downloads it.
func currentState(t *testing.T, ctx context.Context, c *tfe.Client, ws *tfe.Workspace) map[string]any {
	t.Helper()
	sv, err := c.StateVersions.ReadCurrent(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.StateVersions.Download(ctx, sv.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// stateAttrs are the attributes of the resource or data source addr (mode
// "managed" or "data", type, name) in st.
func stateAttrs(t *testing.T, st map[string]any, mode, typ, name string) map[string]any {
	t.Helper()
	rs, _ := st["resources"].([]any)
	for _, r := range rs {
		r, _ := r.(map[string]any)
		if r["mode"] == mode && r["type"] == typ && r["name"] == name {
			inst, _ := r["instances"].([]any)
			if len(inst) == 1 {
				attrs, _ := inst[0].(map[string]any)["attributes"].(map[string]any)
				return attrs
			}
		}
	}
	t.Fatalf("no %s %s.%s in the state", mode, typ, name)
	return nil
}

// operatorCreds are the AWS credentials the operator's run read.
func operatorCreds(t *testing.T, ctx context.Context, c *tfe.Client, ws *tfe.Workspace) aws.Credentials {
	t.Helper()
	data, _ := stateAttrs(t, currentState(t, ctx, c, ws), "data", "vault_generic_secret", "aws")["data"].(map[string]any)
	s := func(k string) string { v, _ := data[k].(string); return v }
	if s("access_key") == "" || s("secret_key") == "" {
		t.Fatalf("the operator's state holds no credentials: %v", data)
	}
	return aws.Credentials{AccessKeyID: s("access_key"), SecretAccessKey: s("secret_key"), SessionToken: s("security_token")}
}

// operatorAppRole is the operator's role ID, from the manager's state, and
// a fresh secret ID issued by root.
func operatorAppRole(t *testing.T, ctx context.Context, c *tfe.Client, manager *tfe.Workspace, root *vault.Client) (string, string) {
	t.Helper()
	roleID, _ := stateAttrs(t, currentState(t, ctx, c, manager), "data", "vault_approle_auth_backend_role_id", "operator")["role_id"].(string)
	sec, err := root.Logical().Write("auth/approle/role/operator/secret-id", nil)
	if err != nil || roleID == "" {
		t.Fatalf("role id %q; secret id: %v", roleID, err)
	}
	return roleID, sec.Data["secret_id"].(string)
}

// readPaths reads the current mount paths the admin recorded.
func readPaths(t *testing.T, root *vault.Client, ctx context.Context, c *tfe.Client, admin *tfe.Workspace) map[string]string {
	t.Helper()
	out, err := c.StateVersionOutputs.ReadCurrent(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	var mount string
	for _, o := range out.Items {
		if o.Name == "paths_mount" {
			mount, _ = o.Value.(string)
		}
	}
	kv, err := root.KVv2(mount).Get(ctx, "current")
	if err != nil {
		t.Fatalf("paths mount %q: %v", mount, err)
	}
	paths := map[string]string{}
	for k, v := range kv.Data {
		paths[k], _ = v.(string)
	}
	if !strings.HasPrefix(paths["operator"], "secret-") || !strings.HasPrefix(paths["manager"], "secret-") {
		t.Fatalf("paths = %v", paths)
	}
	return paths
}

// rootCtx is a context of the root caller, for calls into the platform.
func rootCtx() context.Context {
	return access.WithCaller(context.Background(), access.Caller{Accessor: "acc-root", DisplayName: "root", Policies: []string{"root"}})
}
