//go:build linux

package phase

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
)

// BenchmarkSandboxStart is the sandbox's own cost: one child started and
// waited for bare, and the same in the sandbox. A phase starts one for
// its OpenTofu commands (see sequence) and one per hook.
func BenchmarkSandboxStart(b *testing.B) {
	box, err := NewSandbox(SandboxConfig{})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := box.own(dir); err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct {
		name string
		box  *Sandbox
	}{{"bare", nil}, {"sandbox", box}} {
		b.Run(m.name, func(b *testing.B) {
			c := command{path: "/bin/true", dir: dir, env: []string{"PATH=" + defaultPath}, log: io.Discard, box: m.box, rw: []string{dir}}
			for b.Loop() {
				if err := c.run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlanPhase is a whole plan phase (init, plan, show) of
// testdata/basic without and with the sandbox, alternating, so that both
// see the same load: the sandbox's cost per phase as OpenTofu meets it.
func BenchmarkPlanPhase(b *testing.B) {
	box, err := NewSandbox(SandboxConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var l logs
	s := basicSpec(b, jobapi.Plan, &l)
	var bare, boxed time.Duration
	for b.Loop() {
		for _, sb := range []*Sandbox{nil, box} {
			s.Sandbox = sb
			t0 := time.Now()
			if _, err := Run(context.Background(), s); err != nil {
				b.Fatalf("%v\n%s", err, strings.Join(l.all(), "\n"))
			}
			if sb == nil {
				bare += time.Since(t0)
			} else {
				boxed += time.Since(t0)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(bare.Milliseconds())/n, "bare-ms")
	b.ReportMetric(float64(boxed.Milliseconds())/n, "sandbox-ms")
	b.ReportMetric(float64(boxed-bare)/float64(time.Millisecond)/n, "cost-ms")
}
