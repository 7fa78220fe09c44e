//go:build !linux

package phase

import (
	"context"
	"io"
	"os"
)

// Standby is a sandbox started ahead of a phase; there is none on this
// platform.
type Standby struct {
	env       []string
	capR, stR *os.File
}

// NewStandby fails: there is no sandbox on this platform.
func (s *Sandbox) NewStandby(dir, binary, mirror string) (*Standby, error) { return nil, errNoSandbox }

// Close does nothing.
func (st *Standby) Close() {}

func (st *Standby) take(string, string, string) bool { return false }

func (r *runner) standbyRest([]tofuStep, []string, []string) (string, bool) { return "", false }

func (st *Standby) run(context.Context, string, io.Writer, <-chan struct{}) error {
	return errNoSandbox
}
