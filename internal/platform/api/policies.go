package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/policyset"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/respond"
)

// mountPolicies registers policies, policy sets, their parameters and
// versions, and runs' task stages, policy evaluations and outcomes.
func (h *API) mountPolicies(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/organizations/{org}/policies", h.listPolicies)
	route("POST /api/v2/organizations/{org}/policies", h.createPolicy)
	route("GET /api/v2/policies/{id}", h.readPolicy)
	route("PATCH /api/v2/policies/{id}", h.updatePolicy)
	route("DELETE /api/v2/policies/{id}", h.deletePolicy)
	route("PUT /api/v2/policies/{id}/upload", h.uploadPolicy)
	route("GET /api/v2/policies/{id}/download", h.downloadPolicy)

	route("GET /api/v2/organizations/{org}/policy-sets", h.listPolicySets)
	route("POST /api/v2/organizations/{org}/policy-sets", h.createPolicySet)
	route("GET /api/v2/policy-sets/{id}", h.readPolicySet)
	route("PATCH /api/v2/policy-sets/{id}", h.updatePolicySet)
	route("DELETE /api/v2/policy-sets/{id}", h.deletePolicySet)
	route("POST /api/v2/policy-sets/{id}/relationships/{rel}", h.relatePolicySet)
	route("DELETE /api/v2/policy-sets/{id}/relationships/{rel}", h.relatePolicySet)
	route("POST /api/v2/policy-sets/{id}/versions", h.createPolicySetVersion)
	route("GET /api/v2/policy-set-versions/{id}", h.readPolicySetVersion)

	route("GET /api/v2/policy-sets/{id}/parameters", h.listParameters)
	route("POST /api/v2/policy-sets/{id}/parameters", h.createParameter)
	route("GET /api/v2/policy-sets/{id}/parameters/{param}", h.readParameter)
	route("PATCH /api/v2/policy-sets/{id}/parameters/{param}", h.updateParameter)
	route("DELETE /api/v2/policy-sets/{id}/parameters/{param}", h.deleteParameter)

	route("GET /api/v2/runs/{run}/task-stages", h.listTaskStages)
	route("GET /api/v2/task-stages/{id}", h.readTaskStage)
	route("POST /api/v2/task-stages/{id}/actions/override", h.overrideTaskStage)
	route("GET /api/v2/task-stages/{id}/policy-evaluations", h.listPolicyEvaluations)
	route("GET /api/v2/policy-evaluations/{id}/policy-set-outcomes", h.listPolicySetOutcomes)
	route("GET /api/v2/policy-set-outcomes/{id}", h.readPolicySetOutcome)
}

func (h *API) listPolicies(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	if k := r.URL.Query().Get("filter[kind]"); k != "" && k != policyset.KindOPA {
		return writeList(w, []*policyJSON{}, pg, 0)
	}
	ps, total, err := h.Service.PolicySets.Policies(r.Context(), r.PathValue("org"), r.URL.Query().Get("search[name]"), pg)
	if err != nil {
		return err
	}
	out := make([]*policyJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, toPolicy(p))
	}
	return writeList(w, out, pg, total)
}

func (h *API) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var in policyInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := h.Service.PolicySets.CreatePolicy(r.Context(), r.PathValue("org"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toPolicy(p))
}

func (h *API) readPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := h.Service.PolicySets.Policy(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toPolicy(p))
}

func (h *API) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	var in policyInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := h.Service.PolicySets.UpdatePolicy(r.Context(), r.PathValue("id"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toPolicy(p))
}

func (h *API) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.PolicySets.DeletePolicy(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *API) uploadPolicy(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, policyset.MaxSourceLen+1))
	if err != nil {
		return errMalformed{"could not read the upload"}
	}
	if err := h.Service.PolicySets.UploadPolicy(r.Context(), r.PathValue("id"), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *API) downloadPolicy(w http.ResponseWriter, r *http.Request) error {
	b, err := h.Service.PolicySets.PolicySource(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
	return nil
}

func (h *API) listPolicySets(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	if k := r.URL.Query().Get("filter[kind]"); k != "" && k != policyset.KindOPA {
		return writeList(w, []*policySetJSON{}, pg, 0)
	}
	sets, total, err := h.Service.PolicySets.Sets(r.Context(), r.PathValue("org"), r.URL.Query().Get("search[name]"), pg)
	if err != nil {
		return err
	}
	out := make([]*policySetJSON, 0, len(sets))
	for _, s := range sets {
		out = append(out, toPolicySet(s))
	}
	return writeList(w, out, pg, total)
}

func (h *API) createPolicySet(w http.ResponseWriter, r *http.Request) error {
	var in policySetInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.VCSRepo) > 0 {
		return fail.Invalidf("vcs-repo is not supported: upload the set's files as a policy set version")
	}
	s, err := h.Service.PolicySets.Create(r.Context(), r.PathValue("org"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toPolicySet(s))
}

func (h *API) readPolicySet(w http.ResponseWriter, r *http.Request) error {
	s, err := h.Service.PolicySets.Set(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toPolicySet(s))
}

func (h *API) updatePolicySet(w http.ResponseWriter, r *http.Request) error {
	var in policySetInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.VCSRepo) > 0 {
		return fail.Invalidf("vcs-repo is not supported: upload the set's files as a policy set version")
	}
	s, err := h.Service.PolicySets.Update(r.Context(), r.PathValue("id"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toPolicySet(s))
}

func (h *API) deletePolicySet(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.PolicySets.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// relationKinds maps a relationships path to Relate's kind and the type
// its documents hold.
var relationKinds = map[string][2]string{
	"policies":             {policyset.RelPolicies, "policies"},
	"workspaces":           {policyset.ScopeWorkspace, "workspaces"},
	"workspace-exclusions": {policyset.ScopeWorkspaceExclusion, "workspaces"},
	"projects":             {policyset.ScopeProject, "projects"},
	"project-exclusions":   {policyset.ScopeProjectExclusion, "projects"},
}

// relatePolicySet adds or removes the resources a relationships document
// ({"data": [{"type": …, "id": …}]}) names.
func (h *API) relatePolicySet(w http.ResponseWriter, r *http.Request) error {
	kind, ok := relationKinds[r.PathValue("rel")]
	if !ok {
		return errNotFound
	}
	b, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	var doc struct {
		Data []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return errMalformed{"request body is not a JSON:API relationships document"}
	}
	ids := make([]string, 0, len(doc.Data))
	for _, d := range doc.Data {
		if d.Type != kind[1] {
			return fail.Invalidf("relationship %s holds %s, not %q", r.PathValue("rel"), kind[1], fail.Clip(d.Type))
		}
		ids = append(ids, d.ID)
	}
	if err := h.Service.PolicySets.Relate(r.Context(), r.PathValue("id"), kind[0], ids, r.Method == http.MethodDelete); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *API) toVersion(r *http.Request, v policyset.Version) *policySetVersionJSON {
	out := &policySetVersionJSON{ID: v.ID, Source: "tfe-api", Status: v.Status, Error: v.Error, ErrorMessage: v.Error,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, PolicySet: &policySetRef{ID: v.SetID},
		StatusTimestamps: stamps(map[string]time.Time{"pending-at": v.CreatedAt})}
	if v.Status != policyset.VersionPending {
		out.StatusTimestamps[v.Status+"-at"] = v.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	if v.UploadToken != "" {
		out.uploadURL = h.signedURL(r, v.UploadToken)
	}
	return out
}

func (h *API) createPolicySetVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := h.Service.PolicySets.CreateVersion(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, h.toVersion(r, v))
}

func (h *API) readPolicySetVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := h.Service.PolicySets.Version(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toVersion(r, v))
}

func (h *API) listParameters(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ps, err := h.Service.PolicySets.Parameters(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]*parameterJSON, 0, len(ps))
	for i, p := range ps {
		if i >= pg.Offset() && i < pg.Offset()+pg.Size {
			out = append(out, toParameter(p))
		}
	}
	return writeList(w, out, pg, len(ps))
}

func (h *API) createParameter(w http.ResponseWriter, r *http.Request) error {
	var in parameterInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := h.Service.PolicySets.CreateParameter(r.Context(), r.PathValue("id"),
		policyset.ParameterOptions{Key: in.Key, Value: in.Value, Category: in.Category, Sensitive: in.Sensitive})
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toParameter(p))
}

func (h *API) readParameter(w http.ResponseWriter, r *http.Request) error {
	p, err := h.Service.PolicySets.Parameter(r.Context(), r.PathValue("id"), r.PathValue("param"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toParameter(p))
}

func (h *API) updateParameter(w http.ResponseWriter, r *http.Request) error {
	var in parameterInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := h.Service.PolicySets.UpdateParameter(r.Context(), r.PathValue("id"), r.PathValue("param"),
		policyset.ParameterOptions{Key: in.Key, Value: in.Value, Category: in.Category, Sensitive: in.Sensitive})
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toParameter(p))
}

func (h *API) deleteParameter(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.PolicySets.DeleteParameter(r.Context(), r.PathValue("id"), r.PathValue("param")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *API) listTaskStages(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.Service.Runs.Checks(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	out := make([]*taskStageJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toTaskStage(c, h.Service.Runs.CanOverride(r.Context(), c.RunID)))
	}
	return writeList(w, out, resource.Page{Number: 1, Size: resource.DefaultPageSize}, len(out))
}

func (h *API) readTaskStage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !strings.HasPrefix(id, "ts-") {
		return errNotFound
	}
	c, _, err := h.Service.Runs.Check(r.Context(), id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTaskStage(c, h.Service.Runs.CanOverride(r.Context(), c.RunID)))
}

// overrideTaskStage takes go-tfe's body, {"comment": "…"} (plain JSON):
// runcred requires the comment, as the override's justification. A
// caller who may read the run but not override it gets a 403, not the
// API's usual 404: the run's existence is no secret to it.
func (h *API) overrideTaskStage(w http.ResponseWriter, r *http.Request) error {
	b, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	var body struct {
		Comment *string `json:"comment"`
	}
	if len(strings.TrimSpace(string(b))) > 0 && json.Unmarshal(b, &body) != nil {
		return errMalformed{`request body must be {"comment": "<justification>"}`}
	}
	comment := ""
	if body.Comment != nil {
		comment = *body.Comment
	}
	c, _, err := h.Service.Runs.Override(r.Context(), r.PathValue("id"), comment)
	if fail.Is(err, fail.Denied) {
		w.Header().Set("Content-Type", ContentType)
		w.WriteHeader(http.StatusForbidden)
		return send403(w)
	}
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTaskStage(c, true))
}

func send403(w io.Writer) error {
	_, err := io.WriteString(w, `{"errors":[{"status":"403","title":"forbidden","detail":"overriding a policy check needs the manage-policy-overrides permission"}]}`+"\n")
	return err
}

func (h *API) listPolicyEvaluations(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !strings.HasPrefix(id, "ts-") {
		return errNotFound
	}
	c, _, err := h.Service.Runs.Check(r.Context(), id)
	if err != nil {
		return err
	}
	return writeList(w, []*policyEvaluationJSON{toEvaluation(c)}, resource.Page{Number: 1, Size: resource.DefaultPageSize}, 1)
}

func (h *API) listPolicySetOutcomes(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !strings.HasPrefix(id, "poleval-") {
		return errNotFound
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	c, _, err := h.Service.Runs.Check(r.Context(), id)
	if err != nil {
		return err
	}
	status, level := outcomeFilter(r)
	out := []*policySetOutcomeJSON{}
	for i := range c.Outcome.Sets {
		o := toSetOutcome(c, i)
		if keepOutcome(o, status, level) {
			out = append(out, o)
		}
	}
	total := len(out)
	out = out[min(pg.Offset(), total):min(pg.Offset()+pg.Size, total)]
	return writeList(w, out, pg, total)
}

// outcomeFilter reads go-tfe's filter[n][status] and
// filter[n][enforcement_level] (any n).
func outcomeFilter(r *http.Request) (status, level string) {
	for k, v := range r.URL.Query() {
		switch {
		case strings.HasSuffix(k, "][status]"):
			status = v[0]
		case strings.HasSuffix(k, "][enforcement_level]"):
			level = v[0]
		}
	}
	return
}

// keepOutcome keeps the outcomes in o that match the filter, and o if any
// remains (or no filter is set).
func keepOutcome(o *policySetOutcomeJSON, status, level string) bool {
	if status == "" && level == "" {
		return true
	}
	var kept []map[string]any
	for _, p := range o.Outcomes {
		if (status == "" || p["status"] == status) && (level == "" || p["enforcement_level"] == level) {
			kept = append(kept, p)
		}
	}
	o.Outcomes = kept
	return len(kept) > 0
}

func (h *API) readPolicySetOutcome(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !strings.HasPrefix(id, "psout-") {
		return errNotFound
	}
	c, i, err := h.Service.Runs.Check(r.Context(), id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toSetOutcome(c, i))
}
