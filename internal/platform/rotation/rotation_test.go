package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/rotation"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/variable"
)

// TestRotate: one rotation through the API moves the secrets, the policy,
// the AppRole's access, the variables (sensitive too, provenance kept)
// and queues a run in the consuming workspace; the old path is gone and
// the audit log has one record per step.
func TestRotate(t *testing.T) {
	backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
		w := newWorld(t, start(t, nil))
		code, r, raw := w.rotate(t, w.srv.Token, oldMount)
		if code != http.StatusOK || r.State != rotation.Done || r.Error != "" {
			t.Fatalf("rotate: HTTP %d %s", code, raw)
		}
		if r.Mount != oldMount+"/" || !strings.HasPrefix(r.NewPath, "secret-") {
			t.Fatalf("rotation %+v", r)
		}
		w.checkRotated(t, r.NewPath)
		// app (metadata, 2 versions) + other (metadata, 1 version); the
		// mount's settings were never written.
		if r.Report.Entries != 5 || !slices.Equal(r.Report.Policies, []string{"consumer"}) || len(r.Report.Variables) != 2 || r.Report.Leases != 0 {
			t.Errorf("report %+v", r.Report)
		}
		if len(r.Report.Runs) != 1 || r.Report.Runs[0].WorkspaceID != w.operator.ID || r.Report.Runs[0].Error != "" {
			t.Fatalf("runs %+v", r.Report.Runs)
		}
		rn, err := w.srv.D.Platform.Runs.Run(root, r.Report.Runs[0].RunID)
		want := fmt.Sprintf("Mount %s rotated to %s", oldMount, strings.TrimSuffix(r.NewPath, "/"))
		if err != nil || rn.Message != want || rn.Status != run.PlanQueued {
			t.Errorf("queued run %+v, %v; want message %q", rn, err, want)
		}
		runs, _, err := w.srv.D.Platform.Runs.Runs(root, w.manager.ID, resource.Page{})
		if err != nil || len(runs) != 0 {
			t.Errorf("a run was queued in a workspace that does not consume the mount: %v %v", runs, err)
		}
		// One audit record per step, all naming the rotation.
		recs, err := w.srv.D.Audit.Tail(context.Background(), 200)
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, rec := range recs {
			if rec.Type == "broker.mount.rotate" && strings.Contains(string(rec.Body), r.ID) {
				steps = append(steps, stepOf(rec.Body))
			}
		}
		wantSteps := []string{"planned", "created", "copied", "policies", "variables", "runs", "leases", "removed", "done"}
		if !slices.Equal(steps, wantSteps) {
			t.Errorf("audited steps %v, want %v", steps, wantSteps)
		}
		got, err := w.srv.D.Rotations.Get(root, r.ID)
		if err != nil || got.State != rotation.Done || got.NewPath != r.NewPath {
			t.Errorf("journal: %+v %v", got, err)
		}
		// The new mount rotates again, to yet another suffix of the same
		// prefix. The first rotation's run still holds the workspace (no
		// agent here), so the second's waits behind it, and the old mount
		// stays until it starts: the run ahead may use the old path.
		code, r2, raw := w.rotate(t, w.srv.Token, strings.TrimSuffix(r.NewPath, "/"))
		if code != http.StatusAccepted || r2.State != rotation.RunsQueued || r2.NewPath == r.NewPath || !newPathRe.MatchString(r2.NewPath) ||
			!strings.Contains(r2.Error, "waiting for run") {
			t.Fatalf("second rotation: HTTP %d %s", code, raw)
		}
		if pw, code := w.password(t, w.token, r.NewPath+"data/app"); pw != "three" || code != 200 {
			t.Errorf("while the second rotation waits, the first new path reads %q (HTTP %d)", pw, code)
		}
		if _, err := w.srv.D.Platform.Runs.Cancel(root, rn.ID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for r2.State != rotation.Done {
			if time.Now().After(deadline) {
				t.Fatalf("second rotation still %s: %s", r2.State, r2.Error)
			}
			if _, err := w.srv.D.Rotations.Resume(root); err != nil {
				t.Logf("resume: %v", err)
			}
			if r2, err = w.srv.D.Rotations.Get(root, r2.ID); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // poll the journal; the claim lapses in a second
		}
		if code, _ := w.get(t, w.token, r.NewPath+"data/app"); code != http.StatusNotFound {
			t.Errorf("the first new path answers %d after the second rotation, want 404", code)
		}
		if pw, code := w.password(t, w.token, w.kvPath(t)); pw != "three" || w.kvPath(t) != r2.NewPath+"data/app" {
			t.Errorf("after the second rotation the variable names %s, which reads %q (HTTP %d)", w.kvPath(t), pw, code)
		}
	})
}

func stepOf(body []byte) string {
	s := string(body)
	i := strings.Index(s, `"step":"`)
	if i < 0 {
		return ""
	}
	s = s[i+len(`"step":"`):]
	return s[:strings.IndexByte(s, '"')]
}

// TestRotateRefusals: who may not rotate, what cannot be rotated, and a
// write to a mount being rotated.
func TestRotateRefusals(t *testing.T) {
	backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
		w := newWorld(t, start(t, nil))
		if code, _, raw := w.rotate(t, w.token, oldMount); code != http.StatusForbidden {
			t.Errorf("a consumer token rotates: HTTP %d %s", code, raw)
		}
		if code, _, raw := w.rotate(t, "", oldMount); code != http.StatusUnauthorized {
			t.Errorf("no token rotates: HTTP %d %s", code, raw)
		}
		// A grant on another mount's rotate path is not one on this.
		other := w.policyToken(t, "rotator-other", `path "sys/mounts/secret-zz99zz99/rotate" { capabilities = ["update"] }`)
		if code, _, raw := w.rotate(t, other, oldMount); code != http.StatusForbidden {
			t.Errorf("a grant on another mount rotates: HTTP %d %s", code, raw)
		}
		if code, _, raw := w.rotate(t, w.srv.Token, "secret-nothere"); code != http.StatusNotFound {
			t.Errorf("a missing mount: HTTP %d %s", code, raw)
		}
		if err := w.root.Sys().Mount("aws", &mountInputAWS); err != nil {
			t.Fatal(err)
		}
		if code, _, raw := w.rotate(t, w.srv.Token, "aws"); code != http.StatusBadRequest || !strings.Contains(raw, "only kv mounts") {
			t.Errorf("an aws mount: HTTP %d %s", code, raw)
		}
		if code, _, raw := w.rotate(t, w.srv.Token, "sys"); code != http.StatusNotFound && code != http.StatusBadRequest {
			t.Errorf("sys: HTTP %d %s", code, raw)
		}
		// Nothing changed by the refusals.
		if pw, code := w.password(t, w.token, oldMount+"/data/app"); pw != "two" || code != 200 {
			t.Fatalf("old path after refusals: %q %d", pw, code)
		}
		rs, err := w.srv.D.Rotations.List(root, oldMount)
		if err != nil || len(rs) != 0 {
			t.Fatalf("refused rotations journaled: %v %v", rs, err)
		}

		// The grant that suffices, stopped after the copy: the mount is
		// frozen (writes refused, reads go on), a second rotation conflicts.
		granted := w.policyToken(t, "rotator", `path "sys/mounts/secret-ab12cd34/rotate" { capabilities = ["update", "read"] }`)
		stop := stopAt(rotation.DataCopied)
		w2 := restart(t, w, start, stop.hook)
		if code, r, raw := w2.rotate(t, granted, oldMount); code != http.StatusServiceUnavailable || r.State != "" && r.State != rotation.DataCopied {
			t.Fatalf("stopped rotation: HTTP %d %s", code, raw)
		}
		if _, err := w2.root.KVv2(oldMount).Put(context.Background(), "app", map[string]any{"password": "lost"}); err == nil || !strings.Contains(err.Error(), "being rotated") {
			t.Errorf("a write to the frozen mount: %v", err)
		}
		if pw, code := w2.password(t, w2.token, oldMount+"/data/app"); pw != "two" || code != 200 {
			t.Errorf("read of the frozen mount: %q %d", pw, code)
		}
		if code, _, raw := w2.rotate(t, w2.srv.Token, oldMount); code != http.StatusConflict {
			t.Errorf("a second rotation while one is under way: HTTP %d %s", code, raw)
		}
	})
}

func (w *world) policyToken(t *testing.T, name, hcl string) string {
	t.Helper()
	if err := w.root.Sys().PutPolicy(name, hcl); err != nil {
		t.Fatal(err)
	}
	sec, err := w.root.Auth().Token().Create(&vaultTokenRequest{Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// stopper stops a rotation once, after the step that reaches state.
type stopper struct {
	state   rotation.State
	stopped chan rotation.Rotation
}

func stopAt(s rotation.State) *stopper {
	return &stopper{state: s, stopped: make(chan rotation.Rotation, 1)}
}

func (s *stopper) hook(r rotation.Rotation) error {
	if r.State != s.state {
		return nil
	}
	select {
	case s.stopped <- r:
		return errors.New("stopped by the test")
	default:
		return nil // once only
	}
}

// restart closes w's daemon and starts another on its database with
// hook, and returns the world seen through it.
func restart(t *testing.T, w *world, start func(*testing.T, func(*daemon.Config)) *daemontest.Server, hook func(rotation.Rotation) error) *world {
	t.Helper()
	w.srv.D.Close()
	srv := start(t, func(c *daemon.Config) { c.RotationAfterStep = hook })
	w2 := *w
	w2.srv, w2.root = srv, vaultClient(t, srv, srv.Token)
	return &w2
}

// waitDone waits for the background task to finish the latest rotation.
func (w *world) waitDone(t *testing.T) rotation.Rotation {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := w.latest(t)
		if r.State.Finished() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation %s still %s after a minute: %s", r.ID, r.State, r.Error)
		}
		if _, err := w.srv.D.Rotations.Resume(root); err != nil {
			t.Logf("resume: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // poll the journal; the claim lapses in a second
	}
}

// TestResumeFromEveryStep: a rotation stopped after each step, as by a
// crash, leaves the secret readable through the path the operator's
// variable names; a restarted server finishes it, to the same end as an
// uninterrupted rotation.
func TestResumeFromEveryStep(t *testing.T) {
	states := []rotation.State{rotation.Planned, rotation.MountCreated, rotation.DataCopied, rotation.PoliciesRewritten,
		rotation.VariablesUpdated, rotation.RunsQueued, rotation.LeasesRevoked, rotation.OldMountRemoved}
	for _, st := range states {
		t.Run(string(st), func(t *testing.T) {
			backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
				stop := stopAt(st)
				w := newWorld(t, start(t, func(c *daemon.Config) { c.RotationAfterStep = stop.hook }))
				code, _, raw := w.rotate(t, w.srv.Token, oldMount)
				if code != http.StatusServiceUnavailable && code != http.StatusAccepted {
					t.Fatalf("rotate stopped after %s: HTTP %d %s", st, code, raw)
				}
				r := <-stop.stopped
				if j := w.latest(t); j.State != st || j.ID != r.ID {
					t.Fatalf("journal %s %s, want %s", j.ID, j.State, st)
				}
				// While stopped: the consumer reads through the path its
				// variable names, with a fresh AppRole login, as a run would.
				tok, err := w.login()
				if err != nil {
					t.Fatal(err)
				}
				if pw, code := w.password(t, tok, w.kvPath(t)); pw != "two" {
					t.Errorf("stopped after %s: the consumer reads %q (HTTP %d) at %s", st, pw, code, w.kvPath(t))
				}
				if st == rotation.LeasesRevoked {
					// A variable naming the old path written after the
					// rewrite is rewritten before the old mount goes.
					key, val, cat := "late_path", oldMount+"/data/app", variable.CategoryTerraform
					if _, err := w.srv.D.Platform.Variables.CreateVariable(root, w.operator.ID, variable.Options{Key: &key, Value: &val, Category: &cat}); err != nil {
						t.Fatal(err)
					}
				}
				w2 := restart(t, w, start, nil)
				done := w2.waitDone(t)
				if late, ok := w2.vars(t)["late_path"]; ok && late.Value.RevealString() != done.NewPath+"data/app" {
					t.Errorf("late_path = %q after the rotation", late.Value.RevealString())
				}
				if done.State != rotation.Done || done.ID != r.ID {
					t.Fatalf("after restart: %+v", done)
				}
				w2.checkRotated(t, done.NewPath)
				if len(done.Report.Runs) != 1 {
					t.Errorf("runs queued: %+v", done.Report.Runs)
				}
			})
		})
	}
}
