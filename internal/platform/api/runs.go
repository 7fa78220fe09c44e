package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/jsonapi"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/state"
	"github.com/runcred/runcred/internal/respond"
	"github.com/runcred/runcred/internal/secret"
)

// mountRuns registers configuration versions, runs, plans, applies, state
// versions and the signed URLs. The signed routes need no caller: go-tfe
// sends no API token to upload and log URLs, and the token in the path is
// the credential (see platform/resource/signed.go).
func (h *API) mountRuns(mux *http.ServeMux, route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("POST /api/v2/workspaces/{id}/configuration-versions", h.createConfigurationVersion)
	route("GET /api/v2/configuration-versions/{cv}", h.readConfigurationVersion)

	route("POST /api/v2/runs", h.createRun)
	route("GET /api/v2/runs/{run}", h.readRun)
	route("GET /api/v2/workspaces/{id}/runs", h.listRuns)
	route("POST /api/v2/runs/{run}/actions/{action}", h.runAction)

	route("GET /api/v2/plans/{phase}", h.readPhase)
	route("GET /api/v2/applies/{phase}", h.readPhase)
	route("GET /api/v2/plans/{phase}/json-output", h.planJSON)

	route("GET /api/v2/workspaces/{id}/current-state-version", h.currentStateVersion)
	route("POST /api/v2/workspaces/{id}/state-versions", h.uploadStateVersion)
	route("GET /api/v2/workspaces/{id}/current-state-version-outputs", h.currentStateVersionOutputs)
	route("GET /api/v2/state-version-outputs/{out}", h.readStateVersionOutput)
	route("GET /api/v2/state-versions", h.listStateVersions)
	route("GET /api/v2/state-versions/{sv}", h.readStateVersion)

	signed := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, h.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				h.writeError(w, r, err)
			}
		})))
	}
	signed("PUT "+signedPrefix+"{token}", h.upload)
	signed("GET "+signedPrefix+"{token}", h.readSigned)
}

const signedPrefix = "/api/v2/signed/"

var errNotFound = fail.NotFoundf("not found")

func (h *API) signedURL(r *http.Request, token string) string {
	base := h.BaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + signedPrefix + token
}

func (h *API) toConfigurationVersion(r *http.Request, cv configversion.Version) *configurationVersion {
	out := &configurationVersion{ID: cv.ID, Status: cv.Status, Source: "tfe-api", Speculative: cv.Speculative,
		AutoQueueRuns: cv.AutoQueueRuns, StatusTimestamps: map[string]string{}}
	if cv.UploadToken != "" {
		u := h.signedURL(r, cv.UploadToken)
		out.UploadURL = &u
	}
	if !cv.UploadedAt.IsZero() {
		out.StatusTimestamps = stamps(map[string]time.Time{"uploaded-at": cv.UploadedAt})
	}
	return out
}

func (h *API) createConfigurationVersion(w http.ResponseWriter, r *http.Request) error {
	var in configurationVersionInput
	if err := decode(r, &in); err != nil {
		return err
	}
	cv, err := h.Service.ConfigurationVersions.Create(r.Context(), r.PathValue("id"),
		configversion.Options{Speculative: in.Speculative, AutoQueueRuns: in.AutoQueueRuns})
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, h.toConfigurationVersion(r, cv))
}

func (h *API) readConfigurationVersion(w http.ResponseWriter, r *http.Request) error {
	cv, err := h.Service.ConfigurationVersions.Version(r.Context(), r.PathValue("cv"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toConfigurationVersion(r, cv))
}

func (h *API) upload(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, configversion.MaxArchiveSize+1))
	if err != nil {
		return errMalformed{"could not read the upload"}
	}
	if h.Service.PolicySets.Owns(r.PathValue("token")) {
		if err := h.Service.PolicySets.Upload(r.Context(), r.PathValue("token"), b); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if err := h.Service.ConfigurationVersions.Upload(r.Context(), r.PathValue("token"), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// readSigned serves a log (text, with go-tfe's offset and limit, framed by
// STX and, once the phase has ended, ETX) or a state download.
func (h *API) readSigned(w http.ResponseWriter, r *http.Request) error {
	c, err := h.Service.Runs.ReadSigned(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	if c.Purpose != "log" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(c.Data)
		return nil
	}
	data := append([]byte{0x02}, c.Data...)
	if c.Done {
		data = append(data, 0x03)
	}
	q := r.URL.Query()
	offset, limit := int64(0), int64(len(data))
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.ParseInt(v, 10, 64); err != nil || offset < 0 {
			return errMalformed{"offset must be a non-negative integer"}
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.ParseInt(v, 10, 64); err != nil || limit < 0 {
			return errMalformed{"limit must be a non-negative integer"}
		}
	}
	offset = min(offset, int64(len(data)))
	end := offset + min(limit, int64(len(data))-offset)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(data[offset:end])
	return nil
}

func (h *API) createRun(w http.ResponseWriter, r *http.Request) error {
	b, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	var in runInput
	if err := jsonapi.UnmarshalPayload(bytes.NewReader(b), &in); err != nil {
		return errMalformed{"request body is not a valid JSON:API document for this resource"}
	}
	if in.Workspace == nil || in.Workspace.ID == "" {
		return errMalformed{"the run's workspace relationship is required"}
	}
	o := run.Options{Message: in.Message, IsDestroy: in.IsDestroy, PlanOnly: in.PlanOnly, AutoApply: in.AutoApply}
	if err := runOptions(b, &o); err != nil {
		return err
	}
	if in.ConfigurationVersion != nil {
		o.ConfigurationVersionID = in.ConfigurationVersion.ID
	}
	run, err := h.Service.Runs.Create(r.Context(), in.Workspace.ID, o)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toRun(run))
}

func (h *API) readRun(w http.ResponseWriter, r *http.Request) error {
	run, err := h.Service.Runs.Run(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toRun(run))
}

func (h *API) listRuns(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	runs, total, err := h.Service.Runs.Runs(r.Context(), r.PathValue("id"), pg)
	if err != nil {
		return err
	}
	out := make([]*runJSON, 0, len(runs))
	for _, x := range runs {
		out = append(out, toRun(x))
	}
	return writeList(w, out, pg, total)
}

// runAction applies, discards, cancels or force-cancels; HCP Terraform answers 202 with
// no body. The optional comment is not kept yet.
func (h *API) runAction(w http.ResponseWriter, r *http.Request) error {
	if _, err := respond.ReadBody(r); err != nil {
		return err
	}
	var err error
	switch id := r.PathValue("run"); r.PathValue("action") {
	case "apply":
		_, err = h.Service.Runs.Apply(r.Context(), id)
	case "discard":
		_, err = h.Service.Runs.Discard(r.Context(), id)
	case "cancel":
		_, err = h.Service.Runs.Cancel(r.Context(), id)
	case "force-cancel":
		_, err = h.Service.Runs.ForceCancel(r.Context(), id)
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *API) readPhase(w http.ResponseWriter, r *http.Request) error {
	v, err := h.Service.Runs.PlanOrApply(r.Context(), r.PathValue("phase"))
	if err != nil {
		return err
	}
	// /plans/{id} serves only plans and /applies/{id} only applies.
	isPlan := strings.HasPrefix(r.URL.Path, "/api/v2/plans/")
	if isPlan != (v.Phase == jobapi.Plan) {
		return errNotFound
	}
	ts, logURL := stamps(v.Timestamps), h.signedURL(r, v.LogToken)
	if isPlan {
		return write(w, http.StatusOK, &plan{ID: v.ID, Status: v.Status, HasChanges: v.HasChanges, LogReadURL: logURL,
			ResourceAdditions: v.Counts.Additions, ResourceChanges: v.Counts.Changes, ResourceDestructions: v.Counts.Destructions,
			StatusTimestamps: ts})
	}
	return write(w, http.StatusOK, &apply{ID: v.ID, Status: v.Status, LogReadURL: logURL,
		ResourceAdditions: v.Counts.Additions, ResourceChanges: v.Counts.Changes, ResourceDestructions: v.Counts.Destructions,
		StatusTimestamps: ts})
}

func (h *API) planJSON(w http.ResponseWriter, r *http.Request) error {
	b, err := h.Service.Runs.PlanJSON(r.Context(), r.PathValue("phase"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
	return nil
}

func (h *API) toStateVersion(r *http.Request, sv state.Version) *stateVersion {
	return &stateVersion{ID: sv.ID, CreatedAt: sv.CreatedAt, Status: "finalized", Serial: sv.Serial, Lineage: sv.Lineage,
		MD5: sv.MD5, Size: sv.Size, DownloadURL: h.signedURL(r, sv.DownloadToken), Run: &runJSON{ID: sv.RunID}}
}

func (h *API) currentStateVersion(w http.ResponseWriter, r *http.Request) error {
	sv, err := h.Service.StateVersions.CurrentVersion(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toStateVersion(r, sv))
}

func (h *API) readStateVersion(w http.ResponseWriter, r *http.Request) error {
	sv, err := h.Service.StateVersions.Version(r.Context(), r.PathValue("sv"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toStateVersion(r, sv))
}

func (h *API) listStateVersions(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	svs, total, err := h.Service.StateVersions.Versions(r.Context(), q.Get("filter[organization][name]"), q.Get("filter[workspace][name]"), pg)
	if err != nil {
		return err
	}
	out := make([]*stateVersion, 0, len(svs))
	for _, sv := range svs {
		out = append(out, h.toStateVersion(r, sv))
	}
	return writeList(w, out, pg, total)
}

// runOptions reads the plan options of a run document (refresh,
// refresh-only, target-addrs, replace-addrs, variables) from its raw
// attributes, strictly: a value of the wrong type is a 422 naming the
// attribute, never a default. It refuses the options HCP Terraform has and
// runcred does not implement, when they ask for anything but the default.
func runOptions(body []byte, o *run.Options) error {
	var doc struct {
		Data struct {
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return errMalformed{"request body is not a valid JSON:API document for this resource"}
	}
	attrs := doc.Data.Attributes
	defaults := map[string][]string{ // attribute: the values that mean "as usual"
		"save-plan": {"false", "null"}, "allow-empty-apply": {"false", "null"}, "allow-config-generation": {"false", "null"},
		"debugging-mode": {"false", "null"}, "terraform-version": {`""`, "null"},
	}
	names := make([]string, 0, len(defaults))
	for k := range defaults {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		raw, ok := attrs[k]
		if ok && !slices.Contains(defaults[k], string(bytes.Join(bytes.Fields(raw), nil))) {
			return fail.Invalidf("runcred does not support the run option %s yet", k)
		}
	}
	// present reads attribute k into to if it is given and not null.
	present := func(k string, to any, want string) error {
		raw, ok := attrs[k]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			return nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(to); err != nil {
			return fail.Invalidf("attribute %s must be %s", k, want)
		}
		return nil
	}
	var refresh, refreshOnly bool
	if err := present("refresh", &refresh, "a boolean"); err != nil {
		return err
	}
	if raw, ok := attrs["refresh"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		o.Refresh = &refresh
	}
	if err := present("refresh-only", &refreshOnly, "a boolean"); err != nil {
		return err
	}
	o.RefreshOnly = &refreshOnly
	if err := present("target-addrs", &o.TargetAddrs, "a list of resource addresses (strings)"); err != nil {
		return err
	}
	if err := present("replace-addrs", &o.ReplaceAddrs, "a list of resource addresses (strings)"); err != nil {
		return err
	}
	var vars []*struct {
		Key   *string `json:"key"`
		Value *string `json:"value"`
	}
	const varsWant = `a list of {"key": NAME, "value": HCL literal} objects`
	if err := present("variables", &vars, varsWant); err != nil {
		return err
	}
	for i, v := range vars {
		if v == nil || v.Key == nil || v.Value == nil {
			return fail.Invalidf("variables[%d] must be an object with a key and a value (strings)", i)
		}
		o.Variables = append(o.Variables, run.Variable{Key: *v.Key, Value: secret.FromString(*v.Value)})
	}
	return nil
}
