package jobserver_test

import (
	"testing"
	"time"
)

// TestJobCarriesPhaseTimeout: a workspace's runcred-phase-timeout reaches
// the agent in the job it claims.
func TestJobCarriesPhaseTimeout(t *testing.T) {
	e := newEnv(t)
	r := e.queue(t, "timed")
	code, body := e.raw(t, e.srv.Token, "PATCH", "/api/v2/workspaces/"+r.Workspace.ID,
		[]byte(`{"data":{"type":"workspaces","attributes":{"runcred-phase-timeout":900}}}`))
	if code != 200 {
		t.Fatalf("setting the timeout: %d %s", code, body)
	}
	j, _ := e.claim(t)
	if j.PhaseTimeout != 15*time.Minute {
		t.Errorf("job's phase timeout = %s, want 15m", j.PhaseTimeout)
	}
}
