package agent_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/agent"
)

// holdRevoke holds the agent's Vault token revocation (revoke-self) until
// the run has left planning, for a second at most, and notes whether it
// did: the agent revokes the phase's credentials while it stores the
// plan, and must not report the phase's end before the revocation is
// done.
type holdRevoke struct {
	w     *world
	mu    sync.Mutex
	runID string
	held  int      // revocations seen
	after []string // run statuses seen while a revocation was held, other than planning
}

func (h *holdRevoke) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/auth/token/revoke-self") {
		h.mu.Lock()
		id := h.runID
		h.held++
		h.mu.Unlock()
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			r, err := h.w.tfe.Runs.Read(context.Background(), id)
			if err == nil && r.Status != tfe.RunPlanning {
				h.mu.Lock()
				h.after = append(h.after, string(r.Status))
				h.mu.Unlock()
				break
			}
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestPhaseEndsAfterCredentialsRevoked: a phase is reported ended (here:
// the run planned) only once its Vault token is revoked, although the
// revocation starts as soon as OpenTofu has ended, beside the uploads.
func TestPhaseEndsAfterCredentialsRevoked(t *testing.T) {
	h := &holdRevoke{}
	w := newWorld(t, nil, func(c *agent.Config) { c.VaultClient = &http.Client{Transport: h} })
	h.w = w
	root := rootVault(t, w)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	_, err := root.Logical().Write("auth/jwt/config", map[string]any{"oidc_discovery_url": w.srv.D.PublicURL(), "bound_issuer": w.srv.D.PublicURL()})
	must(err)
	_, err = root.Logical().Write("auth/jwt/role/ws", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"vault.workload.identity"}, "user_claim": "terraform_full_workspace",
		"bound_claims_type": "glob", "bound_claims": map[string]any{"sub": "organization:demo:project:Default Project:workspace:revoked:run_phase:*"},
		"token_policies": []string{"default"}, "token_ttl": "20m",
	})
	must(err)

	ws := w.workspace(t, "revoked", false, map[string]string{
		"env:TFC_VAULT_PROVIDER_AUTH": "true", "env:TFC_VAULT_ADDR": w.srv.D.URL(), "env:TFC_VAULT_RUN_ROLE": "ws",
	})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" { input = "a" }`})
	r := w.start(t, ws)
	h.mu.Lock()
	h.runID = r.ID
	h.mu.Unlock()
	w.wait(t, r.ID, tfe.RunPlanned)

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held != 1 {
		t.Fatalf("%d token revocations, want 1", h.held)
	}
	if len(h.after) != 0 {
		t.Fatalf("the run went on to %v while the phase's token was being revoked", h.after)
	}
}

// planFiles counts the agent's uploads of a saved plan.
type planFiles struct {
	mu sync.Mutex
	n  int
}

func (p *planFiles) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/plan-file") {
		p.mu.Lock()
		p.n++
		p.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (p *planFiles) take() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.n
	p.n = 0
	return n
}

// TestSavedPlanOnlyWhenAnApplyCanFollow: the agent uploads the saved plan
// of a plan that an apply may follow, and not of a speculative plan or of
// one without changes, which end the run.
func TestSavedPlanOnlyWhenAnApplyCanFollow(t *testing.T) {
	p := &planFiles{}
	w := newWorld(t, nil, func(c *agent.Config) { c.HTTPClient = &http.Client{Transport: p} })
	ctx := ctxT(t)
	ws := w.workspace(t, "saved", false, nil)
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" { input = "a" }`})

	spec, err := w.tfe.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, PlanOnly: tfe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if r := w.wait(t, spec.ID, tfe.RunPlannedAndFinished); !r.HasChanges {
		t.Fatal("the speculative plan has no changes")
	}
	if n := p.take(); n != 0 {
		t.Errorf("a speculative plan: %d saved plans uploaded, want none", n)
	}

	r := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	if n := p.take(); n != 1 {
		t.Errorf("a plan to confirm: %d saved plans uploaded, want 1", n)
	}
	if err := w.tfe.Runs.Apply(ctx, r.ID, tfe.RunApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, r.ID, tfe.RunApplied)

	if r := w.wait(t, w.start(t, ws).ID, tfe.RunPlannedAndFinished); r.HasChanges {
		t.Fatal("the plan after the apply has changes")
	}
	if n := p.take(); n != 0 {
		t.Errorf("a plan without changes: %d saved plans uploaded, want none", n)
	}
}
