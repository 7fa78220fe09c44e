package api

import (
	"time"

	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// Resources as HCP Terraform renders them. Field names and tags follow
// go-tfe's own structs; attributes go-tfe does not know (provenance) are
// ignored by it and available to runcred's clients.

type organizationJSON struct {
	Name                 string       `jsonapi:"primary,organizations"`
	ExternalID           string       `jsonapi:"attr,external-id"`
	Email                string       `jsonapi:"attr,email"`
	CreatedAt            time.Time    `jsonapi:"attr,created-at,iso8601"`
	DefaultExecutionMode string       `jsonapi:"attr,default-execution-mode"`
	DefaultProject       *projectJSON `jsonapi:"relation,default-project"`
	// runcred's own: "policy" or "locked" (organization.ManagedPolicy,
	// ManagedLocked).
	ManagedVariables string `jsonapi:"attr,runcred-managed-variables"`

	// Settings runcred has one way (organizationSettings).
	CollaboratorAuthPolicy           string `jsonapi:"attr,collaborator-auth-policy"`
	CostEstimationEnabled            bool   `jsonapi:"attr,cost-estimation-enabled"`
	AssessmentsEnforced              bool   `jsonapi:"attr,assessments-enforced"`
	AllowForceDeleteWorkspaces       bool   `jsonapi:"attr,allow-force-delete-workspaces"`
	SpeculativePlanManagementEnabled bool   `jsonapi:"attr,speculative-plan-management-enabled"`
	UserTokensEnabled                bool   `jsonapi:"attr,user-tokens-enabled"`
	EnforceHYOK                      bool   `jsonapi:"attr,enforce-hyok"`
	StacksEnabled                    bool   `jsonapi:"attr,stacks-enabled"`
	MaxTTLEnabled                    bool   `jsonapi:"attr,max-ttl-enabled"`
	SendPassingStatuses              bool   `jsonapi:"attr,send-passing-statuses-for-untriggered-speculative-plans"`
	AggregatedCommitStatusEnabled    bool   `jsonapi:"attr,aggregated-commit-status-enabled"`
	SAMLEnabled                      bool   `jsonapi:"attr,saml-enabled"`
}

type projectJSON struct {
	ID                   string            `jsonapi:"primary,projects"`
	Name                 string            `jsonapi:"attr,name"`
	Description          string            `jsonapi:"attr,description"`
	DefaultExecutionMode string            `jsonapi:"attr,default-execution-mode"`
	CreatedAt            time.Time         `jsonapi:"attr,created-at,iso8601"`
	Organization         *organizationJSON `jsonapi:"relation,organization"`
}

type agentPool struct {
	ID string `jsonapi:"primary,agent-pools"`
}

type workspaceJSON struct {
	ID               string `jsonapi:"primary,workspaces"`
	Name             string `jsonapi:"attr,name"`
	Description      string `jsonapi:"attr,description"`
	AutoApply        bool   `jsonapi:"attr,auto-apply"`
	ExecutionMode    string `jsonapi:"attr,execution-mode"`
	Operations       bool   `jsonapi:"attr,operations"`
	Locked           bool   `jsonapi:"attr,locked"`
	TerraformVersion string `jsonapi:"attr,terraform-version"`
	WorkingDirectory string `jsonapi:"attr,working-directory"`
	// runcred's own: the bound on one phase, in seconds; 0 for the agent's.
	PhaseTimeout int               `jsonapi:"attr,runcred-phase-timeout"`
	CreatedAt    time.Time         `jsonapi:"attr,created-at,iso8601"`
	UpdatedAt    time.Time         `jsonapi:"attr,updated-at,iso8601"`
	Organization *organizationJSON `jsonapi:"relation,organization"`
	Project      *projectJSON      `jsonapi:"relation,project"`
	AgentPool    *agentPool        `jsonapi:"relation,agent-pool"`

	// Settings runcred has one way (see workspaceSettingsInput.check).
	AllowDestroyPlan           bool     `jsonapi:"attr,allow-destroy-plan"`
	AutoApplyRunTrigger        bool     `jsonapi:"attr,auto-apply-run-trigger"`
	FileTriggersEnabled        bool     `jsonapi:"attr,file-triggers-enabled"`
	QueueAllRuns               bool     `jsonapi:"attr,queue-all-runs"`
	SpeculativeEnabled         bool     `jsonapi:"attr,speculative-enabled"`
	StructuredRunOutputEnabled bool     `jsonapi:"attr,structured-run-output-enabled"`
	GlobalRemoteState          bool     `jsonapi:"attr,global-remote-state"`
	ProjectRemoteState         bool     `jsonapi:"attr,project-remote-state"`
	AssessmentsEnabled         bool     `jsonapi:"attr,assessments-enabled"`
	HYOKEnabled                bool     `jsonapi:"attr,hyok-enabled"`
	Environment                string   `jsonapi:"attr,environment"`
	SourceName                 string   `jsonapi:"attr,source-name"`
	SourceURL                  string   `jsonapi:"attr,source-url"`
	TriggerPrefixes            []string `jsonapi:"attr,trigger-prefixes"`
	TriggerPatterns            []string `jsonapi:"attr,trigger-patterns"`
	TagNames                   []string `jsonapi:"attr,tag-names"`

	// What the caller and the workspace's state make true.
	ResourceCount        int                        `jsonapi:"attr,resource-count"`
	CanQueueDestroyPlan  bool                       `jsonapi:"attr,can-queue-destroy-plan"`
	Permissions          *workspacePermissionsJSON  `jsonapi:"attr,permissions"`
	Actions              *workspaceActionsJSON      `jsonapi:"attr,actions"`
	SettingOverwrites    *settingOverwritesJSON     `jsonapi:"attr,setting-overwrites"`
	EffectiveTagBindings []*effectiveTagBindingJSON `jsonapi:"relation,effective-tag-bindings,omitempty"`
	Outputs              []*workspaceOutputJSON     `jsonapi:"relation,outputs,omitempty"`
}

type variableJSON struct {
	ID          string         `jsonapi:"primary,vars"`
	Key         string         `jsonapi:"attr,key"`
	Value       string         `jsonapi:"attr,value"`
	Description string         `jsonapi:"attr,description"`
	Category    string         `jsonapi:"attr,category"`
	HCL         bool           `jsonapi:"attr,hcl"`
	Sensitive   bool           `jsonapi:"attr,sensitive"`
	VersionID   string         `jsonapi:"attr,version-id"`
	Workspace   *workspaceJSON `jsonapi:"relation,configurable"`

	// runcred's provenance, beyond HCP Terraform's attributes.
	WrittenByKind        string    `jsonapi:"attr,written-by-kind"`
	WrittenByID          string    `jsonapi:"attr,written-by-id"`
	WrittenByName        string    `jsonapi:"attr,written-by-name"`
	WrittenByWorkspaceID *string   `jsonapi:"attr,written-by-workspace-id"`
	WrittenAt            time.Time `jsonapi:"attr,written-at,iso8601"`
	ManagingWorkspaceID  *string   `jsonapi:"attr,managing-workspace-id"`
}

func toOrganization(o organization.Organization) *organizationJSON {
	return &organizationJSON{
		Name: o.Name, ExternalID: o.ID, Email: o.Email, CreatedAt: o.CreatedAt, ManagedVariables: o.ManagedVariables,
		DefaultExecutionMode: workspace.ExecutionAgent, DefaultProject: &projectJSON{ID: o.DefaultProjectID},
		CollaboratorAuthPolicy:           organizationSettings.CollaboratorAuthPolicy,
		SpeculativePlanManagementEnabled: organizationSettings.SpeculativePlanManagementEnabled,
		UserTokensEnabled:                organizationSettings.UserTokensEnabled,
	}
}

func toProject(p organization.Project) *projectJSON {
	return &projectJSON{
		ID: p.ID, Name: p.Name, Description: p.Description, DefaultExecutionMode: workspace.ExecutionAgent, CreatedAt: p.CreatedAt,
		Organization: &organizationJSON{Name: p.Organization},
	}
}

func toWorkspace(w workspace.Workspace) *workspaceJSON {
	out := &workspaceJSON{
		ID: w.ID, Name: w.Name, Description: w.Description, AutoApply: w.AutoApply, ExecutionMode: w.ExecutionMode,
		Operations: w.ExecutionMode != workspace.ExecutionLocal, TerraformVersion: w.TerraformVersion, WorkingDirectory: w.WorkingDirectory, Locked: w.LockedBy != "",
		PhaseTimeout: int(w.PhaseTimeout / time.Second), GlobalRemoteState: w.GlobalRemoteState,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		Organization: &organizationJSON{Name: w.Organization}, Project: &projectJSON{ID: w.ProjectID},
	}
	if w.AgentPoolID != "" {
		out.AgentPool = &agentPool{ID: w.AgentPoolID}
	}
	fixWorkspace(out)
	if out.TerraformVersion == "" {
		// No version pinned: the agent runs the binary it has, what HCP
		// Terraform calls "latest"; the CLIs refuse to touch a workspace's
		// state (force-unlock) when its version is neither theirs nor that.
		out.TerraformVersion = "latest"
	}
	return out
}

func toVariable(v variable.Variable) *variableJSON {
	return &variableJSON{
		ID: v.ID, Key: v.Key, Value: v.Value, Description: v.Description, Category: v.Category,
		HCL: v.HCL, Sensitive: v.Sensitive, VersionID: v.VersionID, Workspace: &workspaceJSON{ID: v.WorkspaceID},
		WrittenByKind: string(v.WrittenBy.Kind), WrittenByID: v.WrittenBy.ID, WrittenByName: v.WrittenBy.Name,
		WrittenByWorkspaceID: orNil(v.WrittenBy.WorkspaceID), WrittenAt: v.WrittenAt,
		ManagingWorkspaceID: orNil(v.ManagingWorkspaceID),
	}
}

func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Request documents: pointers tell an absent attribute from a zero one.

type organizationInput struct {
	Type             string  `jsonapi:"primary,organizations"`
	Name             *string `jsonapi:"attr,name"`
	Email            *string `jsonapi:"attr,email"`
	ManagedVariables *string `jsonapi:"attr,runcred-managed-variables"`

	// Settings runcred has one way: accepted at that value only.
	CollaboratorAuthPolicy           *string `jsonapi:"attr,collaborator-auth-policy"`
	CostEstimationEnabled            *bool   `jsonapi:"attr,cost-estimation-enabled"`
	AssessmentsEnforced              *bool   `jsonapi:"attr,assessments-enforced"`
	AllowForceDeleteWorkspaces       *bool   `jsonapi:"attr,allow-force-delete-workspaces"`
	SpeculativePlanManagementEnabled *bool   `jsonapi:"attr,speculative-plan-management-enabled"`
	UserTokensEnabled                *bool   `jsonapi:"attr,user-tokens-enabled"`
	EnforceHYOK                      *bool   `jsonapi:"attr,enforce-hyok"`
	StacksEnabled                    *bool   `jsonapi:"attr,stacks-enabled"`
	MaxTTLEnabled                    *bool   `jsonapi:"attr,max-ttl-enabled"`
	SendPassingStatuses              *bool   `jsonapi:"attr,send-passing-statuses-for-untriggered-speculative-plans"`
	AggregatedCommitStatusEnabled    *bool   `jsonapi:"attr,aggregated-commit-status-enabled"`
	DefaultExecutionMode             *string `jsonapi:"attr,default-execution-mode"`
}

// check refuses a setting at any value but the one runcred has.
func (in organizationInput) check() error {
	f := organizationSettings
	return firstError(
		settled("collaborator-auth-policy", in.CollaboratorAuthPolicy, f.CollaboratorAuthPolicy),
		settled("cost-estimation-enabled", in.CostEstimationEnabled, false),
		settled("assessments-enforced", in.AssessmentsEnforced, false),
		settled("allow-force-delete-workspaces", in.AllowForceDeleteWorkspaces, false),
		settled("speculative-plan-management-enabled", in.SpeculativePlanManagementEnabled, f.SpeculativePlanManagementEnabled),
		settled("user-tokens-enabled", in.UserTokensEnabled, f.UserTokensEnabled),
		settled("enforce-hyok", in.EnforceHYOK, false),
		settled("stacks-enabled", in.StacksEnabled, false),
		settled("max-ttl-enabled", in.MaxTTLEnabled, false),
		settled("send-passing-statuses-for-untriggered-speculative-plans", in.SendPassingStatuses, false),
		settled("aggregated-commit-status-enabled", in.AggregatedCommitStatusEnabled, false),
		settled("default-execution-mode", in.DefaultExecutionMode, workspace.ExecutionAgent),
	)
}

// organizationSettings are the organization settings of HCP Terraform that
// runcred has exactly one way: no users, passwords or sessions
// (collaborators authenticate with tokens, which user-tokens-enabled keeps
// allowed), no cost estimation, assessments, stacks, HYOK, token TTL
// policies or VCS statuses, and no organization-wide force delete of
// workspaces. Every other boolean setting is false.
var organizationSettings = struct {
	CollaboratorAuthPolicy           string
	SpeculativePlanManagementEnabled bool
	UserTokensEnabled                bool
}{"password", true, true}

type projectInput struct {
	Type        string  `jsonapi:"primary,projects"`
	Name        *string `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	// Runcred destroys nothing on a timer; absent or null is the only value.
	AutoDestroyActivityDuration *string `jsonapi:"attr,auto-destroy-activity-duration"`
}

type projectRef struct {
	ID string `jsonapi:"primary,projects"`
}

type workspaceInput struct {
	Type             string      `jsonapi:"primary,workspaces"`
	Name             *string     `jsonapi:"attr,name"`
	Description      *string     `jsonapi:"attr,description"`
	AutoApply        *bool       `jsonapi:"attr,auto-apply"`
	ExecutionMode    *string     `jsonapi:"attr,execution-mode"`
	WorkingDirectory *string     `jsonapi:"attr,working-directory"`
	TerraformVersion *string     `jsonapi:"attr,terraform-version"`
	AgentPoolID      *string     `jsonapi:"attr,agent-pool-id"`
	PhaseTimeout     *int64      `jsonapi:"attr,runcred-phase-timeout"` // seconds
	Project          *projectRef `jsonapi:"relation,project"`

	// Settings runcred has one way: accepted at that value only.
	AllowDestroyPlan           *bool                  `jsonapi:"attr,allow-destroy-plan"`
	AutoApplyRunTrigger        *bool                  `jsonapi:"attr,auto-apply-run-trigger"`
	FileTriggersEnabled        *bool                  `jsonapi:"attr,file-triggers-enabled"`
	QueueAllRuns               *bool                  `jsonapi:"attr,queue-all-runs"`
	SpeculativeEnabled         *bool                  `jsonapi:"attr,speculative-enabled"`
	StructuredRunOutputEnabled *bool                  `jsonapi:"attr,structured-run-output-enabled"`
	GlobalRemoteState          *bool                  `jsonapi:"attr,global-remote-state"`
	ProjectRemoteState         *bool                  `jsonapi:"attr,project-remote-state"`
	AssessmentsEnabled         *bool                  `jsonapi:"attr,assessments-enabled"`
	HYOKEnabled                *bool                  `jsonapi:"attr,hyok-enabled"`
	TriggerPrefixes            []string               `jsonapi:"attr,trigger-prefixes"`
	TriggerPatterns            []string               `jsonapi:"attr,trigger-patterns"`
	Operations                 *bool                  `jsonapi:"attr,operations"`
	SettingOverwrites          *settingOverwritesJSON `jsonapi:"attr,setting-overwrites"`
	// runcred destroys nothing on a timer: only null is accepted.
	AutoDestroyAt               *string `jsonapi:"attr,auto-destroy-at"`
	AutoDestroyActivityDuration *string `jsonapi:"attr,auto-destroy-activity-duration"`
}

func (in workspaceInput) options() workspace.Options {
	o := workspace.Options{
		Name: in.Name, Description: in.Description, AutoApply: in.AutoApply, ExecutionMode: in.ExecutionMode,
		WorkingDirectory: in.WorkingDirectory, TerraformVersion: in.TerraformVersion, AgentPoolID: in.AgentPoolID,
	}
	if in.Project != nil {
		o.ProjectID = &in.Project.ID
	}
	// operations is the older spelling of "local or not".
	if in.Operations != nil && !*in.Operations && in.ExecutionMode == nil {
		o.ExecutionMode = ptr(workspace.ExecutionLocal)
	}
	// Not overwriting the execution mode is taking the organization's
	// default, which is agent (on the default pool unless one is named).
	if so := in.SettingOverwrites; so != nil && so.ExecutionMode != nil && !*so.ExecutionMode && in.ExecutionMode == nil {
		o.ExecutionMode = ptr(workspace.ExecutionAgent)
	}
	o.GlobalRemoteState = in.GlobalRemoteState
	if in.PhaseTimeout != nil {
		d := time.Duration(*in.PhaseTimeout) * time.Second
		if *in.PhaseTimeout < 0 || *in.PhaseTimeout > int64(workspace.MaxPhaseTimeout/time.Second) {
			d = -1 // out of range, refused by the workspace's own check rather than overflowed here
		}
		o.PhaseTimeout = &d
	}
	return o
}

type variableInput struct {
	Type                string  `jsonapi:"primary,vars"`
	Key                 *string `jsonapi:"attr,key"`
	Value               *string `jsonapi:"attr,value"`
	Description         *string `jsonapi:"attr,description"`
	Category            *string `jsonapi:"attr,category"`
	HCL                 *bool   `jsonapi:"attr,hcl"`
	Sensitive           *bool   `jsonapi:"attr,sensitive"`
	ManagingWorkspaceID *string `jsonapi:"attr,managing-workspace-id"` // "" clears
}

func (in variableInput) options() variable.Options {
	return variable.Options{
		Key: in.Key, Value: in.Value, Description: in.Description, Category: in.Category,
		HCL: in.HCL, Sensitive: in.Sensitive, ManagingWorkspaceID: in.ManagingWorkspaceID,
	}
}
