package rotation_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/rotation"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/variable"
)

// faultyBroker fails the named step of the real broker while fails > 0.
type faultyBroker struct {
	*broker.Broker
	step  string
	fails *int
}

func (f faultyBroker) fault(step string) error {
	if f.step == step && *f.fails > 0 {
		*f.fails--
		return fail.Unavailablef("injected failure in %s", step)
	}
	return nil
}

func (f faultyBroker) CopyMount(ctx context.Context, from, to string) (int, error) {
	if err := f.fault("copy"); err != nil {
		return 0, err
	}
	return f.Broker.CopyMount(ctx, from, to)
}

func (f faultyBroker) RewritePolicies(ctx context.Context, from, to string) ([]string, error) {
	if err := f.fault("policies"); err != nil {
		return nil, err
	}
	return f.Broker.RewritePolicies(ctx, from, to)
}

// faultyVariables fails RewriteValues while fails > 0.
type faultyVariables struct {
	*variable.Service
	fails *int
}

func (f faultyVariables) RewriteValues(ctx context.Context, reason string, rw func(string) (string, bool)) ([]variable.Rewritten, error) {
	if *f.fails > 0 {
		*f.fails--
		return nil, fail.Unavailablef("injected failure in variables")
	}
	return f.Service.RewriteValues(ctx, reason, rw)
}

type runs struct{ s *run.Service }

func (q runs) Queue(ctx context.Context, ws, msg string) (string, error) {
	r, err := q.s.Create(ctx, ws, run.Options{Message: &msg})
	return r.ID, err
}

func (q runs) Pending(ctx context.Context, id string) (bool, error) {
	r, err := q.s.Run(ctx, id)
	return r.Status == run.Pending, err
}

// service is a rotation service over the daemon's parts, with b and v in
// place of the broker and the variables.
func service(srv *daemontest.Server, b rotation.Broker, v rotation.Variables) *rotation.Service {
	return rotation.New(rotation.Config{DB: srv.D.DB(), Audit: srv.D.Audit, Authz: srv.D.Broker, Broker: b, Variables: v,
		Runs: runs{srv.D.Platform.Runs}, Replace: broker.ReplaceMountName, Claim: 1})
}

// TestRollbackBeforeCommit: a failure in any step before the policies
// are rewritten removes the new mount and leaves the old path working
// alone, writable again; a rollback stopped half-way is finished by the
// next resume.
func TestRollbackBeforeCommit(t *testing.T) {
	for _, step := range []string{"copy", "policies"} {
		t.Run(step, func(t *testing.T) {
			backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
				w := newWorld(t, start(t, nil))
				fails := 1
				b := faultyBroker{Broker: w.srv.D.Broker, step: step, fails: &fails}
				svc := service(w.srv, b, w.srv.D.Platform.Variables)
				r, err := svc.Rotate(root, oldMount)
				if err == nil || !strings.Contains(fail.Message(err), "rolled back") || r.State != rotation.RolledBack {
					t.Fatalf("rotate: %+v, %v", r, err)
				}
				w.checkUntouched(t, r.NewPath)

				// Again, with the rollback's own removal of the new mount
				// failing once: the journal says rolling_back until a resume
				// finishes it.
				fails, removeFails := 1, 1
				b2 := faultyBroker{Broker: w.srv.D.Broker, step: step, fails: &fails}
				svc2 := service(w.srv, faultyRemove{b2, &removeFails}, w.srv.D.Platform.Variables)
				r, err = svc2.Rotate(root, oldMount)
				if err == nil || r.State != rotation.RollingBack {
					t.Fatalf("rotate with a failing rollback: %+v, %v", r, err)
				}
				if n, err := svc2.Resume(root); n != 1 || err != nil {
					t.Fatalf("resume: %d, %v", n, err)
				}
				if got, _ := svc2.Get(root, r.ID); got.State != rotation.RolledBack {
					t.Fatalf("after resume: %+v", got)
				}
				w.checkUntouched(t, r.NewPath)
			})
		})
	}
}

// faultyRemove fails RemoveMount while *fails > 0.
type faultyRemove struct {
	faultyBroker
	fails *int
}

func (f faultyRemove) RemoveMount(ctx context.Context, path string) error {
	if *f.fails > 0 {
		*f.fails--
		return fail.Unavailablef("injected failure in remove")
	}
	return f.faultyBroker.Broker.RemoveMount(ctx, path)
}

// checkUntouched: the old path works as before, written and read, and the
// new one does not exist.
func (w *world) checkUntouched(t *testing.T, newPath string) {
	t.Helper()
	if pw, code := w.password(t, w.token, oldMount+"/data/app"); pw != "two" || code != 200 {
		t.Errorf("old path after rollback: %q (HTTP %d)", pw, code)
	}
	if w.kvPath(t) != oldMount+"/data/app" {
		t.Errorf("variable after rollback: %s", w.kvPath(t))
	}
	pol, err := w.root.Sys().GetPolicy("consumer")
	if err != nil || strings.TrimSpace(pol) != strings.TrimSpace(consumerPolicy) {
		t.Errorf("policy after rollback: %q %v", pol, err)
	}
	mounts, err := w.root.Sys().ListMounts()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mounts[newPath]; ok {
		t.Errorf("the new mount %s is left after rollback", newPath)
	}
	if _, err := w.root.KVv2(oldMount).Put(context.Background(), "app", map[string]any{"password": "two"}); err != nil {
		t.Errorf("the old mount is not writable after rollback: %v", err)
	}
}

// TestFailureAfterCommitResumes: past the commit point a failing step
// leaves the rotation where it is, the error journaled, and the next
// resume finishes it.
func TestFailureAfterCommitResumes(t *testing.T) {
	backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
		w := newWorld(t, start(t, nil))
		fails := 1
		svc := service(w.srv, w.srv.D.Broker, faultyVariables{w.srv.D.Platform.Variables, &fails})
		r, err := svc.Rotate(root, oldMount)
		if err == nil || !fail.Is(err, fail.Unavailable) || r.State != rotation.PoliciesRewritten || !strings.Contains(r.Error, "injected") {
			t.Fatalf("rotate: %+v, %v", r, err)
		}
		// Both paths serve the consumer meanwhile: the old one through the
		// new grant, as the variable still names it.
		if pw, code := w.password(t, w.token, w.kvPath(t)); pw != "two" {
			t.Errorf("consumer at %s: %q (HTTP %d)", w.kvPath(t), pw, code)
		}
		if pw, code := w.password(t, w.token, r.NewPath+"data/app"); pw != "two" {
			t.Errorf("consumer at the new path: %q (HTTP %d)", pw, code)
		}
		if n, err := svc.Resume(root); n != 1 || err != nil {
			t.Fatalf("resume: %d, %v", n, err)
		}
		got, err := svc.Get(root, r.ID)
		if err != nil || got.State != rotation.Done || got.Error != "" {
			t.Fatalf("after resume: %+v %v", got, err)
		}
		w.checkRotated(t, r.NewPath)
	})
}
