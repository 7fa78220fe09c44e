package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/runcred/runcred/internal/agent/phase"
)

// Isolation is how an agent isolates its phases from its host.
type Isolation string

const (
	// IsolationSandbox runs every phase's processes in a bubblewrap
	// sandbox (see phase.Sandbox). It is the default.
	IsolationSandbox Isolation = "sandbox"
	// IsolationNone runs them as the agent's user with the host in view:
	// a run's code can read whatever the agent can. Only on request.
	IsolationNone Isolation = "none"
)

// noneWarning is written into every phase's log, and the agent's, when
// phases run without isolation.
const noneWarning = "Warning: this agent runs phases without isolation (--isolation=none): " +
	"the configuration's code can read and change everything the agent's user can, its token included."

// sandbox returns the sandbox cfg asks for, checked by running the binary
// in it; nil for IsolationNone.
func sandbox(cfg Config) (*phase.Sandbox, error) {
	switch cfg.Isolation {
	case IsolationNone:
		return nil, nil
	case "", IsolationSandbox:
	default:
		return nil, fmt.Errorf("agent: unknown isolation %q: sandbox or none", cfg.Isolation)
	}
	box, err := phase.NewSandbox(phase.SandboxConfig{Bwrap: cfg.Bwrap, UID: cfg.RunUID, GID: cfg.RunGID})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = box.Probe(ctx, cfg.Binary)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: the run sandbox does not work on this host, and a run's code would see the agent's files and tokens: %w; "+
			"install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces, "+
			"or pass --isolation=none to run phases without isolation", err)
	}
	return box, nil
}

// CheckIsolation tries the isolation cfg asks for, as New does, so that a
// command can refuse to start before it serves anything.
func CheckIsolation(cfg Config) error {
	_, err := sandbox(cfg)
	return err
}
