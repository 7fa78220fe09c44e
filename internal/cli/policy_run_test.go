package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/tools"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/policy"
)

// startWithAgent starts a server (tweaked) with start and a real agent
// running OpenTofu from the project's tools.
func startWithAgent(t *testing.T, start daemontest.Starter, tweak func(*daemon.Config)) *testServer {
	t.Helper()
	tofu, mirror := tools.OpenTofu(t)
	s := &testServer{Server: start(t, tweak), t: t}
	ctx, cancel := context.WithCancel(context.Background())
	tok, err := s.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := agentFlags{tofu: tofu, mirror: mirror, concurrency: 1}
	cfg, err := f.config(s.D.URL(), tok, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Poll = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return s
}

// waitRun waits until run id is in one of want, or fails the test.
func (s *testServer) waitRun(id string, want ...tfe.RunStatus) *tfe.Run {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r := s.readRun(id)
		for _, w := range want {
			if r.Status == w {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s is %s, want one of %v", id, r.Status, want)
		}
		time.Sleep(100 * time.Millisecond) // polling a real run's status; the deadline bounds it
	}
}

// override posts a task stage override as token and returns the status.
func (s *testServer) override(token, stageID, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.D.URL()+"/api/v2/task-stages/"+stageID+"/actions/override", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *testServer) stageOf(runID string) *tfe.TaskStage {
	s.t.Helper()
	l, err := s.api().TaskStages.List(context.Background(), runID, nil)
	if err != nil || len(l.Items) != 1 {
		s.t.Fatalf("task stages of %s = %+v, %v", runID, l, err)
	}
	return l.Items[0]
}

// overriderPolicy is the manage-policy-overrides permission on demo's
// workspaces, with read access to find the runs.
const overriderPolicy = `path "runcred/orgs/demo" { capabilities = ["read"] }
path "runcred/orgs/demo/*" { capabilities = ["read", "list"] }
path "runcred/orgs/demo/workspaces/+/runs/+/actions/override" { capabilities = ["update"] }
`

// operator makes a team of org with write on workspace ws and returns a
// token of it: who may run but not manage policies or override.
func (s *testServer) operator(org, ws string) string {
	s.t.Helper()
	ctx := context.Background()
	team, err := s.api().Teams.Create(ctx, org, tfe.TeamCreateOptions{Name: tfe.String("operators")})
	if err != nil {
		s.t.Fatal(err)
	}
	w, err := s.api().Workspaces.Read(ctx, org, ws)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.api().TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: team, Workspace: w}); err != nil {
		s.t.Fatal(err)
	}
	tok, err := s.api().TeamTokens.Create(ctx, team.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok.Token
}

// TestPolicyChecksOnRealRuns: the built-in library, pushed with `policy
// push`, checks real OpenTofu runs on the server. allowed-assume-roles
// fails a run whose credentials name a role outside the list; the run
// waits; an override without the permission is a 403, without a reason a
// 422, with both the run applies; a new plan is checked again; a role on
// the list passes. protected-variables stops a run whose managed variable
// an operator wrote, and nobody, root included, overrides it; once the
// manager's run writes it back, the run passes.
func TestPolicyChecksOnRealRuns(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) { policyChecksOnRealRuns(t, startWithAgent(t, start, nil)) })
}

func policyChecksOnRealRuns(t *testing.T, s *testServer) {
	s.ok("workspace", "create", "demo/real", "--create-org")
	s.ok("workspace", "create", "demo/manager")
	lib := t.TempDir()
	for name, body := range policy.LibraryFiles() {
		p := filepath.Join(lib, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := s.ok("policy", "push", lib, "demo/library", "--overridable", "--workspace", "demo/real",
		"--param", `allowed_role_arns=["arn:aws:iam::111111111111:role/ok-*"]`)
	if !strings.Contains(out, "Created policy set demo/library") || !strings.Contains(out, ": ready") {
		t.Fatalf("policy push:\n%s", out)
	}
	if out := s.ok("policy", "list", "demo"); !strings.Contains(out, "library") || !strings.Contains(out, "true") {
		t.Fatalf("policy list:\n%s", out)
	}
	if out := s.ok("policy", "show", "demo/library"); !strings.Contains(out, "allowed_role_arns") || !strings.Contains(out, "Overridable:") {
		t.Fatalf("policy show:\n%s", out)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "terraform_data" "x" { input = "v1" }`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok("var", "set", "demo/real", "TFC_AWS_PROVIDER_AUTH", "true", "--env")
	s.ok("var", "set", "demo/real", "TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::222222222222:role/evil", "--env")

	// A role outside the list: the run waits for a decision.
	id := s.start("demo/real", dir)
	s.waitRun(id, tfe.RunPostPlanAwaitingDecision)
	show := s.ok("run", "show", id)
	if !strings.Contains(show, "FAILED") || !strings.Contains(show, "allowed-assume-roles") || !strings.Contains(show, "role/evil") ||
		!strings.Contains(show, "awaiting_override") {
		t.Fatalf("run show:\n%s", show)
	}
	st := s.stageOf(id)
	s.policy("overrider", overriderPolicy)
	operator, overrider := s.operator("demo", "real"), s.token("overrider")
	if code, body := s.override(operator, st.ID, `{"comment":"let me"}`); code != http.StatusForbidden {
		t.Fatalf("an operator's override = %d %s", code, body)
	}
	// Nor may an operator change the policy sets.
	if r := s.as(operator, "", "policy", "push", lib, "demo/library", "--param", `allowed_role_arns=["**"]`); r.code == 0 {
		t.Fatalf("an operator pushed a policy set: %+v", r)
	}
	if r := s.as(operator, "", "policy", "push", lib, "demo/mine", "--global"); r.code == 0 {
		t.Fatalf("an operator created a policy set: %+v", r)
	}
	// The manage-policies grant, as the README writes it, may.
	s.policy("policy-admin", `path "runcred/orgs/demo" { capabilities = ["read"] }
path "runcred/orgs/demo/policies*"    { capabilities = ["create", "read", "update", "delete", "list"] }
path "runcred/orgs/demo/policy-sets*" { capabilities = ["create", "read", "update", "delete", "list"] }
`)
	if r := s.as(s.token("policy-admin"), "", "policy", "push", lib, "demo/advice"); r.code != 0 || !strings.Contains(r.stdout, "ready") {
		t.Fatalf("a policy admin's push: %+v", r)
	}
	if code, body := s.override(overrider, st.ID, `{}`); code != http.StatusUnprocessableEntity || !strings.Contains(body, "justification") {
		t.Fatalf("override without a justification = %d %s", code, body)
	}
	if got := s.readRun(id); got.Status != tfe.RunPostPlanAwaitingDecision {
		t.Fatalf("refused overrides moved the run to %s", got.Status)
	}
	r := s.as(overrider, "", "run", "override", id, "--reason", "the evil role is the migration's, CHG-9")
	if r.code != 0 || !strings.Contains(r.stdout, "planned") {
		t.Fatalf("run override: %+v", r)
	}
	if out := s.ok("run", "apply", id); !strings.Contains(out, "Apply complete!") {
		t.Fatalf("run apply after override:\n%s", out)
	}
	s.waitRun(id, tfe.RunApplied)

	// A new plan is checked again: the override was for that plan alone.
	followed := s.runcred("", "run", "start", "demo/real", dir)
	m := runIDOut.FindStringSubmatch(followed.stdout)
	if followed.code == 0 || m == nil || !strings.Contains(followed.stdout, "runcred run override "+m[1]) ||
		!strings.Contains(followed.stdout, "role/evil") {
		t.Fatalf("run start of a run that fails a mandatory policy: %+v", followed)
	}
	again := m[1]
	s.waitRun(again, tfe.RunPostPlanAwaitingDecision)
	s.ok("run", "discard", again)

	// A role on the list passes.
	s.ok("var", "set", "demo/real", "TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::111111111111:role/ok-deploy", "--env")
	out = s.ok("run", "start", "demo/real", dir)
	// (The configuration was applied: nothing changes, and the check runs all the same.)
	if !strings.Contains(out, "PASSED   allowed-assume-roles") || !strings.Contains(out, "Policy check: passed") ||
		!strings.Contains(out, ": planned_and_finished") {
		t.Fatalf("run with an allowed role:\n%s", out)
	}

	// protected-variables: an operator's write of a managed variable.
	ctx := rootCtx()
	real, err := s.D.Platform.Workspaces.Workspace(ctx, "demo", "real")
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := s.D.Platform.Workspaces.Workspace(ctx, "demo", "manager")
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.D.Platform.Variables.CreateVariable(ctx, real.ID, variable.Options{Key: new("role_id"), Value: new("operator-chosen"),
		Category: new(variable.CategoryTerraform), ManagingWorkspaceID: &mgr.ID})
	if err != nil {
		t.Fatal(err)
	}
	id = s.start("demo/real", dir)
	s.waitRun(id, tfe.RunErrored)
	if er, err := s.D.Platform.Runs.Run(ctx, id); err != nil || !strings.Contains(er.ErrorMessage, "protected-variables") ||
		!strings.Contains(er.ErrorMessage, "role_id") {
		t.Fatalf("errored run's message: %q, %v", er.ErrorMessage, err)
	}
	st = s.stageOf(id)
	if code, body := s.override(s.Token, st.ID, `{"comment":"root insists"}`); code != http.StatusConflict {
		t.Fatalf("root override of a hard-mandatory failure = %d %s", code, body)
	}
	if got := s.readRun(id); got.Status != tfe.RunErrored {
		t.Fatalf("after root's override the run is %s", got.Status)
	}

	// The manager's run writes the value back: the check passes.
	managerRun := access.WithCaller(context.Background(), access.Caller{DisplayName: "run", Policies: []string{"root"},
		Meta: map[string]string{resource.MetaRunID: "run-Manager1", resource.MetaWorkspaceID: mgr.ID}})
	if _, err := s.D.Platform.Variables.UpdateVariable(managerRun, real.ID, v.ID, variable.Options{Value: new("manager-value")}); err != nil {
		t.Fatal(err)
	}
	out = s.ok("run", "start", "demo/real", dir)
	if !strings.Contains(out, "PASSED   protected-variables") || !strings.Contains(out, ": planned_and_finished") {
		t.Fatalf("run after the manager wrote the variable:\n%s", out)
	}
}

// TestBrokenPoliciesFailRealRuns: on a real run, a policy that does not
// compile, one that loops past the time limit, one that calls http.send
// and one whose query is not an array each fail the check; the run errors
// and nothing passes.
func TestBrokenPoliciesFailRealRuns(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) {
		brokenPoliciesFailRealRuns(t, startWithAgent(t, start, func(c *daemon.Config) { c.Policy.Timeout = 2 * time.Second }))
	})
}

func brokenPoliciesFailRealRuns(t *testing.T, s *testServer) {
	s.ok("workspace", "create", "demo/broken", "--create-org")
	hcl := func(level string) string {
		return "policy \"p\" {\n  query = \"data.terraform.policies.p.deny\"\n  enforcement_level = \"" + level + "\"\n}\n"
	}
	broken := map[string]string{
		"syntax":  "package terraform.policies.p\ndeny contains msg if {\n",
		"loop":    "package terraform.policies.p\ndeny contains \"never\" if {\n\tsome a in numbers.range(1, 100000)\n\tsome b in numbers.range(1, 100000)\n\ta * b == -1\n}\n",
		"network": "package terraform.policies.p\ndeny contains r.body if { r := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1/\"}) }\n",
		"scalar":  "package terraform.policies.p\ndeny := \"not an array\"\n",
	}
	ctx := context.Background()
	ws, err := s.api().Workspaces.Read(ctx, "demo", "broken")
	if err != nil {
		t.Fatal(err)
	}
	advisory := tfe.EnforcementAdvisory
	for name, rego := range broken {
		dir := writeFiles(t, map[string]string{"policies.hcl": hcl("advisory"), "p.rego": rego})
		r := s.runcred("", "policy", "push", dir, "demo/"+name, "--overridable", "--workspace", "demo/broken")
		switch name {
		case "syntax", "network":
			// An upload that does not compile is refused, naming why...
			if r.code == 0 || !strings.Contains(r.stderr+r.stdout, map[string]string{"syntax": "rego_parse_error", "network": "http.send"}[name]) {
				t.Fatalf("push %s: %+v", name, r)
			}
			// ...but a policy's own source is its set's to compile, at the
			// check: such a set is stored, and must fail there.
			p, err := s.api().Policies.Create(ctx, "demo", tfe.PolicyCreateOptions{Name: tfe.String(name), Kind: tfe.OPA,
				Query: tfe.String("data.terraform.policies.p.deny"), EnforcementLevel: &advisory})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.api().Policies.Upload(ctx, p.ID, []byte(rego)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.api().PolicySets.Create(ctx, "demo", tfe.PolicySetCreateOptions{Name: tfe.String(name + "-set"), Kind: tfe.OPA,
				Overridable: tfe.Bool(true), Policies: []*tfe.Policy{p}, Workspaces: []*tfe.Workspace{ws}}); err != nil {
				t.Fatal(err)
			}
		default:
			if r.code != 0 {
				t.Fatalf("push %s: %+v", name, r)
			}
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "terraform_data" "x" {}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := s.start("demo/broken", dir)
	got := s.waitRun(id, tfe.RunErrored, tfe.RunPlanned, tfe.RunPostPlanAwaitingDecision)
	if got.Status != tfe.RunErrored {
		t.Fatalf("run with broken policies = %s", got.Status)
	}
	show := s.ok("run", "show", id)
	if strings.Contains(show, "PASSED") || strings.Count(show, "ERRORED") != 4 {
		t.Fatalf("run show:\n%s", show)
	}
	for _, want := range []string{"http.send", "time limit", "array", "rego_parse_error"} {
		if !strings.Contains(show, want) {
			t.Errorf("run show does not say %q:\n%s", want, show)
		}
	}
	st := s.stageOf(id)
	if code, body := s.override(s.Token, st.ID, `{"comment":"root insists"}`); code != http.StatusConflict {
		t.Fatalf("root override of errored policies = %d %s", code, body)
	}
}
