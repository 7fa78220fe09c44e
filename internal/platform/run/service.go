package run

import (
	"context"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/state"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/secret"
)

// Config is what a Service needs: the shared dependencies, and the other
// domains' lookups that hand a run its subject and its inputs.
type Config struct {
	Base resource.Deps
	// Tokens issues job tokens; nil leaves claiming unavailable (tests of
	// other parts).
	Tokens resource.Tokens
	// Mint mints the workload identity tokens of jobs; nil leaves
	// MintForJob unavailable.
	Mint Minter
	// PhaseTokenTTL is how long a phase's workload-identity tokens live;
	// 0 is DefaultPhaseTokenTTL. It never reaches past the phase's limit.
	PhaseTokenTTL time.Duration
	// Guard checks each phase's credential settings before anything is
	// minted; nil checks nothing (tests of other parts).
	Guard Guard

	Organizations         organization.Directory
	Workspaces            workspace.Directory
	Variables             variable.RunInputs
	ConfigurationVersions configversion.Directory
	States                state.Directory

	// Triggers finds the run triggers a successful apply fires; nil
	// fires none (tests of other parts).
	Triggers Triggers

	// Policies finds the policy sets that apply to a run's workspace;
	// nil leaves runs without a post_plan stage. Engine evaluates them
	// and PolicyKey keys the HMACs of variable values policies see.
	Policies  PolicySets
	Engine    *policy.Engine
	PolicyKey secret.Value
}

// Service is the run lifecycle. It is safe for concurrent use.
type Service struct {
	base   resource.Deps
	tokens resource.Tokens
	minter Minter
	guard  Guard
	ttl    time.Duration // of a phase's workload-identity tokens
	orgs   organization.Directory
	ws     workspace.Directory
	vars   variable.RunInputs
	cvs    configversion.Directory
	states state.Directory

	triggers Triggers

	policies  PolicySets
	engine    *policy.Engine
	policyKey secret.Value

	wakeMu sync.Mutex
	wake   chan struct{} // see JobsChanged
}

// New returns a Service.
func New(c Config) *Service {
	if c.PhaseTokenTTL <= 0 {
		c.PhaseTokenTTL = DefaultPhaseTokenTTL
	}
	s := &Service{base: c.Base, ttl: c.PhaseTokenTTL, tokens: c.Tokens, minter: c.Mint, guard: c.Guard, orgs: c.Organizations, ws: c.Workspaces,
		vars: c.Variables, cvs: c.ConfigurationVersions, states: c.States, wake: make(chan struct{}),
		policies: c.Policies, engine: c.Engine, policyKey: c.PolicyKey, triggers: c.Triggers}
	if s.policies != nil && s.engine == nil {
		panic("run: policy sets without an engine")
	}
	return s
}

// CountByStatus counts every run by status, for the server's metrics; it
// names no run, so it asks no authorization (the metrics endpoint does).
func (s *Service) CountByStatus(ctx context.Context) (map[string]int64, error) {
	return countByStatus(ctx, s.base.DB)
}
