//go:build linux

package phase

import (
	"context"
	"io"
	"testing"
)

// BenchmarkSandboxStart is the sandbox's own cost: one child started and
// waited for bare, and the same in the sandbox. A phase starts three
// (init, plan or apply, show or output) plus its hooks.
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
