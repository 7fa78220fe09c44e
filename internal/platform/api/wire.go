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
}

type projectJSON struct {
	ID                   string            `jsonapi:"primary,projects"`
	Name                 string            `jsonapi:"attr,name"`
	Description          string            `jsonapi:"attr,description"`
	DefaultExecutionMode string            `jsonapi:"attr,default-execution-mode"`
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
		Name: o.Name, ExternalID: o.ID, Email: o.Email, CreatedAt: o.CreatedAt,
		DefaultExecutionMode: workspace.ExecutionAgent, DefaultProject: &projectJSON{ID: o.DefaultProjectID},
	}
}

func toProject(p organization.Project) *projectJSON {
	return &projectJSON{
		ID: p.ID, Name: p.Name, Description: p.Description, DefaultExecutionMode: workspace.ExecutionAgent,
		Organization: &organizationJSON{Name: p.Organization},
	}
}

func toWorkspace(w workspace.Workspace) *workspaceJSON {
	out := &workspaceJSON{
		ID: w.ID, Name: w.Name, Description: w.Description, AutoApply: w.AutoApply, ExecutionMode: w.ExecutionMode,
		Operations: true, TerraformVersion: w.TerraformVersion, WorkingDirectory: w.WorkingDirectory, Locked: w.LockedBy != "",
		PhaseTimeout: int(w.PhaseTimeout / time.Second),
		CreatedAt:    w.CreatedAt, UpdatedAt: w.UpdatedAt,
		Organization: &organizationJSON{Name: w.Organization}, Project: &projectJSON{ID: w.ProjectID},
	}
	if w.AgentPoolID != "" {
		out.AgentPool = &agentPool{ID: w.AgentPoolID}
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
	Type  string  `jsonapi:"primary,organizations"`
	Name  *string `jsonapi:"attr,name"`
	Email *string `jsonapi:"attr,email"`
}

type projectInput struct {
	Type        string  `jsonapi:"primary,projects"`
	Name        *string `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
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
}

func (in workspaceInput) options() workspace.Options {
	o := workspace.Options{
		Name: in.Name, Description: in.Description, AutoApply: in.AutoApply, ExecutionMode: in.ExecutionMode,
		WorkingDirectory: in.WorkingDirectory, TerraformVersion: in.TerraformVersion, AgentPoolID: in.AgentPoolID,
	}
	if in.Project != nil {
		o.ProjectID = &in.Project.ID
	}
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
