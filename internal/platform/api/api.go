// Package api serves the platform as the HCP Terraform API v2: JSON:API
// documents under /api/v2, marshalled with github.com/hashicorp/jsonapi (the
// library and struct tags go-tfe itself uses), so go-tfe and
// terraform-provider-tfe work unchanged. It only translates: every decision
// is a domain service's (the fields of platform.Service).
package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hashicorp/jsonapi"
	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/respond"
)

// ContentType is JSON:API's media type.
const ContentType = "application/vnd.api+json"

// APIVersion is sent as TFP-API-Version on every response; go-tfe reads it
// from GET /api/v2/ping when a client is made.
const APIVersion = "2.6"

// AppName is sent as TFP-AppName. go-tfe treats anything but "HCP Terraform"
// as Terraform Enterprise, which is what a self-hosted runcred resembles.
const AppName = "runcred"

// API serves /api/v2. The daemon's middleware has already put the caller
// named by the request's bearer token into the request context.
type API struct {
	Service *platform.Service
	Logger  *slog.Logger

	// BaseURL is the external URL of the server ("https://runcred.example"),
	// from which upload, log and download URLs are made; "" derives it from
	// each request's Host.
	BaseURL string
}

// Mount registers the /api/v2 routes on mux.
func (h *API) Mount(mux *http.ServeMux) {
	route := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, h.handle(fn))
	}
	mux.Handle("GET /api/v2/ping", h.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))

	mux.Handle("GET /.well-known/terraform.json", h.headers(http.HandlerFunc(discovery)))
	route("GET /api/v2/organizations/{org}/entitlement-set", h.readEntitlements)

	route("GET /api/v2/organizations", h.listOrganizations)
	route("POST /api/v2/organizations", h.createOrganization)
	route("GET /api/v2/organizations/{org}", h.readOrganization)
	route("PATCH /api/v2/organizations/{org}", h.updateOrganization)
	route("DELETE /api/v2/organizations/{org}", h.deleteOrganization)

	route("GET /api/v2/organizations/{org}/projects", h.listProjects)
	route("POST /api/v2/organizations/{org}/projects", h.createProject)
	route("GET /api/v2/projects/{id}", h.readProject)
	route("PATCH /api/v2/projects/{id}", h.updateProject)
	route("DELETE /api/v2/projects/{id}", h.deleteProject)

	route("GET /api/v2/organizations/{org}/workspaces", h.listWorkspaces)
	route("POST /api/v2/organizations/{org}/workspaces", h.createWorkspace)
	route("GET /api/v2/organizations/{org}/workspaces/{name}", h.readWorkspace)
	route("PATCH /api/v2/organizations/{org}/workspaces/{name}", h.updateWorkspace)
	route("DELETE /api/v2/organizations/{org}/workspaces/{name}", h.deleteWorkspace)
	route("GET /api/v2/workspaces/{id}", h.readWorkspace)
	route("PATCH /api/v2/workspaces/{id}", h.updateWorkspace)
	route("DELETE /api/v2/workspaces/{id}", h.deleteWorkspace)
	route("POST /api/v2/workspaces/{id}/actions/{action}", h.lockAction)
	route("POST /api/v2/workspaces/{id}/relationships/tags", h.addTagNames)
	route("GET /api/v2/workspaces/{id}/relationships/remote-state-consumers", h.remoteStateConsumers)
	for _, m := range []string{"POST", "PATCH", "DELETE"} {
		route(m+" /api/v2/workspaces/{id}/relationships/remote-state-consumers", h.changeRemoteStateConsumers)
	}

	route("GET /api/v2/workspaces/{id}/vars", h.listVariables)
	route("POST /api/v2/workspaces/{id}/vars", h.createVariable)
	route("GET /api/v2/workspaces/{id}/vars/{var}", h.readVariable)
	route("PATCH /api/v2/workspaces/{id}/vars/{var}", h.updateVariable)
	route("DELETE /api/v2/workspaces/{id}/vars/{var}", h.deleteVariable)

	h.mountRuns(mux, route)
	h.mountAgentPools(route)
	h.mountTeams(route)
	h.mountTeamAccess(route)
	h.mountVarsets(route)
	h.mountPolicies(route)
	h.mountTags(route)
	h.mountGuards(route)
	h.mountRunTokenGrants(route)
	h.mountRunTriggers(route)
}

// headers adds the headers HCP Terraform sends on every API response.
func (h *API) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("TFP-API-Version", APIVersion)
		w.Header().Set("TFP-AppName", AppName)
		next.ServeHTTP(w, r)
	})
}

// handle requires a caller and renders fn's error, if any.
func (h *API) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return h.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fail.Unauthenticatedf("missing or invalid API token")
		if _, ok := access.CallerFrom(r.Context()); ok {
			err = fn(w, r)
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	}))
}

// errMalformed marks a request body that is not the JSON:API document expected.
type errMalformed struct{ msg string }

func (e errMalformed) Error() string { return e.msg }

// status maps an error to HCP Terraform's status. A denial is a 404, as in
// HCP Terraform: a caller must not learn that a resource it may not see
// exists. For the same reason every 404 has the same body.
func status(err error) (int, string, string) {
	if m, ok := err.(errMalformed); ok {
		return http.StatusBadRequest, "bad request", m.msg
	}
	switch fail.KindOf(err) {
	case fail.NotFound, fail.Denied:
		return http.StatusNotFound, "not found", ""
	case fail.Unauthenticated:
		return http.StatusUnauthorized, "unauthorized", ""
	case fail.Invalid:
		return http.StatusUnprocessableEntity, "invalid attribute", fail.Message(err)
	case fail.Conflict:
		return http.StatusConflict, "conflict", fail.Message(err)
	default:
		k := fail.KindOf(err)
		return respond.Status(k), k.String(), fail.Message(err)
	}
}

// writeError writes err as a JSON:API errors document; causes clients must
// not see are logged.
func (h *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, title, detail := status(err)
	if code >= 500 || fail.KindOf(err) == fail.Denied {
		h.Logger.Warn("platform API request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(code)
	_ = jsonapi.MarshalErrors(w, []*jsonapi.ErrorObject{{Status: strconv.Itoa(code), Title: title, Detail: detail}})
}

// decode reads a JSON:API document of one resource into model.
func decode(r *http.Request, model any) error {
	_, err := decodeRaw(r, model)
	return err
}

// decodeRaw is decode that also returns the body, for what the model
// cannot tell (an empty relationship from an absent one).
func decodeRaw(r *http.Request, model any) ([]byte, error) {
	b, err := respond.ReadBody(r)
	if err != nil {
		return nil, err
	}
	return b, decodeBytes(b, model)
}

// decodeBytes is decode of a body already read.
func decodeBytes(b []byte, model any) error {
	// The JSON:API decoder stops after the first value; json.Valid refuses
	// what follows it too, so a body is one document or malformed.
	if !json.Valid(b) {
		return errMalformed{"request body is not a valid JSON:API document for this resource"}
	}
	if err := checkDocument(b, model); err != nil {
		return err
	}
	if jsonapi.UnmarshalPayload(bytes.NewReader(b), model) != nil {
		return errMalformed{"request body is not a valid JSON:API document for this resource"}
	}
	return nil
}

// write sends one resource (a struct pointer) without sideloaded relations.
func write(w http.ResponseWriter, code int, model any) error {
	p, err := jsonapi.Marshal(model)
	if err != nil {
		return err
	}
	if one, ok := p.(*jsonapi.OnePayload); ok {
		one.Included = nil
	}
	return send(w, code, p)
}

// writeList sends a page of resources (a slice of struct pointers) with
// HCP Terraform's pagination meta, which go-tfe reads into Pagination.
func writeList(w http.ResponseWriter, models any, page resource.Page, total int) error {
	return writeListIncluded(w, models, page, total, false)
}

// writeListIncluded is writeList that keeps the sideloaded relations when
// the request asked for them.
func writeListIncluded(w http.ResponseWriter, models any, page resource.Page, total int, include bool) error {
	p, err := jsonapi.Marshal(models)
	if err != nil {
		return err
	}
	many, ok := p.(*jsonapi.ManyPayload)
	if !ok {
		return fail.Wrap(fail.Internal, nil, "list did not marshal as many")
	}
	kept := many.Included[:0]
	for _, n := range many.Included {
		if include && sideloaded[n.Type] {
			kept = append(kept, n)
		}
	}
	many.Included = kept
	pages := (total + page.Size - 1) / page.Size
	var prev, next any
	if page.Number > 1 {
		prev = page.Number - 1
	}
	if page.Number < pages {
		next = page.Number + 1
	}
	many.Meta = &jsonapi.Meta{"pagination": map[string]any{
		"current-page": page.Number, "page-size": page.Size, "prev-page": prev, "next-page": next,
		"total-pages": pages, "total-count": total,
	}}
	return send(w, http.StatusOK, many)
}

func send(w http.ResponseWriter, code int, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// page reads page[number] and page[size] as HCP Terraform does, with its
// defaults and cap.
func page(r *http.Request) (resource.Page, error) {
	var p resource.Page
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page[number]", &p.Number}, {"page[size]", &p.Size}} {
		v := r.URL.Query().Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, errMalformed{f.name + " must be a positive integer"}
		}
		*f.dst = n
	}
	return p.Normalize(), nil
}
