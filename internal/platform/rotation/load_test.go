package rotation_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/platform/rotation"
)

// TestRotationUnderLoad: consumers keep succeeding while the mount
// rotates. A consumer does what a run of the operator workspace does, in
// a loop: read its variable kv_path, log in with the AppRole, read the
// secret at the path the variable names. "Keeps succeeding" means every
// one of those iterations, from before the rotation starts until after it
// is done, gets the secret's current value with no error; and, so that the
// claim covers the whole rotation, each journal step waits until every
// consumer has finished an iteration that began after the step.
func TestRotationUnderLoad(t *testing.T) {
	const consumers = 4
	backends(t, func(t *testing.T, start func(*testing.T, func(*daemon.Config)) *daemontest.Server) {
		var (
			iterations [consumers]atomic.Int64
			failures   atomic.Int64
			firstFail  atomic.Value
			paths      sync.Map // path read -> true
			stop       = make(chan struct{})
			wg         sync.WaitGroup
		)
		// waitRound returns once every consumer has finished an iteration
		// that began after it was called (two more than it had finished).
		waitRound := func() error {
			var want [consumers]int64
			for i := range want {
				want[i] = iterations[i].Load() + 2
			}
			deadline := time.Now().Add(time.Minute)
			for i := range want {
				for iterations[i].Load() < want[i] {
					if time.Now().After(deadline) {
						return fmt.Errorf("consumer %d made no progress", i)
					}
					time.Sleep(5 * time.Millisecond) // poll the counters
				}
			}
			return nil
		}
		var stepsSeen atomic.Int64
		hook := func(rotation.Rotation) error {
			stepsSeen.Add(1)
			return waitRound()
		}
		w := newWorld(t, start(t, func(c *daemon.Config) { c.RotationAfterStep = hook }))
		for i := range consumers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					path := w.kvPath(t)
					paths.Store(path, true)
					err := func() error {
						tok, err := w.login()
						if err != nil {
							return err
						}
						if pw, code := w.password(t, tok, path); code != http.StatusOK || pw != "two" {
							return fmt.Errorf("read %s: %q, HTTP %d", path, pw, code)
						}
						return nil
					}()
					if err != nil {
						failures.Add(1)
						firstFail.CompareAndSwap(nil, err.Error())
					}
					iterations[i].Add(1)
				}
			})
		}
		if err := waitRound(); err != nil {
			t.Fatal(err)
		}
		code, r, raw := w.rotate(t, w.srv.Token, oldMount)
		if code != http.StatusOK || r.State != rotation.Done {
			close(stop)
			wg.Wait()
			t.Fatalf("rotate: HTTP %d %s", code, raw)
		}
		if err := waitRound(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		var total int64
		for i := range iterations {
			total += iterations[i].Load()
		}
		if n := failures.Load(); n > 0 {
			t.Fatalf("%d of %d consumer iterations failed during the rotation; first: %v", n, total, firstFail.Load())
		}
		_, sawOld := paths.Load(oldMount + "/data/app")
		_, sawNew := paths.Load(r.NewPath + "data/app")
		if !sawOld || !sawNew || stepsSeen.Load() != 9 {
			t.Fatalf("consumers saw old path %v, new path %v; steps held %d, want 9", sawOld, sawNew, stepsSeen.Load())
		}
		t.Logf("%d consumers, %d iterations, none failed, across %d journal steps", consumers, total, stepsSeen.Load())
		w.checkRotated(t, r.NewPath)
	})
}
