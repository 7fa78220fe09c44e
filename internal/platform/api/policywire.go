package api

import (
	"strings"
	"time"

	"github.com/hashicorp/jsonapi"
	"github.com/runcred/runcred/internal/platform/policyset"
	"github.com/runcred/runcred/internal/platform/run"
)

// Policy resources as HCP Terraform renders them (kind "opa" only).

type organizationRef struct {
	Name string `jsonapi:"primary,organizations"`
}

type policyRef struct {
	ID string `jsonapi:"primary,policies"`
}

type policySetRef struct {
	ID string `jsonapi:"primary,policy-sets"`
}

type runRef struct {
	ID string `jsonapi:"primary,runs"`
}

type policyJSON struct {
	ID               string              `jsonapi:"primary,policies"`
	Name             string              `jsonapi:"attr,name"`
	Kind             string              `jsonapi:"attr,kind"`
	Query            string              `jsonapi:"attr,query"`
	Description      string              `jsonapi:"attr,description"`
	EnforcementLevel string              `jsonapi:"attr,enforcement-level"`
	Enforce          []map[string]string `jsonapi:"attr,enforce"`
	PolicySetCount   int                 `jsonapi:"attr,policy-set-count"`
	UpdatedAt        time.Time           `jsonapi:"attr,updated-at,iso8601"`
	Organization     *organizationRef    `jsonapi:"relation,organization"`
}

func toPolicy(p policyset.Policy) *policyJSON {
	return &policyJSON{ID: p.ID, Name: p.Name, Kind: policyset.KindOPA, Query: p.Query, Description: p.Description,
		EnforcementLevel: string(p.Level), Enforce: []map[string]string{{"path": p.Name + ".rego", "mode": string(p.Level)}},
		PolicySetCount: p.SetCount, UpdatedAt: p.UpdatedAt, Organization: &organizationRef{Name: p.Organization}}
}

type enforceInput struct {
	Path *string `jsonapi:"attr,path"`
	Mode *string `jsonapi:"attr,mode"`
}

type policyInput struct {
	Type             string         `jsonapi:"primary,policies"`
	Name             *string        `jsonapi:"attr,name"`
	Kind             *string        `jsonapi:"attr,kind"`
	Query            *string        `jsonapi:"attr,query"`
	Description      *string        `jsonapi:"attr,description"`
	EnforcementLevel *string        `jsonapi:"attr,enforcement-level"`
	Enforce          []enforceInput `jsonapi:"attr,enforce"`
}

func (in policyInput) options() policyset.PolicyOptions {
	o := policyset.PolicyOptions{Name: in.Name, Kind: in.Kind, Description: in.Description, Query: in.Query, Level: in.EnforcementLevel}
	if o.Level == nil && len(in.Enforce) > 0 {
		o.Level = in.Enforce[0].Mode // the deprecated form
	}
	return o
}

type policySetVersionJSON struct {
	ID               string            `jsonapi:"primary,policy-set-versions"`
	Source           string            `jsonapi:"attr,source"`
	Status           string            `jsonapi:"attr,status"`
	StatusTimestamps map[string]string `jsonapi:"attr,status-timestamps"`
	Error            string            `jsonapi:"attr,error"`
	ErrorMessage     string            `jsonapi:"attr,error-message"`
	CreatedAt        time.Time         `jsonapi:"attr,created-at,iso8601"`
	UpdatedAt        time.Time         `jsonapi:"attr,updated-at,iso8601"`
	PolicySet        *policySetRef     `jsonapi:"relation,policy-set"`
	uploadURL        string
}

// JSONAPILinks is the upload link go-tfe's Upload PUTs the archive to.
func (v *policySetVersionJSON) JSONAPILinks() *jsonapi.Links {
	if v.uploadURL == "" {
		return &jsonapi.Links{}
	}
	return &jsonapi.Links{"upload": v.uploadURL}
}

type policySetJSON struct {
	ID                  string                `jsonapi:"primary,policy-sets"`
	Name                string                `jsonapi:"attr,name"`
	Description         string                `jsonapi:"attr,description"`
	Kind                string                `jsonapi:"attr,kind"`
	Overridable         bool                  `jsonapi:"attr,overridable"`
	Global              bool                  `jsonapi:"attr,global"`
	PolicyCount         int                   `jsonapi:"attr,policy-count"`
	WorkspaceCount      int                   `jsonapi:"attr,workspace-count"`
	ProjectCount        int                   `jsonapi:"attr,project-count"`
	AgentEnabled        bool                  `jsonapi:"attr,agent-enabled"`
	PolicyToolVersion   string                `jsonapi:"attr,policy-tool-version"`
	CreatedAt           time.Time             `jsonapi:"attr,created-at,iso8601"`
	UpdatedAt           time.Time             `jsonapi:"attr,updated-at,iso8601"`
	Organization        *organizationRef      `jsonapi:"relation,organization"`
	Policies            []*policyRef          `jsonapi:"relation,policies"`
	Workspaces          []*workspaceRef       `jsonapi:"relation,workspaces"`
	WorkspaceExclusions []*workspaceRef       `jsonapi:"relation,workspace-exclusions"`
	Projects            []*projectRef         `jsonapi:"relation,projects"`
	ProjectExclusions   []*projectRef         `jsonapi:"relation,project-exclusions"`
	CurrentVersion      *policySetVersionJSON `jsonapi:"relation,current-version,omitempty"`
}

func toPolicySet(s policyset.Set) *policySetJSON {
	out := &policySetJSON{ID: s.ID, Name: s.Name, Description: s.Description, Kind: policyset.KindOPA, Overridable: s.Overridable,
		Global: s.Global, PolicyCount: len(s.PolicyIDs), WorkspaceCount: len(s.Scope[policyset.ScopeWorkspace]),
		ProjectCount: len(s.Scope[policyset.ScopeProject]), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		Organization: &organizationRef{Name: s.Organization},
		Policies:     []*policyRef{}, Workspaces: []*workspaceRef{}, WorkspaceExclusions: []*workspaceRef{},
		Projects: []*projectRef{}, ProjectExclusions: []*projectRef{}}
	for _, id := range s.PolicyIDs {
		out.Policies = append(out.Policies, &policyRef{ID: id})
	}
	for _, id := range s.Scope[policyset.ScopeWorkspace] {
		out.Workspaces = append(out.Workspaces, &workspaceRef{ID: id})
	}
	for _, id := range s.Scope[policyset.ScopeWorkspaceExclusion] {
		out.WorkspaceExclusions = append(out.WorkspaceExclusions, &workspaceRef{ID: id})
	}
	for _, id := range s.Scope[policyset.ScopeProject] {
		out.Projects = append(out.Projects, &projectRef{ID: id})
	}
	for _, id := range s.Scope[policyset.ScopeProjectExclusion] {
		out.ProjectExclusions = append(out.ProjectExclusions, &projectRef{ID: id})
	}
	if s.CurrentVersionID != "" {
		out.CurrentVersion = &policySetVersionJSON{ID: s.CurrentVersionID}
	}
	return out
}

type policySetInput struct {
	Type                string          `jsonapi:"primary,policy-sets"`
	Name                *string         `jsonapi:"attr,name"`
	Description         *string         `jsonapi:"attr,description"`
	Kind                *string         `jsonapi:"attr,kind"`
	Global              *bool           `jsonapi:"attr,global"`
	Overridable         *bool           `jsonapi:"attr,overridable"`
	VCSRepo             map[string]any  `jsonapi:"attr,vcs-repo"`
	Policies            []*policyRef    `jsonapi:"relation,policies"`
	Workspaces          []*workspaceRef `jsonapi:"relation,workspaces"`
	WorkspaceExclusions []*workspaceRef `jsonapi:"relation,workspace-exclusions"`
	Projects            []*projectRef   `jsonapi:"relation,projects"`
	ProjectExclusions   []*projectRef   `jsonapi:"relation,project-exclusions"`
}

func (in policySetInput) options() policyset.SetOptions {
	o := policyset.SetOptions{Name: in.Name, Description: in.Description, Kind: in.Kind, Global: in.Global, Overridable: in.Overridable,
		Scope: map[string][]string{}}
	for _, p := range in.Policies {
		o.PolicyIDs = append(o.PolicyIDs, p.ID)
	}
	for kind, refs := range map[string][]*workspaceRef{policyset.ScopeWorkspace: in.Workspaces, policyset.ScopeWorkspaceExclusion: in.WorkspaceExclusions} {
		for _, r := range refs {
			o.Scope[kind] = append(o.Scope[kind], r.ID)
		}
	}
	for kind, refs := range map[string][]*projectRef{policyset.ScopeProject: in.Projects, policyset.ScopeProjectExclusion: in.ProjectExclusions} {
		for _, r := range refs {
			o.Scope[kind] = append(o.Scope[kind], r.ID)
		}
	}
	return o
}

type parameterJSON struct {
	ID           string        `jsonapi:"primary,vars"`
	Key          string        `jsonapi:"attr,key"`
	Value        string        `jsonapi:"attr,value"`
	Category     string        `jsonapi:"attr,category"`
	Sensitive    bool          `jsonapi:"attr,sensitive"`
	Configurable *policySetRef `jsonapi:"relation,configurable"`
}

func toParameter(p policyset.Parameter) *parameterJSON {
	return &parameterJSON{ID: p.ID, Key: p.Key, Value: p.Value, Category: "policy-set", Sensitive: p.Sensitive,
		Configurable: &policySetRef{ID: p.SetID}}
}

type parameterInput struct {
	Type      string  `jsonapi:"primary,vars"`
	Key       *string `jsonapi:"attr,key"`
	Value     *string `jsonapi:"attr,value"`
	Category  *string `jsonapi:"attr,category"`
	Sensitive *bool   `jsonapi:"attr,sensitive"`
}

// Run checks: the post_plan task stage, its policy evaluation and the
// policy set outcomes.

type taskStageJSON struct {
	ID                string                  `jsonapi:"primary,task-stages"`
	Stage             string                  `jsonapi:"attr,stage"`
	Status            string                  `jsonapi:"attr,status"`
	StatusTimestamps  map[string]string       `jsonapi:"attr,status-timestamps"`
	CreatedAt         time.Time               `jsonapi:"attr,created-at,iso8601"`
	UpdatedAt         time.Time               `jsonapi:"attr,updated-at,iso8601"`
	Permissions       map[string]bool         `jsonapi:"attr,permissions"`
	Actions           map[string]bool         `jsonapi:"attr,actions"`
	Run               *runRef                 `jsonapi:"relation,run"`
	PolicyEvaluations []*policyEvaluationJSON `jsonapi:"relation,policy-evaluations"`
}

type policyEvaluationJSON struct {
	ID               string            `jsonapi:"primary,policy-evaluations"`
	Status           string            `jsonapi:"attr,status"`
	PolicyKind       string            `jsonapi:"attr,policy-kind"`
	StatusTimestamps map[string]string `jsonapi:"attr,status-timestamps"`
	ResultCount      map[string]int    `jsonapi:"attr,result-count"`
	CreatedAt        time.Time         `jsonapi:"attr,created-at,iso8601"`
	UpdatedAt        time.Time         `jsonapi:"attr,updated-at,iso8601"`
}

type policySetOutcomeJSON struct {
	ID                   string                `jsonapi:"primary,policy-set-outcomes"`
	Outcomes             []map[string]any      `jsonapi:"attr,outcomes"`
	Error                string                `jsonapi:"attr,error"`
	Overridable          bool                  `jsonapi:"attr,overridable"`
	PolicySetName        string                `jsonapi:"attr,policy-set-name"`
	PolicySetDescription string                `jsonapi:"attr,policy-set-description"`
	ResultCount          map[string]int        `jsonapi:"attr,result_count"`
	PolicyEvaluation     *policyEvaluationJSON `jsonapi:"relation,policy-evaluation"`
}

func toTaskStage(c run.Check, canOverride bool) *taskStageJSON {
	return &taskStageJSON{ID: c.ID, Stage: "post_plan", Status: c.Status, StatusTimestamps: stamps(c.Timestamps),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Permissions: map[string]bool{"can-override-policy": canOverride, "can-override-tasks": false, "can-override": canOverride},
		Actions:     map[string]bool{"is-overridable": c.Status == run.StageAwaitingOverride},
		Run:         &runRef{ID: c.RunID}, PolicyEvaluations: []*policyEvaluationJSON{{ID: c.EvaluationID()}}}
}

func evaluationStatus(c run.Check) string {
	switch c.Status {
	case run.StageAwaitingOverride:
		return "failed"
	case run.StageOverridden:
		return "overridden"
	}
	return c.Status
}

func toEvaluation(c run.Check) *policyEvaluationJSON {
	counts := map[string]int{"advisory-failed": 0, "mandatory-failed": 0, "passed": 0, "errored": 0}
	for _, s := range c.Outcome.Sets {
		p, a, m, e := s.Counts()
		counts["passed"] += p
		counts["advisory-failed"] += a
		counts["mandatory-failed"] += m
		counts["errored"] += e
	}
	st := evaluationStatus(c)
	ts := map[string]time.Time{"running-at": c.Timestamps["running-at"]}
	if st != run.StageRunning {
		ts[st+"-at"] = c.UpdatedAt
	}
	return &policyEvaluationJSON{ID: c.EvaluationID(), Status: st, PolicyKind: policyset.KindOPA, StatusTimestamps: stamps(ts),
		ResultCount: counts, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func toSetOutcome(c run.Check, i int) *policySetOutcomeJSON {
	s := c.Outcome.Sets[i]
	p, a, m, e := s.Counts()
	out := &policySetOutcomeJSON{ID: c.OutcomeID(i), Overridable: s.Overridable, PolicySetName: s.Name,
		PolicySetDescription: s.Description, Outcomes: []map[string]any{},
		ResultCount:      map[string]int{"passed": p, "advisory-failed": a, "mandatory-failed": m, "errored": e},
		PolicyEvaluation: &policyEvaluationJSON{ID: c.EvaluationID()}}
	var errs []string
	for _, po := range s.Policies {
		output := []map[string]string{}
		for _, v := range po.Violations {
			output = append(output, map[string]string{"print": v})
		}
		if po.Error != "" {
			errs = append(errs, po.Name+": "+po.Error)
		}
		out.Outcomes = append(out.Outcomes, map[string]any{"enforcement_level": string(po.Level), "query": po.Query,
			"status": string(po.Status), "policy_name": po.Name, "description": po.Description, "output": output})
	}
	out.Error = strings.Join(errs, "; ")
	return out
}
