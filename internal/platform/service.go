package platform

import (
	"sync"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/agentpool"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/state"
	"github.com/runcred/runcred/internal/platform/team"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Config is what a Service needs.
type Config struct {
	DB    *store.DB
	Seal  resource.Sealer
	Audit resource.Auditor
	Authz access.Authorizer
	// Tokens issues agent, team and job tokens; nil leaves those
	// operations unavailable (tests of other parts).
	Tokens resource.Tokens
	// Mint mints the workload identity tokens of jobs; nil leaves
	// MintForJob unavailable.
	Mint Minter
	Now  func() time.Time // defaults to time.Now
}

// Service is the platform's domain logic. It is safe for concurrent use.
type Service struct {
	// Organizations manages organizations and their projects.
	Organizations *organization.Service
	// APITokens reads and deletes teams' and agent pools' tokens by id.
	APITokens *apitoken.Service
	// Teams manages teams and their tokens.
	Teams *team.Service
	// AgentPools manages agent pools and their agent tokens.
	AgentPools *agentpool.Service
	// Workspaces manages workspaces.
	Workspaces *workspace.Service
	// Variables manages workspace variables and variable sets.
	Variables *variable.Service
	// ConfigurationVersions manages configuration versions.
	ConfigurationVersions *configversion.Service
	// StateVersions serves state versions.
	StateVersions *state.Service

	base   resource.Deps
	orgs   organization.Directory
	ledger apitoken.Ledger
	pools  agentpool.Directory
	ws     workspace.Directory
	vars   variable.RunInputs
	cvs    configversion.Directory
	states state.Directory
	tokens resource.Tokens
	minter Minter

	wakeMu sync.Mutex
	wake   chan struct{} // see JobsChanged
}

// New returns a Service; it panics on missing wiring, a bug found at start-up.
func New(c Config) *Service {
	if c.DB == nil || c.Seal == nil || c.Audit == nil || c.Authz == nil {
		panic("platform: New needs DB, Seal, Audit and Authz")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Service{base: resource.Deps{DB: c.DB, Seal: c.Seal, Audit: c.Audit, Authz: c.Authz, Now: c.Now}, tokens: c.Tokens, minter: c.Mint, wake: make(chan struct{})}
	s.orgs = organization.NewDirectory(c.DB)
	s.ledger = apitoken.NewLedger(s.base, c.Tokens)
	s.APITokens = apitoken.New(s.base, s.ledger)
	s.Organizations = organization.New(s.base, s.ledger)
	s.Teams = team.New(s.base, s.orgs, s.ledger, c.Tokens)
	s.pools = agentpool.NewDirectory(c.DB)
	s.ws = workspace.NewDirectory(s.base, s.orgs)
	s.AgentPools = agentpool.New(s.base, s.orgs, s.ws, s.ledger, c.Tokens)
	s.Workspaces = workspace.New(s.base, s.orgs, s.pools)
	s.Variables = variable.New(s.base, s.Organizations, s.orgs, s.ws)
	s.vars = variable.NewRunInputs(s.Variables)
	s.cvs = configversion.NewDirectory(s.base, s.ws)
	s.ConfigurationVersions = configversion.New(s.base, s.ws, cvQueue{s})
	s.states = state.NewDirectory(s.base)
	s.StateVersions = state.New(s.base, s.ws, s.Workspaces)
	return s
}
