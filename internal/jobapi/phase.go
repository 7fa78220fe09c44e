package jobapi

import "fmt"

// Phase is one of a run's two phases. It is the one name for a phase on
// both sides of the protocol: the job a server hands out, the phase an agent
// runs, the phase a workload-identity token names (its sub ends in
// run_phase:<phase>) and the hooks an agent runs around it. Its string form
// is what travels on the wire.
type Phase string

// The phases, in the order a run goes through them.
const (
	Plan  Phase = "plan"
	Apply Phase = "apply"
)

// ParsePhase reads a phase's string form.
func ParsePhase(s string) (Phase, error) {
	p := Phase(s)
	if err := p.Check(); err != nil {
		return "", err
	}
	return p, nil
}

// Valid reports whether p is plan or apply.
func (p Phase) Valid() bool { return p == Plan || p == Apply }

// Check is nil for plan and apply, and says what is wrong otherwise.
func (p Phase) Check() error {
	if !p.Valid() {
		return fmt.Errorf("run phase %q is not plan or apply", string(p))
	}
	return nil
}
