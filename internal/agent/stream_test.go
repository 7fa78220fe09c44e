package agent_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/jobapi"
)

// TestLogStreamsWhileRunning: a line the phase prints reaches the server
// while the phase is still running. The pre-plan hook prints a line and
// then waits for a file that the test creates only once it has read that
// line from the server, so the test passes only if the log streams.
func TestLogStreamsWhileRunning(t *testing.T) {
	w := newWorld(t, map[string]string{"terraform-pre-plan": `#!/bin/sh
echo "streamed before the hook ends"
while [ ! -e release ]; do sleep 0.05; done
`}, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "stream", false, map[string]string{"env:TFC_AGENT_HOOK_PRE_PLAN_TIMEOUT": "300"})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	run := w.start(t, ws)
	for {
		p, err := w.tfe.Plans.Read(ctx, run.Plan.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.LogReadURL != "" {
			resp, err := http.Get(p.LogReadURL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "streamed before the hook ends") {
				if p.Status != tfe.PlanRunning {
					t.Fatalf("plan is %s while its hook waits", p.Status)
				}
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the hook's line never reached the server while the phase ran")
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The hook, in its sandbox, sees only its run directory.
	if err := os.WriteFile(filepath.Join(w.runDir(t), "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w.wait(t, run.ID, tfe.RunPlanned)
}

// TestAgentPools: a workspace in an agent pool is run only by an agent of
// that pool, with the pool's agent token; the default agent leaves it.
func TestAgentPools(t *testing.T) {
	w := newWorld(t, nil, nil) // its agent serves workspaces without a pool
	ctx := ctxT(t)
	pool, err := w.tfe.AgentPools.Create(ctx, w.org, tfe.AgentPoolCreateOptions{Name: tfe.String("private"), OrganizationScoped: tfe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	ws := w.workspace(t, "pooled", false, nil)
	if _, err := w.tfe.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{AgentPoolID: tfe.String(pool.ID), ExecutionMode: tfe.String("agent")}); err != nil {
		t.Fatal(err)
	}
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	run := w.start(t, ws)
	// What the default agent asks for, the test asks too: nothing for it.
	api := &jobapi.Client{Server: w.srv.D.URL(), HTTP: http.DefaultClient}
	def, err := w.srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := api.Claim(ctx, def, "", 0); err != nil || j != nil {
		t.Fatalf("a default-pool claim got a pool's run: %+v, %v", j, err)
	}
	if _, err := api.Claim(ctx, def, pool.ID, 0); !jobapi.Gone(err) {
		t.Fatalf("the default agent's token claimed from the pool: %v", err)
	}
	if r, err := w.tfe.Runs.Read(ctx, run.ID); err != nil || r.Status != tfe.RunPlanQueued {
		t.Fatalf("the default agent touched a pool's run: %v, %v", r.Status, err)
	}
	at, err := w.tfe.AgentTokens.Create(ctx, pool.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("test agent")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Claim(ctx, secretOf(at.Token), "", 0); !jobapi.Gone(err) {
		t.Fatalf("the pool's token claimed from the default pool: %v", err)
	}
	startAgent(t, w, func(c *agent.Config) { c.Pool = pool.ID; c.Token = secretOf(at.Token) })
	w.wait(t, run.ID, tfe.RunPlanned)
}
