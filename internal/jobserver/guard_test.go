package jobserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/clocktest"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/platform/run"
)

// TestMintOfUnlistedAudience: a job that asks for a token of an audience
// no allowlist holds gets a 403, no token is minted, the run ends errored
// naming the audience, and the refusal is audited; the same job token can
// mint nothing afterwards. A malformed audience is a 400 that ends nothing.
func TestMintOfUnlistedAudience(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	r := e.queue(t, "ws")
	_, ph := e.claim(t)
	if _, err := ph.Mint(ctx, "two words"); status(err) != http.StatusBadRequest {
		t.Fatalf("malformed audience: %v, want 400", err)
	}
	e.read(t, r.ID, tfe.RunPlanning)
	if _, err := ph.Mint(ctx, "unlisted.example"); status(err) != http.StatusForbidden || !strings.Contains(err.Error(), "unlisted.example") {
		t.Fatalf("unlisted audience: %v, want 403 naming it", err)
	}
	e.read(t, r.ID, tfe.RunErrored)
	if _, err := ph.Mint(ctx, "aws.example"); err == nil {
		t.Fatal("the refused phase's job token still mints")
	}
	recs, err := e.srv.D.Audit.Tail(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var refused bool
	for _, rec := range recs {
		body := string(rec.Body)
		if rec.Type == "identity.mint" && strings.Contains(body, r.ID) {
			t.Errorf("minted for the refused run: %s", body)
		}
		if rec.Type == "platform.run.credential_guard.refuse" && strings.Contains(body, r.ID) && strings.Contains(body, "unlisted.example") {
			refused = true
		}
	}
	if !refused {
		t.Error("no audit record of the refusal")
	}
}

// TestPhaseTokenLifetime: a phase's tokens live 15 minutes by default,
// and never past the phase's limit (JobTokenTTL after it started); at the
// limit no token is minted.
func TestPhaseTokenLifetime(t *testing.T) {
	clock := clocktest.New(time.Now())
	e := envOn(t, daemontest.Start(t, func(c *daemon.Config) { c.Now = clock.Now }))
	ctx := ctxT(t)
	e.queue(t, "ws")
	_, ph := e.claim(t)
	lifetime := func() float64 {
		t.Helper()
		tok, err := ph.Mint(ctx, "aws.example")
		if err != nil {
			t.Fatal(err)
		}
		c := jwtClaims(t, tok.RevealString())
		return c["exp"].(float64) - c["iat"].(float64)
	}
	if got := lifetime(); got != run.DefaultPhaseTokenTTL.Seconds() {
		t.Fatalf("lifetime %v s, want %v", got, run.DefaultPhaseTokenTTL.Seconds())
	}
	clock.Add(run.JobTokenTTL - 100*time.Second)
	if got := lifetime(); got < 99 || got > 100 {
		t.Fatalf("lifetime near the phase's limit: %v s, want 100", got)
	}
	// Half a second before the limit (the job token still valid): less
	// than a whole second is left, so nothing is minted.
	clock.Add(100*time.Second - 500*time.Millisecond)
	if _, err := ph.Mint(ctx, "aws.example"); status(err) != http.StatusConflict {
		t.Fatalf("mint at the phase's limit: %v, want 409", err)
	}
}

// TestPhaseTokenLifetimeWorkspaceLimit: a workspace's phase timeout is the
// phase's limit, and so the bound of its tokens' lifetime.
func TestPhaseTokenLifetimeWorkspaceLimit(t *testing.T) {
	clock := clocktest.New(time.Now())
	e := envOn(t, daemontest.Start(t, func(c *daemon.Config) { c.Now = clock.Now }))
	ctx := ctxT(t)
	e.queue(t, "short")
	ws, err := e.tfe.Workspaces.Read(ctx, org, "short")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"data":{"type":"workspaces","attributes":{"runcred-phase-timeout":120}}}`
	if code, out := e.raw(t, e.srv.Token, "PATCH", "/api/v2/workspaces/"+ws.ID, []byte(body)); code != http.StatusOK {
		t.Fatalf("setting the phase timeout: HTTP %d %s", code, out)
	}
	_, ph := e.claim(t)
	clock.Add(30 * time.Second)
	tok, err := ph.Mint(ctx, "aws.example")
	if err != nil {
		t.Fatal(err)
	}
	if c := jwtClaims(t, tok.RevealString()); c["exp"].(float64)-c["iat"].(float64) != 90 {
		t.Fatalf("claims %v, want the 90 s left of the workspace's 120 s limit", c)
	}
}

// TestPhaseTokenLifetimeConfigured: the server's phase-token-ttl setting.
func TestPhaseTokenLifetimeConfigured(t *testing.T) {
	e := envOn(t, daemontest.Start(t, func(c *daemon.Config) { c.PhaseTokenTTL = 90 * time.Second }))
	e.queue(t, "ws")
	_, ph := e.claim(t)
	tok, err := ph.Mint(ctxT(t), "aws.example")
	if err != nil {
		t.Fatal(err)
	}
	if c := jwtClaims(t, tok.RevealString()); c["exp"].(float64)-c["iat"].(float64) != 90 {
		t.Fatalf("claims %v, want a 90 s lifetime", c)
	}
}
