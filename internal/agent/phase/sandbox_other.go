//go:build !linux

package phase

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Sandbox isolates a phase's children; it exists only on Linux.
type Sandbox struct{}

// SandboxConfig sets up a Sandbox.
type SandboxConfig struct {
	Bwrap    string
	UID, GID int
}

// NobodyID is the default uid and gid of a run under a root agent.
const NobodyID = 65534

var errNoSandbox = errors.New("the run sandbox needs Linux (bubblewrap)")

// NewSandbox fails: there is no sandbox on this platform.
func NewSandbox(SandboxConfig) (*Sandbox, error) { return nil, errNoSandbox }

// RunUser is -1: there is no run user.
func (s *Sandbox) RunUser() int { return -1 }

// Probe fails: there is no sandbox on this platform.
func (s *Sandbox) Probe(context.Context, string) error { return errNoSandbox }

func (s *Sandbox) own(string) error             { return nil }
func (s *Sandbox) usable(fs.FileInfo) bool      { return true }
func (s *Sandbox) wrap(command) (*boxed, error) { return nil, errNoSandbox }

type boxed struct {
	path  string
	args  []string
	files []*os.File
	pid   *sandboxPID
}

func (b *boxed) started(int) {}
func (b *boxed) close()      {}

type sandboxPID struct{}

func (p *sandboxPID) signal(syscall.Signal) error { return nil }
func (p *sandboxPID) kill()                       {}
func (p *sandboxPID) interrupt(<-chan struct{})   {}
