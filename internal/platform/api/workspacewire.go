package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hashicorp/jsonapi"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/tag"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// A workspace's document carries HCP Terraform's attributes. Those for
// features runcred has one way are fixed here and accepted at that value
// only: runs are queued as they are created (no VCS, so no file triggers,
// trigger prefixes or patterns, and queue-all-runs holds), destroy and
// speculative plans are allowed, the structured (JSON) plan is kept, no
// workspace shares its state beyond its outputs (see the remote state
// consumers in workspaces.go), triggered runs wait for confirmation
// (auto-apply-run-trigger false), and there are no assessments or HYOK.

type workspacePermissionsJSON struct {
	CanDestroy           bool  `jsonapi:"attr,can-destroy"`
	CanForceDelete       *bool `jsonapi:"attr,can-force-delete"`
	CanForceUnlock       bool  `jsonapi:"attr,can-force-unlock"`
	CanLock              bool  `jsonapi:"attr,can-lock"`
	CanManageRunTasks    bool  `jsonapi:"attr,can-manage-run-tasks"`
	CanManageHYOK        bool  `jsonapi:"attr,can-manage-hyok"`
	CanQueueApply        bool  `jsonapi:"attr,can-queue-apply"`
	CanQueueDestroy      bool  `jsonapi:"attr,can-queue-destroy"`
	CanQueueRun          bool  `jsonapi:"attr,can-queue-run"`
	CanReadSettings      bool  `jsonapi:"attr,can-read-settings"`
	CanReadStateVersions bool  `jsonapi:"attr,can-read-state-versions"`
	CanReadVariable      bool  `jsonapi:"attr,can-read-variable"`
	CanUnlock            bool  `jsonapi:"attr,can-unlock"`
	CanUpdate            bool  `jsonapi:"attr,can-update"`
	CanUpdateVariable    bool  `jsonapi:"attr,can-update-variable"`
}

type workspaceActionsJSON struct {
	IsDestroyable bool `jsonapi:"attr,is-destroyable"`
}

type settingOverwritesJSON struct {
	ExecutionMode *bool `jsonapi:"attr,execution-mode"`
	AgentPool     *bool `jsonapi:"attr,agent-pool"`
}

type workspaceOutputJSON struct {
	ID        string `jsonapi:"primary,workspace-outputs"`
	Name      string `jsonapi:"attr,name"`
	Sensitive bool   `jsonapi:"attr,sensitive"`
	Type      string `jsonapi:"attr,output-type"`
	Value     any    `jsonapi:"attr,value"`
}

func fixWorkspace(out *workspaceJSON) {
	out.AllowDestroyPlan, out.FileTriggersEnabled, out.QueueAllRuns = true, true, true
	out.SpeculativeEnabled, out.StructuredRunOutputEnabled = true, true
	out.Environment = "default"
	out.TriggerPrefixes, out.TriggerPatterns, out.TagNames = []string{}, []string{}, []string{}
	// A workspace's execution mode and pool are its own; none is inherited
	// from the organization.
	out.SettingOverwrites = &settingOverwritesJSON{ExecutionMode: ptr(true), AgentPool: ptr(true)}
}

func ptr[T any](v T) *T { return &v }

// check refuses a setting at any value but the one runcred has.
func (in workspaceInput) check() error {
	empty := func(name string, v []string) error {
		if len(v) > 0 {
			return fail.Invalidf("attribute %q: runcred has no VCS triggers; only an empty list is accepted", name)
		}
		return nil
	}
	err := firstError(
		settled("allow-destroy-plan", in.AllowDestroyPlan, true),
		settled("auto-apply-run-trigger", in.AutoApplyRunTrigger, false),
		settled("file-triggers-enabled", in.FileTriggersEnabled, true),
		settled("queue-all-runs", in.QueueAllRuns, true),
		settled("speculative-enabled", in.SpeculativeEnabled, true),
		settled("structured-run-output-enabled", in.StructuredRunOutputEnabled, true),
		settled("project-remote-state", in.ProjectRemoteState, false),
		settled("assessments-enabled", in.AssessmentsEnabled, false),
		settled("hyok-enabled", in.HYOKEnabled, false),
		empty("trigger-prefixes", in.TriggerPrefixes),
		empty("trigger-patterns", in.TriggerPatterns),
	)
	if err != nil {
		return err
	}
	for name, v := range map[string]*string{"auto-destroy-at": in.AutoDestroyAt, "auto-destroy-activity-duration": in.AutoDestroyActivityDuration} {
		if v != nil {
			return fail.Invalidf("attribute %q: runcred destroys nothing on a timer; only null is accepted", name)
		}
	}
	if in.Operations != nil && in.ExecutionMode != nil && *in.Operations == (*in.ExecutionMode == workspace.ExecutionLocal) {
		return fail.Invalidf("attribute %q contradicts execution-mode %q", "operations", fail.Clip(*in.ExecutionMode))
	}
	return nil
}

// workspaceDoc is w's document for the caller: its permissions, resource
// count and the relations asked for with ?include.
func (h *API) workspaceDoc(r *http.Request, w workspace.Workspace) (*workspaceJSON, error) {
	out := toWorkspace(w)
	p := h.Service.Workspaces.Permissions(r.Context(), w)
	out.Permissions = &workspacePermissionsJSON{
		CanDestroy: p.Destroy, CanForceDelete: ptr(false), CanForceUnlock: p.ForceUnlock, CanLock: p.Lock,
		CanQueueApply: p.QueueApply, CanQueueDestroy: p.QueueApply, CanQueueRun: p.QueueRun, CanReadSettings: p.ReadSettings,
		CanReadStateVersions: p.ReadStateVersions, CanReadVariable: p.ReadVariable, CanUnlock: p.Unlock,
		CanUpdate: p.Update, CanUpdateVariable: p.UpdateVariable,
	}
	// Tag names for who may read the workspace's tags; none for others.
	if bs, err := h.Service.Tags.Workspace(r.Context(), w.ID); err == nil {
		out.TagNames = tagNames(bs)
	}
	n, err := h.Service.StateVersions.ResourceCount(r.Context(), w.ID)
	if err != nil {
		return nil, err
	}
	out.ResourceCount = n
	// Only a workspace that manages nothing is deleted (safe delete); a
	// destroy run empties one that does.
	out.Actions = &workspaceActionsJSON{IsDestroyable: n == 0}
	out.CanQueueDestroyPlan = p.QueueRun && w.ExecutionMode != workspace.ExecutionLocal
	for _, inc := range includes(r) {
		switch inc {
		case "effective_tag_bindings":
			bs, err := h.Service.Tags.EffectiveWorkspace(r.Context(), w.ID)
			if err != nil {
				return nil, err
			}
			out.EffectiveTagBindings = effectiveBindings(w.ID, bs)
		case "outputs":
			_, outs, err := h.Service.StateVersions.CurrentOutputs(r.Context(), w.ID)
			if err != nil {
				return nil, err
			}
			out.Outputs = []*workspaceOutputJSON{}
			for _, o := range outs {
				out.Outputs = append(out.Outputs, &workspaceOutputJSON{ID: o.ID, Name: o.Name, Sensitive: o.Sensitive, Type: o.Type, Value: rawValue(o.Value)})
			}
		}
	}
	return out, nil
}

// includes is the request's ?include list.
func includes(r *http.Request) []string {
	var out []string
	for _, v := range r.URL.Query()["include"] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func effectiveBindings(target string, bs []tag.Binding) []*effectiveTagBindingJSON {
	out := make([]*effectiveTagBindingJSON, 0, len(bs))
	for _, b := range bs {
		out = append(out, &effectiveTagBindingJSON{ID: bindingID(target, b.Key), Key: b.Key, Value: b.Value, InheritedFrom: b.InheritedFrom})
	}
	return out
}

// rawValue decodes an output's value for the document; nil stays null.
func rawValue(v json.RawMessage) any {
	if v == nil {
		return nil
	}
	var out any
	if json.Unmarshal(v, &out) != nil {
		return nil
	}
	return out
}

// sideloaded are the resource types a document includes when asked: the
// other relations name their resource by id only.
var sideloaded = map[string]bool{"effective-tag-bindings": true, "workspace-outputs": true, "workspaces": true, "vars": true}

// writeIncluded sends one resource with the relations ?include asked for.
func writeIncluded(w http.ResponseWriter, code int, model any) error {
	p, err := jsonapi.Marshal(model)
	if err != nil {
		return err
	}
	if one, ok := p.(*jsonapi.OnePayload); ok {
		kept := one.Included[:0]
		for _, n := range one.Included {
			if sideloaded[n.Type] {
				kept = append(kept, n)
			}
		}
		one.Included = kept
	}
	return send(w, code, p)
}

// workspaceBindings reads the tag-bindings relationship of a workspace
// document; nil when the document has none (as opposed to an empty one).
func workspaceBindings(b []byte, tagNamesToo bool) ([]tag.Binding, error) {
	var doc struct {
		Data struct {
			Relationships struct {
				TagBindings *struct {
					Data []struct {
						Type       string                     `json:"type"`
						Attributes map[string]json.RawMessage `json:"attributes"`
					} `json:"data"`
				} `json:"tag-bindings"`
				Tags *struct {
					Data []json.RawMessage `json:"data"`
				} `json:"tags"`
			} `json:"relationships"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &doc) != nil {
		return nil, errMalformed{"request body is not a valid JSON:API document for this resource"}
	}
	var names []tag.Binding
	if t := doc.Data.Relationships.Tags; t != nil && len(t.Data) > 0 {
		if !tagNamesToo {
			return nil, fail.Invalidf("relationship %q (tag names) is taken only when a workspace is created; use tag-bindings", "tags")
		}
		var err error
		if names, err = tagNameBindings(t.Data); err != nil {
			return nil, err
		}
	}
	tb := doc.Data.Relationships.TagBindings
	if tb == nil {
		return names, nil
	}
	bs, err := parseBindings(tb.Data)
	if bs == nil && err == nil {
		bs = []tag.Binding{}
	}
	return append(bs, names...), err
}

// rawRelations: tag bindings and tag names are read from the raw document
// (workspaceBindings), as the library cannot read a relationship's
// attributes.
func (workspaceInput) rawRelations() []string { return []string{"tag-bindings", "tags"} }

func (projectInput) rawRelations() []string { return []string{"tag-bindings"} }
