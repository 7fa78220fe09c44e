package rotation_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/clocktest"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/rotation"
)

// TestSchedule: a mount with a rotation period is rotated when it comes
// due, once, and its schedule follows it to the new path; bad periods and
// callers without the grant are refused.
func TestSchedule(t *testing.T) {
	backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
		w := newWorld(t, start(t, nil))
		clk := clocktest.New(time.Now().UTC())
		svc := rotation.New(rotation.Config{DB: w.srv.D.DB(), Audit: w.srv.D.Audit, Authz: w.srv.D.Broker, Broker: w.srv.D.Broker,
			Variables: w.srv.D.Platform.Variables, Runs: runs{w.srv.D.Platform.Runs}, Replace: broker.ReplaceMountName, Claim: 1, Now: clk.Now})

		for _, p := range []time.Duration{time.Minute, time.Hour + time.Millisecond} {
			if _, err := svc.SetSchedule(root, oldMount, p); !fail.Is(err, fail.Invalid) || !strings.Contains(fail.Message(err), "period") {
				t.Errorf("period %s: %v", p, err)
			}
		}
		code, body := w.call(t, "PUT", "/api/runcred/v1/mounts/"+oldMount+"/rotation-schedule", w.srv.Token, strings.NewReader(`{"period":"soon"}`))
		if code != http.StatusBadRequest || !strings.Contains(body["errors"].([]any)[0].(string), "period") {
			t.Errorf("a bad period over HTTP: %d %v", code, body)
		}
		code, body = w.call(t, "PUT", "/api/runcred/v1/mounts/"+oldMount+"/rotation-schedule", w.token, strings.NewReader(`{"period":"720h"}`))
		if code != http.StatusForbidden {
			t.Errorf("a consumer sets a schedule: %d %v", code, body)
		}
		code, body = w.call(t, "PUT", "/api/runcred/v1/mounts/"+oldMount+"/rotation-schedule", w.srv.Token, strings.NewReader(`{"period":"720h"}`))
		if code != http.StatusOK || body["period"] != "720h0m0s" {
			t.Fatalf("set a schedule over HTTP: %d %v", code, body)
		}
		if _, err := svc.SetSchedule(root, oldMount, 720*time.Hour); err != nil {
			t.Fatal(err)
		}
		if n, err := svc.RotateDue(root); n != 0 || err != nil {
			t.Fatalf("rotations started before their time: %d %v", n, err)
		}
		clk.Add(720*time.Hour + time.Second)
		if n, err := svc.RotateDue(root); n != 1 || err != nil {
			t.Fatalf("due rotations started: %d %v", n, err)
		}
		if n, err := svc.RotateDue(root); n != 0 || err != nil {
			t.Fatalf("a due rotation started twice: %d %v", n, err)
		}
		r := w.latest(t)
		if r.State != rotation.Done || r.RequestedBy != "schedule" {
			t.Fatalf("scheduled rotation: %+v", r)
		}
		w.checkRotated(t, r.NewPath)
		sc, ok, err := svc.GetSchedule(root, r.NewPath)
		if err != nil || !ok || sc.Period != 720*time.Hour || !sc.NextAt.Equal(clk.Now().Add(720*time.Hour)) {
			t.Errorf("the new path's schedule: %+v %v %v", sc, ok, err)
		}
		if _, ok, _ := svc.GetSchedule(root, oldMount); ok {
			t.Errorf("the old path keeps a schedule")
		}
		if _, err := svc.SetSchedule(root, r.NewPath, 0); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := svc.GetSchedule(root, r.NewPath); ok {
			t.Errorf("a removed schedule is still there")
		}
	})
}

// TestClaim: a rotation a node stopped working on (a crash) is taken over
// by another node only once its claim has lapsed, and then finished.
func TestClaim(t *testing.T) {
	backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
		w := newWorld(t, start(t, nil))
		clk := clocktest.New(time.Now().UTC())
		stop := stopAt(rotation.DataCopied)
		mk := func(hook func(rotation.Rotation) error) *rotation.Service {
			return rotation.New(rotation.Config{DB: w.srv.D.DB(), Audit: w.srv.D.Audit, Authz: w.srv.D.Broker, Broker: w.srv.D.Broker,
				Variables: w.srv.D.Platform.Variables, Runs: runs{w.srv.D.Platform.Runs}, Replace: broker.ReplaceMountName,
				Claim: time.Hour, Now: clk.Now, AfterStep: hook})
		}
		a, b := mk(stop.hook), mk(nil)
		if _, err := a.Rotate(root, oldMount); err == nil {
			t.Fatal("the stopped rotation reports no error")
		}
		r := <-stop.stopped
		clk.Add(59 * time.Minute)
		if n, err := b.Resume(root); n != 0 || err != nil {
			t.Fatalf("another node took a held rotation: %d %v", n, err)
		}
		clk.Add(2 * time.Minute)
		if n, err := b.Resume(root); n != 1 || err != nil {
			t.Fatalf("another node did not take a lapsed rotation: %d %v", n, err)
		}
		got, err := b.Get(root, r.ID)
		if err != nil || got.State != rotation.Done {
			t.Fatalf("taken over: %+v %v", got, err)
		}
		w.checkRotated(t, got.NewPath)
	})
}
