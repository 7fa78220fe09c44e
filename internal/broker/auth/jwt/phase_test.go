package jwt

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// phaseTable is the platform's answer per run: the method's only outside
// dependency for this check, faked at the edge (the daemon's tests drive
// the real one).
type phaseTable struct {
	mu    sync.Mutex
	runs  map[string]string // run id -> the phase running ("" for none)
	err   error
	asked int
}

func (p *phaseTable) PhaseRunning(_ context.Context, runID, phase string) (bool, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	if p.err != nil {
		return false, false, p.err
	}
	running, known := p.runs[runID]
	return known, known && running == phase, nil
}

// runcredEnv is newEnv whose IdP is runcred's own issuer, as the daemon
// wires it.
func runcredEnv(t *testing.T, phases Phases) *env {
	t.Helper()
	e := bareEnv(t)
	o := opts(e.clock, e.idp.srv.Client())
	o.Own, o.Phases = &ownKeys{idp: e.idp}, phases
	b, err := New(engine.MountConfig{Path: "auth/jwt/", Type: "jwt", MaxLeaseTTL: 768 * time.Hour}, o)
	if err != nil {
		t.Fatal(err)
	}
	e.b = b
	e.write(t, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL, "bound_issuer": e.idp.srv.URL})
	e.write(t, "role/ci", ciRole())
	return e
}

// TestLoginRefusesEndedPhase: a runcred run token logs in while its run
// phase runs, not after, whatever its exp says; a platform that cannot
// answer refuses it; a token that names no run is not asked about.
func TestLoginRefusesEndedPhase(t *testing.T) {
	p := &phaseTable{runs: map[string]string{"run-abc": "plan"}}
	e := runcredEnv(t, p)
	tok := rsaSigner.sign(t, e.claims()) // run-abc, plan
	if _, err := e.login(t, tok); err != nil {
		t.Fatalf("while the plan runs: %v", err)
	}
	p.runs["run-abc"] = "apply" // the plan has ended
	_, err := e.login(t, tok)
	wantErr(t, err, fail.Invalid, "the plan phase of run run-abc has ended")
	p.runs["run-abc"] = ""
	_, err = e.login(t, tok)
	wantErr(t, err, fail.Invalid, "has ended")

	p.err = errors.New("database down")
	_, err = e.login(t, tok)
	wantErr(t, err, fail.Unavailable, "could not tell")
	p.err = nil

	// A run the platform never had (the operators' own mint API): its exp alone.
	c := e.claims()
	c["terraform_run_id"] = "run-manual"
	if _, err := e.login(t, rsaSigner.sign(t, c)); err != nil {
		t.Fatalf("unknown run: %v", err)
	}

	// A token that names no run is not asked about.
	c = e.claims()
	delete(c, "terraform_run_id")
	delete(c, "terraform_run_phase")
	before := p.asked
	if _, err := e.login(t, rsaSigner.sign(t, c)); err != nil {
		t.Fatal(err)
	}
	if p.asked != before {
		t.Fatal("the platform was asked about a token that names no run")
	}
}

// TestJWTSingleUse: with jwt_single_use a JWT logs in once; another JWT
// (another jti) still logs in; a JWT without a jti is refused; a role
// without the option lets a JWT log in again; records of JWTs long expired
// are swept.
func TestJWTSingleUse(t *testing.T) {
	e := newEnv(t)
	claims := func() map[string]any {
		c := e.claims()
		c["jti"] = uuid.NewString()
		return c
	}
	tok := rsaSigner.sign(t, claims())
	for range 2 {
		if _, err := e.login(t, tok); err != nil {
			t.Fatalf("role without jwt_single_use: %v", err)
		}
	}
	e.write(t, "role/ci", map[string]any{"jwt_single_use": true})
	if r, _ := e.call(engine.Read, "role/ci", nil); r == nil || r.Data["jwt_single_use"] != true {
		t.Fatalf("role read: %+v", r)
	}
	once := rsaSigner.sign(t, claims())
	if _, err := e.login(t, once); err != nil {
		t.Fatal(err)
	}
	_, err := e.login(t, once)
	wantErr(t, err, fail.Invalid, "already been used")
	if _, err := e.login(t, rsaSigner.sign(t, claims())); err != nil {
		t.Fatalf("a second token: %v", err)
	}
	_, err = e.login(t, rsaSigner.sign(t, e.claims())) // no jti
	wantErr(t, err, fail.Invalid, "no jti")

	// Concurrent logins with one JWT: exactly one wins.
	race := rsaSigner.sign(t, claims())
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.login(t, race); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent logins with one JWT succeeded, want 1", wins)
	}

	buckets, _ := e.st.List(context.Background(), jtiKeyPrefix)
	if len(buckets) == 0 {
		t.Fatal("no jti recorded")
	}
	e.clock.Add(2 * time.Hour)
	if _, err := e.login(t, rsaSigner.sign(t, claims())); err != nil {
		t.Fatal(err)
	}
	after, _ := e.st.List(context.Background(), jtiKeyPrefix)
	if len(after) != 1 {
		t.Fatalf("jti buckets after the sweep: %q (before: %q), want only the new token's", after, buckets)
	}
}
