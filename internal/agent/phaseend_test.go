package agent_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
)

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
