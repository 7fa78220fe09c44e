package jobserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/secret"
)

// sensitive is a sensitive workspace variable's value: the job token reads
// it, nothing else may.
const sensitive = "jobapi-canary-Zx81QmT4"

const org = "demo"

// env is a runcred server started in-process, a go-tfe client with its root
// token, and the protocol's client with a default-pool agent token. No
// agent runs: the tests drive the protocol themselves.
type env struct {
	srv   *daemontest.Server
	tfe   *tfe.Client
	api   *jobapi.Client
	agent secret.Value

	noRead bool // queue does not read the run back (a waiting claim may have it)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return envOn(t, daemontest.Start(t, nil))
}

// envOn is an env on srv.
func envOn(t *testing.T, srv *daemontest.Server) *env {
	t.Helper()
	ctx := ctxT(t)
	c, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String(org), Email: tfe.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	tok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, tfe: c, api: &jobapi.Client{Server: srv.D.URL(), HTTP: &http.Client{Timeout: time.Minute}}, agent: tok}
	// The tests mint for aws.example, which the credential guard allows
	// only once the organization's owner has listed it.
	allow := `{"data":{"type":"runcred-credential-guards","attributes":{"audiences":["aws.example"]}}}`
	if code, body := e.raw(t, srv.Token, "PATCH", "/api/v2/organizations/"+org+"/runcred-credential-guard", []byte(allow)); code != http.StatusOK {
		t.Fatalf("allowing aws.example: HTTP %d %s", code, body)
	}
	return e
}

// queue makes workspace name, with a plain and a sensitive variable and a
// configuration, and queues a run of it.
func (e *env) queue(t *testing.T, name string) *tfe.Run {
	t.Helper()
	ctx := ctxT(t)
	ws, err := e.tfe.Workspaces.Create(ctx, org, tfe.WorkspaceCreateOptions{Name: tfe.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []tfe.VariableCreateOptions{
		{Key: tfe.String("name"), Value: tfe.String("plain-" + name), Category: tfe.Category(tfe.CategoryTerraform)},
		{Key: tfe.String("secret"), Value: tfe.String(sensitive), Category: tfe.Category(tfe.CategoryTerraform), Sensitive: tfe.Bool(true)},
	} {
		if _, err := e.tfe.Variables.Create(ctx, ws.ID, v); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "terraform_data" "x" {}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cv, err := e.tfe.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tfe.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		t.Fatal(err)
	}
	r, err := e.tfe.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, Message: tfe.String("test")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != tfe.RunPlanQueued {
		t.Fatalf("new run is %s, want plan_queued", r.Status)
	}
	if e.noRead {
		return r
	}
	return e.read(t, r.ID, tfe.RunPlanQueued)
}

// read reads run id and checks its status.
func (e *env) read(t *testing.T, id string, want tfe.RunStatus) *tfe.Run {
	t.Helper()
	r, err := e.tfe.Runs.Read(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != want {
		t.Fatalf("run %s is %s, want %s", id, r.Status, want)
	}
	return r
}

// claim claims the next job, which must exist.
func (e *env) claim(t *testing.T) (*jobapi.Job, *jobapi.JobClient) {
	t.Helper()
	j, err := e.api.Claim(ctxT(t), e.agent, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if j == nil {
		t.Fatal("claim: no job")
	}
	return j, e.api.For(j)
}

// as is a client for phase phaseID that presents tok.
func (e *env) as(tok secret.Value, phaseID string) *jobapi.JobClient {
	return e.api.For(&jobapi.Job{PhaseID: phaseID, Token: tok})
}

// raw sends one request to the server with tok ("" for none).
func (e *env) raw(t *testing.T, tok, method, path string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, e.srv.D.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) vault(t *testing.T, tok string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = e.srv.D.URL()
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

// planLog is the whole log of plan id (the plan must have ended).
func (e *env) planLog(t *testing.T, id string) string {
	t.Helper()
	rd, err := e.tfe.Plans.Logs(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// status is the HTTP status of a protocol refusal, 0 for anything else.
func status(err error) int {
	var e *jobapi.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// calls are every job operation a phase client makes.
func calls(ph *jobapi.JobClient) []struct {
	name string
	do   func(context.Context) error
} {
	return []struct {
		name string
		do   func(context.Context) error
	}{
		{"status", func(ctx context.Context) error { _, err := ph.Status(ctx); return err }},
		{"inputs", func(ctx context.Context) error { _, err := ph.Inputs(ctx); return err }},
		{"mint", func(ctx context.Context) error { _, err := ph.Mint(ctx, "aws.example"); return err }},
		{"log", func(ctx context.Context) error { return ph.AppendLog(ctx, []byte("intruder\n")) }},
		{"plan-file", func(ctx context.Context) error { return ph.StorePlanFile(ctx, []byte("forged plan")) }},
		{"plan-json", func(ctx context.Context) error { return ph.StorePlanJSON(ctx, []byte(`{"forged":true}`)) }},
		{"state", func(ctx context.Context) error {
			return ph.StoreState(ctx, []byte(`{"version":4,"serial":9,"lineage":"forged","resources":[]}`))
		}},
		{"finish", func(ctx context.Context) error { return ph.Finish(ctx, jobapi.Finish{HasChanges: true, Additions: 7}) }},
		{"fail", func(ctx context.Context) error {
			return ph.Finish(ctx, jobapi.Finish{Errored: true, Message: "forged"})
		}},
	}
}

// refusedAll checks that every job operation through ph is refused with
// status want.
func refusedAll(t *testing.T, ph *jobapi.JobClient, want int) {
	t.Helper()
	ctx := ctxT(t)
	for _, c := range calls(ph) {
		err := c.do(ctx)
		if got := status(err); got != want {
			t.Errorf("%s: %v (HTTP %d), want HTTP %d", c.name, err, got, want)
		}
	}
}

// jwtClaims decodes a compact JWS's payload without verifying it.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
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

func TestClaim(t *testing.T) { daemontest.Each(t, testClaim) }

func testClaim(t *testing.T, start daemontest.Starter) {
	t.Run("anonymous and unknown tokens cannot claim", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		e.queue(t, "ws")
		path := jobapi.Prefix + "/pools/default/jobs"
		if code, body := e.raw(t, "", "POST", path, nil); code != http.StatusUnauthorized {
			t.Errorf("anonymous claim: HTTP %d %s, want 401", code, body)
		}
		for _, tok := range []string{"hvs.AAAAAAAAAAAAAAAAAAAAAAAA", "not-a-token", e.srv.Token + "x"} {
			// A token the server does not know authenticates nobody (401);
			// 403 is for a known caller without the grant.
			if code, body := e.raw(t, tok, "POST", path, nil); code != http.StatusUnauthorized {
				t.Errorf("claim with %q: HTTP %d %s, want 401", tok, code, body)
			}
		}
		e.read(t, e.queueID(t), tfe.RunPlanQueued)
	})

	t.Run("a token without the default pool grant cannot claim", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		e.queue(t, "ws")
		sec, err := e.vault(t, e.srv.Token).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		j, err := e.api.Claim(ctxT(t), secret.FromString(sec.Auth.ClientToken), "", 0)
		if status(err) != http.StatusForbidden || j != nil {
			t.Fatalf("claim with a default-policy token: %+v, %v; want 403", j, err)
		}
		e.read(t, e.queueID(t), tfe.RunPlanQueued)
	})

	t.Run("the default agent token cannot claim a named pool", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		for _, pool := range []string{"apool-AAAAAAAAAAAAAAAA", "../default", "default/../x"} {
			j, err := e.api.Claim(ctxT(t), e.agent, pool, 0)
			if c := status(err); j != nil || (c != http.StatusForbidden && c != http.StatusBadRequest && c != http.StatusNotFound) {
				t.Errorf("claim of pool %q: %+v, %v; want a 4xx refusal", pool, j, err)
			}
		}
	})

	t.Run("204 when idle, then each queued phase once", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		if code, body := e.raw(t, e.agent.RevealString(), "POST", jobapi.Prefix+"/pools/default/jobs", nil); code != http.StatusNoContent || body != "" {
			t.Fatalf("idle claim: HTTP %d %q, want 204 and no body", code, body)
		}
		a := e.queue(t, "ws-a")
		b := e.queue(t, "ws-b")
		j1, _ := e.claim(t)
		j2, _ := e.claim(t)
		if j1.PhaseID == j2.PhaseID || j1.Token.Equal(j2.Token) {
			t.Fatalf("two claims returned the same phase or token: %s, %s", j1.PhaseID, j2.PhaseID)
		}
		got := map[string]*jobapi.Job{j1.RunID: j1, j2.RunID: j2}
		for name, r := range map[string]*tfe.Run{"ws-a": a, "ws-b": b} {
			j := got[r.ID]
			if j == nil {
				t.Fatalf("run %s was not claimed (got %v)", r.ID, got)
			}
			if j.Phase != "plan" || j.PhaseID != r.Plan.ID || j.Organization != org || j.Workspace != name ||
				j.WorkspaceID != r.Workspace.ID || j.Project != organization.DefaultProjectName || j.ProjectID == "" ||
				j.ConfigurationVersionID == "" || j.Token.Empty() || !j.TokenExpires.After(time.Now()) || j.Message != "test" {
				t.Errorf("job = %+v for run %s", j, r.ID)
			}
			e.read(t, r.ID, tfe.RunPlanning)
		}
		if j, err := e.api.Claim(ctxT(t), e.agent, "", 0); j != nil || err != nil {
			t.Fatalf("third claim = %+v, %v; want none", j, err)
		}
	})

	t.Run("a second run of a busy workspace waits", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		r := e.queue(t, "ws")
		e.claim(t)
		second, err := e.tfe.Runs.Create(ctxT(t), tfe.RunCreateOptions{Workspace: r.Workspace, Message: tfe.String("second")})
		if err != nil {
			t.Fatal(err)
		}
		if j, err := e.api.Claim(ctxT(t), e.agent, "", 0); j != nil || err != nil {
			t.Fatalf("claim = %+v, %v; want none while the workspace's run is planning", j, err)
		}
		e.read(t, second.ID, tfe.RunPending)
	})

	t.Run("a waiting claim gets the run queued while it waits", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		type answer struct {
			j   *jobapi.Job
			err error
		}
		got := make(chan answer, 1)
		go func() {
			j, err := e.api.Claim(ctxT(t), e.agent, "", jobapi.MaxWait)
			got <- answer{j, err}
		}()
		e.noRead = true       // the waiting claim may take it at once
		r := e.queue(t, "ws") // without the long poll, the claim above has answered 204 by now or soon
		a := <-got
		if a.err != nil || a.j == nil || a.j.RunID != r.ID {
			t.Fatalf("waiting claim = %+v, %v; want run %s", a.j, a.err, r.ID)
		}
	})

	t.Run("wait must be 0 to 60 whole seconds", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		for _, q := range []string{"61", "-1", "1.5", "x", "99999999999999999999"} {
			if code, body := e.raw(t, e.agent.RevealString(), "POST", jobapi.Prefix+"/pools/default/jobs?wait="+q, nil); code != http.StatusBadRequest {
				t.Errorf("wait=%s: HTTP %d %s, want 400", q, code, body)
			}
		}
	})
}

// queueID is the id of the only run in the server's demo/ws workspace.
func (e *env) queueID(t *testing.T) string {
	t.Helper()
	ws, err := e.tfe.Workspaces.Read(ctxT(t), org, "ws")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := e.tfe.Runs.List(ctxT(t), ws.ID, nil)
	if err != nil || len(rl.Items) != 1 {
		t.Fatalf("runs of demo/ws: %v, %v", rl, err)
	}
	return rl.Items[0].ID
}

func TestJobToken(t *testing.T) { daemontest.Each(t, testJobToken) }

func testJobToken(t *testing.T, start daemontest.Starter) {
	t.Run("drives its own phase", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		ctx := ctxT(t)
		r := e.queue(t, "ws")
		j, ph := e.claim(t)

		if st, err := ph.Status(ctx); err != nil || st.Status != "planning" || st.CancelRequested {
			t.Fatalf("status = %+v, %v", st, err)
		}
		in, err := ph.Inputs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Archive) < 2 || in.Archive[0] != 0x1f || in.Archive[1] != 0x8b || in.State != nil || in.PlanFile != nil {
			t.Errorf("inputs: archive %d bytes (%x…), state %d, plan file %d", len(in.Archive), in.Archive[:min(2, len(in.Archive))], len(in.State), len(in.PlanFile))
		}
		vars := map[string]jobapi.Variable{}
		for _, v := range in.Variables {
			vars[v.Key] = v
		}
		if v := vars["secret"]; v.Value != sensitive || !v.Sensitive || v.Category != "terraform" {
			t.Errorf("sensitive variable = %+v", v)
		}
		if v := vars["name"]; v.Value != "plain-ws" || v.Sensitive {
			t.Errorf("plain variable = %+v", v)
		}

		tok, err := ph.Mint(ctx, "aws.example")
		if err != nil {
			t.Fatal(err)
		}
		claims := jwtClaims(t, tok.RevealString())
		wantSub := "organization:demo:project:Default Project:workspace:ws:run_phase:plan"
		if claims["sub"] != wantSub || claims["terraform_run_id"] != r.ID || claims["terraform_run_phase"] != "plan" ||
			claims["terraform_workspace_id"] != r.Workspace.ID || claims["aud"] != "aws.example" {
			t.Errorf("claims = %v", claims)
		}
		p, err := oidc.NewProvider(ctx, e.srv.D.PublicURL())
		if err != nil {
			t.Fatal(err)
		}
		idt, err := p.Verifier(&oidc.Config{ClientID: "aws.example"}).Verify(ctx, tok.RevealString())
		if err != nil {
			t.Fatalf("verifying the minted token: %v", err)
		}
		if idt.Subject != wantSub {
			t.Errorf("verified sub = %q", idt.Subject)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: "other"}).Verify(ctx, tok.RevealString()); err == nil {
			t.Error("the token verified for another audience")
		}

		if err := ph.AppendLog(ctx, []byte("line one\n")); err != nil {
			t.Fatal(err)
		}
		if err := ph.AppendLog(ctx, []byte("line two\n")); err != nil {
			t.Fatal(err)
		}
		if err := ph.StorePlanFile(ctx, []byte("saved plan bytes")); err != nil {
			t.Fatal(err)
		}
		planJSON := `{"format_version":"1.2","resource_changes":[{"address":"terraform_data.x","change":{"actions":["create"]}}]}`
		if err := ph.StorePlanJSON(ctx, []byte(planJSON)); err != nil {
			t.Fatal(err)
		}
		if err := ph.Finish(ctx, jobapi.Finish{HasChanges: true, Additions: 1}); err != nil {
			t.Fatal(err)
		}
		r = e.read(t, r.ID, tfe.RunPlanned)
		plan, err := e.tfe.Plans.Read(ctx, j.PhaseID)
		if err != nil || !plan.HasChanges || plan.ResourceAdditions != 1 || plan.ResourceChanges != 0 {
			t.Fatalf("plan = %+v, %v", plan, err)
		}
		if got := e.planLog(t, j.PhaseID); got != "line one\nline two\n" {
			t.Errorf("plan log = %q", got)
		}
		if pj, err := e.tfe.Plans.ReadJSONOutput(ctx, j.PhaseID); err != nil || string(bytes.TrimSpace(pj)) != planJSON {
			t.Errorf("plan JSON = %s, %v", pj, err)
		}

		// The apply gets its own job token, the saved plan, and stores state.
		if err := e.tfe.Runs.Apply(ctx, r.ID, tfe.RunApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		aj, aph := e.claim(t)
		if aj.Phase != "apply" || aj.PhaseID != r.Apply.ID || aj.RunID != r.ID || aj.Token.Equal(j.Token) {
			t.Fatalf("apply job = %+v", aj)
		}
		ain, err := aph.Inputs(ctx)
		if err != nil || string(ain.PlanFile) != "saved plan bytes" {
			t.Fatalf("apply inputs: plan file %q, %v", ain.PlanFile, err)
		}
		atok, err := aph.Mint(ctx, "aws.example")
		if err != nil {
			t.Fatal(err)
		}
		if c := jwtClaims(t, atok.RevealString()); c["sub"] != strings.TrimSuffix(wantSub, "plan")+"apply" || c["terraform_run_phase"] != "apply" {
			t.Errorf("apply claims = %v", c)
		}
		state := `{"version":4,"terraform_version":"1.9.0","serial":1,"lineage":"6b1e0c1c-1111-2222-3333-444455556666","outputs":{},"resources":[]}`
		if err := aph.StoreState(ctx, []byte(state)); err != nil {
			t.Fatal(err)
		}
		if err := aph.Finish(ctx, jobapi.Finish{}); err != nil {
			t.Fatal(err)
		}
		e.read(t, r.ID, tfe.RunApplied)
		sv, err := e.tfe.StateVersions.ReadCurrent(ctx, r.Workspace.ID)
		if err != nil || sv.Serial != 1 {
			t.Fatalf("current state = %+v, %v", sv, err)
		}
		if a, err := e.tfe.Applies.Read(ctx, aj.PhaseID); err != nil || a.ResourceAdditions != 1 {
			t.Fatalf("apply = %+v, %v (an empty count applies the plan's)", a, err)
		}
	})

	t.Run("the agent token cannot use job endpoints", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		r := e.queue(t, "ws")
		j, ph := e.claim(t)
		refusedAll(t, e.as(e.agent, j.PhaseID), http.StatusForbidden)
		e.read(t, r.ID, tfe.RunPlanning)
		if err := ph.Finish(ctxT(t), jobapi.Finish{}); err != nil {
			t.Fatal(err)
		}
		if got := e.planLog(t, j.PhaseID); got != "" {
			t.Errorf("plan log = %q, want nothing", got)
		}
	})

	t.Run("a job token cannot claim", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		e.queue(t, "ws")
		j, _ := e.claim(t)
		e.queue(t, "ws2")
		if got, err := e.api.Claim(ctxT(t), j.Token, "", 0); got != nil || status(err) != http.StatusForbidden {
			t.Fatalf("claim with a job token = %+v, %v; want 403", got, err)
		}
	})

	t.Run("a job token of one run cannot drive another", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		ctx := ctxT(t)
		e.queue(t, "ws-a")
		e.queue(t, "ws-b")
		ja, pa := e.claim(t)
		jb, pb := e.claim(t)
		refusedAll(t, e.as(ja.Token, jb.PhaseID), http.StatusForbidden)
		refusedAll(t, e.as(jb.Token, ja.PhaseID), http.StatusForbidden)
		// Both phases are untouched and still their own tokens'.
		for _, x := range []struct {
			j  *jobapi.Job
			ph *jobapi.JobClient
		}{{ja, pa}, {jb, pb}} {
			e.read(t, x.j.RunID, tfe.RunPlanning)
			if err := x.ph.Finish(ctx, jobapi.Finish{}); err != nil {
				t.Fatal(err)
			}
			e.read(t, x.j.RunID, tfe.RunPlannedAndFinished)
			if got := e.planLog(t, x.j.PhaseID); got != "" {
				t.Errorf("log of %s = %q, want nothing", x.j.PhaseID, got)
			}
		}
	})

	t.Run("a job token reaches nothing beyond its phase", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		r := e.queue(t, "ws")
		j, _ := e.claim(t)
		tok := j.Token.RevealString()
		mint := `{"organization":"demo","project":"Default Project","workspace":"ws","run_id":"` + r.ID + `","phase":"plan","audience":"a"}`
		if code, body := e.raw(t, tok, "POST", "/api/runcred/v1/identity/mint", []byte(mint)); code != http.StatusForbidden {
			t.Errorf("generic mint: HTTP %d %s, want 403", code, body)
		}
		for _, p := range []string{
			"/api/v2/organizations",
			"/api/v2/organizations/demo",
			"/api/v2/organizations/demo/workspaces",
			"/api/v2/workspaces/" + r.Workspace.ID,
			"/api/v2/workspaces/" + r.Workspace.ID + "/vars",
			"/api/v2/runs/" + r.ID,
			"/api/runcred/v1/audit",
			"/api/runcred/v1/identity/keys",
		} {
			// The root token reads each, so a 404 below hides, not misses.
			if code, body := e.raw(t, e.srv.Token, "GET", p, nil); code != http.StatusOK {
				t.Fatalf("GET %s as root: HTTP %d %s", p, code, body)
			}
			// The platform API hides what a caller may not read, as HCP
			// Terraform does (404); runcred's own API denies (403).
			want := http.StatusForbidden
			if strings.HasPrefix(p, "/api/v2/") {
				want = http.StatusNotFound
			}
			if code, body := e.raw(t, tok, "GET", p, nil); code != want {
				t.Errorf("GET %s: HTTP %d %s, want %d", p, code, body, want)
			} else if strings.Contains(body, sensitive) || strings.Contains(body, "plain-ws") {
				t.Errorf("GET %s revealed a variable: %s", p, body)
			}
		}
		if code, body := e.raw(t, tok, "POST", "/api/v2/runs/"+r.ID+"/actions/cancel", nil); code != http.StatusNotFound {
			t.Errorf("cancel: HTTP %d %s, want 404", code, body)
		}
		e.read(t, r.ID, tfe.RunPlanning)

		root := e.vault(t, e.srv.Token)
		if err := root.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := root.Logical().Write("secret/data/db", map[string]any{"data": map[string]any{"password": "hunter2"}}); err != nil {
			t.Fatal(err)
		}
		jv := e.vault(t, tok)
		if s, err := jv.Logical().Read("secret/data/db"); err == nil || !isVaultStatus(err, http.StatusForbidden) {
			t.Errorf("broker secret read with the job token: %v, %v; want 403", s, err)
		}
		if s, err := jv.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{run.JobPolicy}}); err == nil || !isVaultStatus(err, http.StatusForbidden) {
			t.Errorf("token create with the job token: %v, %v; want 403", s, err)
		}
		if _, err := jv.Sys().ListMounts(); err == nil || !isVaultStatus(err, http.StatusForbidden) {
			t.Errorf("list mounts with the job token: %v; want 403", err)
		}
	})

	t.Run("a plan's token cannot store state or end the apply", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		ctx := ctxT(t)
		r := e.queue(t, "ws")
		j, ph := e.claim(t)
		state := []byte(`{"version":4,"serial":1,"lineage":"l","resources":[]}`)
		// Its own phase: the token may act on it, but a plan stores no state.
		if err := ph.StoreState(ctx, state); status(err) != http.StatusBadRequest {
			t.Errorf("plan stores state: %v, want 400", err)
		}
		onApply := e.as(j.Token, r.Apply.ID)
		for name, err := range map[string]error{
			"finish":  onApply.Finish(ctx, jobapi.Finish{Additions: 1}),
			"fail":    onApply.Finish(ctx, jobapi.Finish{Errored: true, Message: "x"}),
			"state":   onApply.StoreState(ctx, state),
			"inputs":  func() error { _, err := onApply.Inputs(ctx); return err }(),
			"logs":    onApply.AppendLog(ctx, []byte("into the apply\n")),
			"planjsn": onApply.StorePlanJSON(ctx, []byte(`{}`)),
		} {
			// Another phase: the token is bound to its own, so this is denied.
			if c := status(err); c != http.StatusForbidden {
				t.Errorf("%s on the apply with the plan's token: %v, want 403", name, err)
			}
		}
		e.read(t, r.ID, tfe.RunPlanning)
		if _, err := e.tfe.StateVersions.ReadCurrent(ctx, r.Workspace.ID); err == nil {
			t.Error("a state version was stored")
		}
		if st, err := ph.Status(ctx); err != nil || st.Status != "planning" {
			t.Fatalf("the plan's token after the refusals: %+v, %v", st, err)
		}
	})

	// endJob's revocation can fail; the token it leaves must still be
	// refused for the apply that follows, which it does not name.
	t.Run("a plan's token whose revocation failed cannot drive the apply", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		ctx := ctxT(t)
		r := e.queue(t, "ws")
		j, ph := e.claim(t)
		// Lose the accessor, as a revocation that failed and was later
		// overwritten by the apply's claim would.
		if _, err := e.srv.D.DB().Exec(ctx, `UPDATE runs SET job_token_accessor = '' WHERE id = ?`, r.ID); err != nil {
			t.Fatal(err)
		}
		if err := ph.StorePlanFile(ctx, []byte("saved plan")); err != nil {
			t.Fatal(err)
		}
		if err := ph.Finish(ctx, jobapi.Finish{HasChanges: true, Additions: 1}); err != nil {
			t.Fatal(err)
		}
		if err := e.tfe.Runs.Apply(ctx, r.ID, tfe.RunApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		aj, _ := e.claim(t)
		// The token still authenticates, as the plan's: denied.
		refusedAll(t, e.as(j.Token, aj.PhaseID), http.StatusForbidden)
		e.read(t, r.ID, tfe.RunApplying)
	})

	t.Run("revoked when its phase finishes", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		r := e.queue(t, "ws")
		j, ph := e.claim(t)
		if err := ph.Finish(ctxT(t), jobapi.Finish{HasChanges: true, Additions: 1}); err != nil {
			t.Fatal(err)
		}
		e.read(t, r.ID, tfe.RunPlanned)
		e.revoked(t, j, ph)
		// The apply's token is the apply's alone, and goes with it too.
		if err := e.tfe.Runs.Apply(ctxT(t), r.ID, tfe.RunApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		aj, aph := e.claim(t)
		// The plan's token is revoked, so it authenticates nobody.
		refusedAll(t, e.as(j.Token, aj.PhaseID), http.StatusUnauthorized)
		if err := aph.Finish(ctxT(t), jobapi.Finish{Errored: true, Message: "boom"}); err != nil {
			t.Fatal(err)
		}
		e.read(t, r.ID, tfe.RunErrored)
		e.revoked(t, aj, aph)
	})

	t.Run("revoked when its run is force-canceled", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		r := e.queue(t, "ws")
		j, ph := e.claim(t)
		if err := ph.AppendLog(ctxT(t), []byte("started\n")); err != nil {
			t.Fatal(err)
		}
		if err := e.tfe.Runs.ForceCancel(ctxT(t), r.ID, tfe.RunForceCancelOptions{}); err != nil {
			t.Fatal(err)
		}
		e.read(t, r.ID, tfe.RunCanceled)
		e.revoked(t, j, ph)
		if got := e.planLog(t, j.PhaseID); got != "started\n" {
			t.Errorf("plan log = %q", got)
		}
	})

	t.Run("a cancel request reaches the agent, which ends the phase canceled", func(t *testing.T) {
		e := envOn(t, start(t, nil))
		ctx := ctxT(t)
		r := e.queue(t, "ws")
		j, ph := e.claim(t)
		if err := e.tfe.Runs.Cancel(ctx, r.ID, tfe.RunCancelOptions{}); err != nil {
			t.Fatal(err)
		}
		e.read(t, r.ID, tfe.RunPlanning)
		if st, err := ph.Status(ctx); err != nil || st.Status != "planning" || !st.CancelRequested {
			t.Fatalf("status = %+v, %v; want the cancel request", st, err)
		}
		if err := ph.AppendLog(ctx, []byte("interrupted\n")); err != nil {
			t.Fatal(err)
		}
		if err := ph.Finish(ctx, jobapi.Finish{Canceled: true}); err != nil {
			t.Fatal(err)
		}
		e.read(t, r.ID, tfe.RunCanceled)
		e.revoked(t, j, ph)
		if got := e.planLog(t, j.PhaseID); got != "interrupted\n" {
			t.Errorf("plan log = %q", got)
		}
	})
}

// revoked checks that j's token is refused everywhere, as gone, and that
// the broker no longer knows it.
func (e *env) revoked(t *testing.T, j *jobapi.Job, ph *jobapi.JobClient) {
	t.Helper()
	ctx := ctxT(t)
	for _, c := range calls(ph) {
		err := c.do(ctx)
		if !jobapi.Gone(err) {
			t.Errorf("%s after the phase ended: %v, want gone", c.name, err)
		}
	}
	// Status needs no running phase: only a revoked token fails it.
	if _, err := ph.Status(ctx); status(err) != http.StatusUnauthorized {
		t.Errorf("status with the ended phase's token: %v, want 401", err)
	}
	if s, err := e.vault(t, e.srv.Token).Auth().Token().Lookup(j.Token.RevealString()); err == nil {
		t.Errorf("the broker still knows the job token: %+v", s.Data)
	}
}

func isVaultStatus(err error, code int) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}

func TestMalformed(t *testing.T) {
	e := newEnv(t)
	r := e.queue(t, "ws")
	j, ph := e.claim(t)
	jobs := jobapi.Prefix + "/jobs/" + j.PhaseID
	for _, c := range []struct{ name, method, path, body string }{
		{"finish with an unknown field", "POST", "/finish", `{"errored":false,"bogus":1}`},
		{"finish with negative additions", "POST", "/finish", `{"has_changes":true,"additions":-1}`},
		{"finish with negative changes", "POST", "/finish", `{"changes":-5}`},
		{"finish with negative destructions", "POST", "/finish", `{"destructions":-1}`},
		{"finish that is not JSON", "POST", "/finish", `errored=true`},
		{"finish with two values", "POST", "/finish", `{} {}`},
		{"finish with a string count", "POST", "/finish", `{"additions":"1"}`},
		{"finish with an empty body", "POST", "/finish", ``},
		{"mint with an empty audience", "POST", "/identity", `{"audience":""}`},
		{"mint with no audience", "POST", "/identity", `{}`},
		{"mint with a list of audiences", "POST", "/identity", `{"audience":["a","b"]}`},
		{"mint with a space in the audience", "POST", "/identity", `{"audience":"a b"}`},
		{"mint with a subject", "POST", "/identity", `{"audience":"a","subject":{"workspace":"other"}}`},
		{"mint that is not JSON", "POST", "/identity", `audience=a`},
		{"plan JSON that is not JSON", "PUT", "/plan-json", `{"resource_changes":`},
		{"empty plan file", "PUT", "/plan-file", ``},
		{"state that is not state", "PUT", "/state", `{"version":4}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, body := e.raw(t, j.Token.RevealString(), c.method, jobs+c.path, []byte(c.body)); code != http.StatusBadRequest {
				t.Errorf("HTTP %d %s, want 400", code, body)
			}
		})
	}
	t.Run("oversized log chunk", func(t *testing.T) {
		big := bytes.Repeat([]byte("X"), run.MaxLogChunk+1)
		if err := ph.AppendLog(ctxT(t), big); status(err) != http.StatusBadRequest {
			t.Fatalf("append %d bytes: %v, want 400", len(big), err)
		}
	})
	// None of it ended the phase or was stored.
	e.read(t, r.ID, tfe.RunPlanning)
	if err := ph.AppendLog(ctxT(t), []byte("only line\n")); err != nil {
		t.Fatal(err)
	}
	if err := ph.Finish(ctxT(t), jobapi.Finish{}); err != nil {
		t.Fatal(err)
	}
	e.read(t, r.ID, tfe.RunPlannedAndFinished)
	if got := e.planLog(t, j.PhaseID); got != "only line\n" {
		t.Errorf("plan log = %.200q, want only the accepted line", got)
	}
	plan, err := e.tfe.Plans.Read(ctxT(t), j.PhaseID)
	if err != nil || plan.ResourceAdditions != 0 || plan.ResourceChanges != 0 || plan.ResourceDestructions != 0 || plan.HasChanges {
		t.Errorf("plan = %+v, %v", plan, err)
	}
	if pj, err := e.tfe.Plans.ReadJSONOutput(ctxT(t), j.PhaseID); err == nil && len(bytes.TrimSpace(pj)) > 0 {
		t.Errorf("plan JSON was stored: %.200s", pj)
	}
}

// Bodies are refused for who sends them before they are read: an
// anonymous caller gets 401 and a foreign token 403, never a body-size or
// JSON complaint.
func TestRefusedBeforeTheBody(t *testing.T) { daemontest.Each(t, testRefusedBeforeTheBody) }

func testRefusedBeforeTheBody(t *testing.T, start daemontest.Starter) {
	e := envOn(t, start(t, nil))
	r := e.queue(t, "ws")
	j, _ := e.claim(t)
	big := bytes.Repeat([]byte("X"), run.MaxLogChunk+1)
	for _, who := range []struct {
		name, tok string
		want      int // anonymous: unauthenticated; a known token without the grant: denied
	}{{"anonymous", "", http.StatusUnauthorized}, {"agent token", e.agent.RevealString(), http.StatusForbidden}} {
		for _, c := range []struct {
			method, path string
			body         []byte
		}{
			{"POST", "/logs", big},
			{"PUT", "/plan-file", nil},
			{"PUT", "/plan-json", []byte("not json")},
			{"PUT", "/state", []byte("not json")},
			{"POST", "/finish", []byte("not json")},
			{"POST", "/identity", []byte("not json")},
		} {
			code, body := e.raw(t, who.tok, c.method, jobapi.Prefix+"/jobs/"+j.PhaseID+c.path, c.body)
			if code != who.want {
				t.Errorf("%s %s %s: HTTP %d %s, want %d", who.name, c.method, c.path, code, body, who.want)
			}
		}
	}
	e.read(t, r.ID, tfe.RunPlanning)
}

// A mint request is answered for the phase's state before its body: a
// phase that is no longer running is a conflict (409) whatever the body,
// and only a running phase's request is judged for its body (400).
func TestMintRefusesAnEndedPhaseBeforeTheBody(t *testing.T) {
	daemontest.Each(t, testMintRefusesAnEndedPhaseBeforeTheBody)
}

func testMintRefusesAnEndedPhaseBeforeTheBody(t *testing.T, start daemontest.Starter) {
	e := envOn(t, start(t, nil))
	e.queue(t, "ws")
	j, ph := e.claim(t)
	mint := jobapi.Prefix + "/jobs/" + j.PhaseID + "/identity"
	// The root token, which no phase end revokes, may act for any phase.
	for _, tok := range []string{j.Token.RevealString(), e.srv.Token} {
		if code, body := e.raw(t, tok, "POST", mint, []byte("not json")); code != http.StatusBadRequest {
			t.Errorf("running phase, malformed body: HTTP %d %s, want 400", code, body)
		}
	}
	if err := ph.Finish(ctxT(t), jobapi.Finish{}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"not json", `{"audience":""}`, `{"audience":"aws.example"}`} {
		if code, resp := e.raw(t, e.srv.Token, "POST", mint, []byte(body)); code != http.StatusConflict {
			t.Errorf("ended phase, body %s: HTTP %d %s, want 409", body, code, resp)
		}
	}
}

func TestMintIsAudited(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	r := e.queue(t, "ws")
	j, ph := e.claim(t)
	if _, err := ph.Inputs(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := ph.Mint(ctx, "aws.example")
	if err != nil {
		t.Fatal(err)
	}
	jti := jwtClaims(t, tok.RevealString())["jti"]

	var list struct {
		Records []struct {
			Seq  int64           `json:"seq"`
			Type string          `json:"type"`
			Body json.RawMessage `json:"body"`
		} `json:"records"`
	}
	code, body := e.raw(t, e.srv.Token, "GET", "/api/runcred/v1/audit?limit=1000", nil)
	if code != http.StatusOK {
		t.Fatalf("audit list: HTTP %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var mints, claims int
	for _, rec := range list.Records {
		var b map[string]any
		if err := json.Unmarshal(rec.Body, &b); err != nil {
			t.Fatal(err)
		}
		switch rec.Type {
		case "identity.mint":
			mints++
			if b["jti"] != jti || b["run_id"] != r.ID || b["phase"] != "plan" || b["workspace_id"] != r.Workspace.ID || b["aud"] != "aws.example" ||
				b["sub"] != "organization:demo:project:Default Project:workspace:ws:run_phase:plan" || b["caller"] == "" || b["caller"] == nil {
				t.Errorf("mint record = %s", rec.Body)
			}
		case "platform.run.claim":
			claims++
			if b["run_id"] != r.ID || b["phase_id"] != j.PhaseID {
				t.Errorf("claim record = %s", rec.Body)
			}
		}
		if bytes.Contains(rec.Body, []byte(sensitive)) || bytes.Contains(rec.Body, j.Token.Reveal()) || bytes.Contains(rec.Body, []byte(tok.RevealString())) {
			t.Errorf("record %d holds a secret: %s", rec.Seq, rec.Body)
		}
	}
	if mints != 1 || claims != 1 {
		t.Errorf("%d mint and %d claim records, want 1 each", mints, claims)
	}

	code, body = e.raw(t, e.srv.Token, "GET", "/api/runcred/v1/audit/verify", nil)
	var rep struct {
		Records int64           `json:"records"`
		Broken  json.RawMessage `json:"broken"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &rep) != nil || string(rep.Broken) != "null" || rep.Records != int64(len(list.Records)) {
		t.Fatalf("audit verify: HTTP %d %s (listed %d records)", code, body, len(list.Records))
	}
	if rep, err := e.srv.D.Audit.Verify(ctx); err != nil || rep.Broken != nil {
		t.Fatalf("audit verify in-process: %+v, %v", rep, err)
	}
}

// TestLimitsAgree: the agent splits its log by jobapi's limit, which the
// server enforces as platform's.
func TestLimitsAgree(t *testing.T) {
	if jobapi.MaxLogChunk != run.MaxLogChunk {
		t.Fatalf("jobapi.MaxLogChunk %d != run.MaxLogChunk %d", jobapi.MaxLogChunk, run.MaxLogChunk)
	}
}

// TestForceCancelShape: a running run is force-cancelable; force-canceling
// it sets force-canceled-at beside canceled-at, as go-tfe reads them.
func TestForceCancelShape(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	r := e.queue(t, "ws")
	if r.Actions == nil || r.Actions.IsForceCancelable {
		t.Fatalf("queued run actions = %+v; want not force-cancelable", r.Actions)
	}
	e.claim(t)
	r = e.read(t, r.ID, tfe.RunPlanning)
	if !r.Actions.IsForceCancelable || !r.Actions.IsCancelable {
		t.Fatalf("planning run actions = %+v; want cancelable and force-cancelable", r.Actions)
	}
	if err := e.tfe.Runs.ForceCancel(ctx, r.ID, tfe.RunForceCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	r = e.read(t, r.ID, tfe.RunCanceled)
	if r.StatusTimestamps.ForceCanceledAt.IsZero() || r.StatusTimestamps.CanceledAt.IsZero() || r.Actions.IsForceCancelable {
		t.Fatalf("force-canceled run: timestamps %+v, actions %+v", r.StatusTimestamps, r.Actions)
	}
}
