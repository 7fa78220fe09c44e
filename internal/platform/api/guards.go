package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/guard"
	"github.com/runcred/runcred/internal/respond"
)

// The credential guard's allowlists are runcred's own resource, type
// runcred-credential-guards, one per organization and one per project:
//
//	GET|PATCH /api/v2/organizations/:org/runcred-credential-guard
//	GET|PATCH /api/v2/projects/:id/runcred-credential-guard
//
// A PATCH replaces each list it names and keeps the others; an empty list
// clears one. Only an organization's owners may PATCH.

// guardType is the resource's JSON:API type.
const guardType = "runcred-credential-guards"

func (h *API) mountGuards(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/organizations/{org}/runcred-credential-guard", h.readOrgGuard)
	route("PATCH /api/v2/organizations/{org}/runcred-credential-guard", h.updateOrgGuard)
	route("GET /api/v2/projects/{id}/runcred-credential-guard", h.readProjectGuard)
	route("PATCH /api/v2/projects/{id}/runcred-credential-guard", h.updateProjectGuard)
}

// guardJSON is the resource as sent. built-in-* are read-only: what every
// phase may use without an entry.
type guardJSON struct {
	ID                    string     `jsonapi:"primary,runcred-credential-guards"`
	Scope                 string     `jsonapi:"attr,scope"` // "organization" or "project"
	Audiences             []string   `jsonapi:"attr,audiences"`
	VaultAddresses        []string   `jsonapi:"attr,vault-addresses"`
	VaultAuthPaths        []string   `jsonapi:"attr,vault-auth-paths"`
	VaultRoles            []string   `jsonapi:"attr,vault-roles"`
	AWSRoleARNs           []string   `jsonapi:"attr,aws-role-arns"`
	BuiltInAudiences      []string   `jsonapi:"attr,built-in-audiences"`
	BuiltInVaultAddresses []string   `jsonapi:"attr,built-in-vault-addresses"`
	UpdatedAt             *time.Time `jsonapi:"attr,updated-at,iso8601,omitempty"`
}

// guardInput is a PATCH's attributes; nil is a list the request leaves alone.
type guardInput struct {
	Audiences, VaultAddresses, VaultAuthPaths, VaultRoles, AWSRoleARNs *[]string
}

func (h *API) toGuard(id, scope string, a guard.Allowlist) *guardJSON {
	g := &guardJSON{ID: id, Scope: scope, Audiences: nonNil(a.Audiences), VaultAddresses: nonNil(a.VaultAddresses),
		VaultAuthPaths: nonNil(a.VaultAuthPaths), VaultRoles: nonNil(a.VaultRoles), AWSRoleARNs: nonNil(a.AWSRoleARNs)}
	g.BuiltInAudiences, g.BuiltInVaultAddresses = h.Service.CredentialGuard.BuiltIn()
	g.BuiltInVaultAddresses = nonNil(g.BuiltInVaultAddresses)
	if !a.UpdatedAt.IsZero() {
		g.UpdatedAt = &a.UpdatedAt
	}
	return g
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// decodeGuard reads a PATCH document strictly: its type must be the
// guard's, and an attribute it does not know is a 422 naming it (a typo
// must not leave a list unchanged while the caller thinks it set it).
func decodeGuard(r *http.Request) (guardInput, error) {
	b, err := respond.ReadBody(r)
	if err != nil {
		return guardInput{}, err
	}
	var doc struct {
		Data *struct {
			Type       string          `json:"type"`
			Attributes json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	if !json.Valid(b) || json.Unmarshal(b, &doc) != nil || doc.Data == nil {
		return guardInput{}, errMalformed{"request body is not a valid JSON:API document for this resource"}
	}
	if doc.Data.Type != guardType {
		return guardInput{}, fail.Invalidf("data.type must be %q", guardType)
	}
	var in guardInput
	if len(doc.Data.Attributes) == 0 || string(doc.Data.Attributes) == "null" {
		return in, nil
	}
	var attrs map[string]json.RawMessage
	if json.Unmarshal(doc.Data.Attributes, &attrs) != nil {
		return guardInput{}, fail.Invalidf("data.attributes must be an object")
	}
	lists := map[string]**[]string{
		"audiences": &in.Audiences, "vault-addresses": &in.VaultAddresses, "vault-auth-paths": &in.VaultAuthPaths,
		"vault-roles": &in.VaultRoles, "aws-role-arns": &in.AWSRoleARNs,
	}
	for name, raw := range attrs { // names are matched exactly, as JSON:API's are
		dst, ok := lists[name]
		if !ok {
			return guardInput{}, fail.Invalidf("unknown attribute %q", fail.Clip(name))
		}
		var v []string
		if err := json.Unmarshal(raw, &v); err != nil || v == nil {
			return guardInput{}, fail.Invalidf("%s must be an array of strings", name)
		}
		*dst = &v
	}
	return in, nil
}

func (in guardInput) apply(a *guard.Allowlist) {
	for _, f := range []struct {
		from *[]string
		to   *[]string
	}{{in.Audiences, &a.Audiences}, {in.VaultAddresses, &a.VaultAddresses}, {in.VaultAuthPaths, &a.VaultAuthPaths},
		{in.VaultRoles, &a.VaultRoles}, {in.AWSRoleARNs, &a.AWSRoleARNs}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
}

func (h *API) readOrgGuard(w http.ResponseWriter, r *http.Request) error {
	org := r.PathValue("org")
	a, err := h.Service.CredentialGuard.Organization(r.Context(), org)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toGuard(org, "organization", a))
}

func (h *API) updateOrgGuard(w http.ResponseWriter, r *http.Request) error {
	org := r.PathValue("org")
	in, err := decodeGuard(r)
	if err != nil {
		return err
	}
	a, err := h.Service.CredentialGuard.Organization(r.Context(), org)
	if err != nil {
		return err
	}
	in.apply(&a)
	if a, err = h.Service.CredentialGuard.SetOrganization(r.Context(), org, a); err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toGuard(org, "organization", a))
}

func (h *API) readProjectGuard(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a, err := h.Service.CredentialGuard.Project(r.Context(), id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toGuard(id, "project", a))
}

func (h *API) updateProjectGuard(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	in, err := decodeGuard(r)
	if err != nil {
		return err
	}
	a, err := h.Service.CredentialGuard.Project(r.Context(), id)
	if err != nil {
		return err
	}
	in.apply(&a)
	if a, err = h.Service.CredentialGuard.SetProject(r.Context(), id, a); err != nil {
		return err
	}
	return write(w, http.StatusOK, h.toGuard(id, "project", a))
}
