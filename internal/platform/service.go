package platform

import (
	"context"

	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/agentpool"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/platform/guard"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/policyset"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/runtrigger"
	"github.com/runcred/runcred/internal/platform/state"
	"github.com/runcred/runcred/internal/platform/tag"
	"github.com/runcred/runcred/internal/platform/team"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/secret"
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
	Mint run.Minter
	// BrokerAddresses are where runcred's own broker is reached (its
	// public URL, its listener): the credential guard always allows them
	// as Vault addresses.
	BrokerAddresses []string
	// PhaseTokenTTL is how long a phase's workload-identity tokens live;
	// 0 is run.DefaultPhaseTokenTTL.
	PhaseTokenTTL time.Duration
	Now           func() time.Time // defaults to time.Now
	// PolicyEngine evaluates the policy sets of runs' post_plan stage;
	// nil leaves runs without one. PolicyKey (at least 32 bytes) keys
	// the HMACs of variable values policies compare.
	PolicyEngine *policy.Engine
	PolicyKey    secret.Value
}

// Service is the platform: one service per domain, wired together. Each
// is safe for concurrent use.
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
	// Tags manages projects' and workspaces' tag bindings.
	Tags *tag.Service
	// Variables manages workspace variables and variable sets.
	Variables *variable.Service
	// ConfigurationVersions manages configuration versions.
	ConfigurationVersions *configversion.Service
	// StateVersions serves state versions.
	StateVersions *state.Service
	// RunTriggers manages run triggers: applies in one workspace that
	// queue runs in another.
	RunTriggers *runtrigger.Service
	// PolicySets manages OPA policies and policy sets.
	PolicySets *policyset.Service
	// Runs is the run lifecycle: runs, their plans and applies, workspace
	// locks, and the server side of the agent protocol.
	Runs *run.Service
	// CredentialGuard holds the allowlists runs' credential settings are
	// checked against before anything is minted.
	CredentialGuard *guard.Service

	ledger apitoken.Ledger // see RevokeOrganizationTokens in the tests
}

// New returns a Service; it panics on missing wiring, a bug found at start-up.
func New(c Config) *Service {
	if c.DB == nil || c.Seal == nil || c.Audit == nil || c.Authz == nil {
		panic("platform: New needs DB, Seal, Audit and Authz")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	base := resource.Deps{DB: c.DB, Seal: c.Seal, Audit: c.Audit, Authz: c.Authz, Now: c.Now}
	orgs := organization.NewDirectory(c.DB)
	ledger := apitoken.NewLedger(base, c.Tokens)
	pools := agentpool.NewDirectory(c.DB)
	ws := workspace.NewDirectory(base, orgs)
	s := &Service{
		Organizations: organization.New(base, ledger),
		APITokens:     apitoken.New(base, ledger),
		Teams:         team.New(base, orgs, ws, ledger, c.Tokens),
		AgentPools:    agentpool.New(base, orgs, ws, ledger, c.Tokens),
		Workspaces:    workspace.New(base, orgs, pools),
		Tags:          tag.New(base, orgs, ws),
		ledger:        ledger,
	}
	s.Workspaces.Watch(s.Teams.Recompile)
	s.Organizations.OnChange(s.Teams.Recompile)
	s.Variables = variable.New(base, s.Organizations, orgs, ws)
	s.CredentialGuard = guard.New(base, orgs, c.BrokerAddresses...)
	s.StateVersions = state.New(base, ws, s.Workspaces)
	s.PolicySets = policyset.New(base, orgs, c.PolicyEngine)
	s.RunTriggers = runtrigger.New(base, ws)
	rc := run.Config{Base: base, Tokens: c.Tokens, Mint: c.Mint, PhaseTokenTTL: c.PhaseTokenTTL, Guard: s.CredentialGuard, Organizations: orgs, Workspaces: ws,
		Variables: variable.NewRunInputs(s.Variables), ConfigurationVersions: configversion.NewDirectory(base, ws),
		States: state.NewDirectory(base), Triggers: runtrigger.NewDirectory(base)}
	if c.PolicyEngine != nil {
		rc.Policies, rc.Engine, rc.PolicyKey = policyset.NewDirectory(s.PolicySets), c.PolicyEngine, c.PolicyKey
	}
	s.Runs = run.New(rc)
	// A run token's policy names the workspaces it reaches: a workspace
	// created in a granted project, a grant changed, changes it.
	s.Workspaces.Watch(func(ctx context.Context, org string) error { s.Runs.RefreshRunTokens(ctx, org); return nil })
	s.ConfigurationVersions = configversion.New(base, ws, run.NewQueue(s.Runs))
	return s
}
