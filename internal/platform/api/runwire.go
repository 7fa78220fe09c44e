package api

import (
	"strings"
	"time"

	"github.com/runcred/runcred/internal/platform/run"
)

// Run-lifecycle resources as HCP Terraform renders them. Nested objects
// (status-timestamps, actions, permissions) are maps: go-tfe decodes them
// into its structs by attribute name.

type configurationVersion struct {
	ID               string            `jsonapi:"primary,configuration-versions"`
	Status           string            `jsonapi:"attr,status"`
	Source           string            `jsonapi:"attr,source"`
	Speculative      bool              `jsonapi:"attr,speculative"`
	AutoQueueRuns    bool              `jsonapi:"attr,auto-queue-runs"`
	UploadURL        *string           `jsonapi:"attr,upload-url"`
	StatusTimestamps map[string]string `jsonapi:"attr,status-timestamps"`
}

type plan struct {
	ID                   string            `jsonapi:"primary,plans"`
	Status               string            `jsonapi:"attr,status"`
	HasChanges           bool              `jsonapi:"attr,has-changes"`
	LogReadURL           string            `jsonapi:"attr,log-read-url"`
	ResourceAdditions    int               `jsonapi:"attr,resource-additions"`
	ResourceChanges      int               `jsonapi:"attr,resource-changes"`
	ResourceDestructions int               `jsonapi:"attr,resource-destructions"`
	StatusTimestamps     map[string]string `jsonapi:"attr,status-timestamps"`
}

type apply struct {
	ID                   string            `jsonapi:"primary,applies"`
	Status               string            `jsonapi:"attr,status"`
	LogReadURL           string            `jsonapi:"attr,log-read-url"`
	ResourceAdditions    int               `jsonapi:"attr,resource-additions"`
	ResourceChanges      int               `jsonapi:"attr,resource-changes"`
	ResourceDestructions int               `jsonapi:"attr,resource-destructions"`
	StatusTimestamps     map[string]string `jsonapi:"attr,status-timestamps"`
}

type runJSON struct {
	ID                   string                `jsonapi:"primary,runs"`
	Status               string                `jsonapi:"attr,status"`
	Message              string                `jsonapi:"attr,message"`
	IsDestroy            bool                  `jsonapi:"attr,is-destroy"`
	PlanOnly             bool                  `jsonapi:"attr,plan-only"`
	AutoApply            bool                  `jsonapi:"attr,auto-apply"`
	HasChanges           bool                  `jsonapi:"attr,has-changes"`
	Source               string                `jsonapi:"attr,source"`
	TriggerReason        string                `jsonapi:"attr,trigger-reason"`
	CreatedAt            time.Time             `jsonapi:"attr,created-at,iso8601"`
	StatusTimestamps     map[string]string     `jsonapi:"attr,status-timestamps"`
	Actions              map[string]bool       `jsonapi:"attr,actions"`
	Refresh              bool                  `jsonapi:"attr,refresh"`
	RefreshOnly          bool                  `jsonapi:"attr,refresh-only"`
	TargetAddrs          []string              `jsonapi:"attr,target-addrs"`
	ReplaceAddrs         []string              `jsonapi:"attr,replace-addrs"`
	Variables            []map[string]string   `jsonapi:"attr,variables"` // keys only: values are never shown again
	Permissions          map[string]bool       `jsonapi:"attr,permissions"`
	PositionInQueue      int                   `jsonapi:"attr,position-in-queue"`
	ErrorMessage         string                `jsonapi:"attr,error-message"` // runcred's, beyond HCP Terraform's
	Workspace            *workspaceJSON        `jsonapi:"relation,workspace"`
	ConfigurationVersion *configurationVersion `jsonapi:"relation,configuration-version"`
	Plan                 *plan                 `jsonapi:"relation,plan"`
	Apply                *apply                `jsonapi:"relation,apply"`

	// runcred's: a run a run trigger queued names the run whose apply
	// queued it and that run's workspace ("" for other runs).
	SourceRunID       string `jsonapi:"attr,source-run-id"`
	SourceWorkspaceID string `jsonapi:"attr,source-workspace-id"`
}

type stateVersion struct {
	ID          string    `jsonapi:"primary,state-versions"`
	CreatedAt   time.Time `jsonapi:"attr,created-at,iso8601"`
	Status      string    `jsonapi:"attr,status"`
	Serial      int64     `jsonapi:"attr,serial"`
	Lineage     string    `jsonapi:"attr,lineage"`
	MD5         string    `jsonapi:"attr,md5"`
	Size        int64     `jsonapi:"attr,size"`
	DownloadURL string    `jsonapi:"attr,hosted-state-download-url"`
	Run         *runJSON  `jsonapi:"relation,run"`
}

func stamps(m map[string]time.Time) map[string]string {
	out := make(map[string]string, len(m))
	for k, t := range m {
		out[k] = t.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func toRun(r run.Run) *runJSON {
	ts := make(map[string]time.Time, len(r.Timestamps))
	for st, t := range r.Timestamps {
		ts[strings.ReplaceAll(string(st), "_", "-")+"-at"] = t
	}
	reason := "manual"
	if r.SourceRunID != "" {
		reason = "run-trigger" // runcred's word; HCP Terraform documents no value for it
	}
	return &runJSON{
		ID: r.ID, Status: string(r.Status), Message: r.Message, IsDestroy: r.IsDestroy, PlanOnly: r.PlanOnly,
		AutoApply: r.AutoApply, HasChanges: r.HasChanges, Source: "tfe-api", TriggerReason: reason, CreatedAt: r.CreatedAt,
		StatusTimestamps: stamps(ts), ErrorMessage: r.ErrorMessage, SourceRunID: r.SourceRunID, SourceWorkspaceID: r.SourceWorkspaceID,
		Refresh: r.Refresh, RefreshOnly: r.RefreshOnly, TargetAddrs: r.TargetAddrs, ReplaceAddrs: r.ReplaceAddrs, Variables: runVariables(r.VariableKeys),
		Actions: map[string]bool{
			"is-cancelable":       run.CanMove(r.Status, run.Canceled),
			"is-confirmable":      run.CanMove(r.Status, run.Confirmed),
			"is-discardable":      run.CanMove(r.Status, run.Discarded),
			"is-force-cancelable": r.Status == run.Planning || r.Status == run.Applying,
		},
		Workspace: &workspaceJSON{ID: r.WorkspaceID}, ConfigurationVersion: &configurationVersion{ID: r.ConfigurationVersionID},
		Plan: &plan{ID: r.PlanID}, Apply: &apply{ID: r.ApplyID},
	}
}

// runVariables are a run's variables in its document: each key, with an
// empty value (HCP Terraform echoes the value; runcred seals it and never
// shows it again).
func runVariables(keys []string) []map[string]string {
	out := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]string{"key": k, "value": ""})
	}
	return out
}

// Request documents.

type configurationVersionInput struct {
	Type          string `jsonapi:"primary,configuration-versions"`
	AutoQueueRuns *bool  `jsonapi:"attr,auto-queue-runs"`
	Speculative   *bool  `jsonapi:"attr,speculative"`
	// Provisional (a version that becomes current only once a run applies
	// it) is sent by the CLIs' cloud backend as false; runcred has no other.
	Provisional *bool `jsonapi:"attr,provisional"`
}

type workspaceRef struct {
	ID string `jsonapi:"primary,workspaces"`
}

type configurationVersionRef struct {
	ID string `jsonapi:"primary,configuration-versions"`
}

type runInput struct {
	Type                 string                   `jsonapi:"primary,runs"`
	Message              *string                  `jsonapi:"attr,message"`
	IsDestroy            *bool                    `jsonapi:"attr,is-destroy"`
	PlanOnly             *bool                    `jsonapi:"attr,plan-only"`
	AutoApply            *bool                    `jsonapi:"attr,auto-apply"`
	Workspace            *workspaceRef            `jsonapi:"relation,workspace"`
	ConfigurationVersion *configurationVersionRef `jsonapi:"relation,configuration-version"`
}
