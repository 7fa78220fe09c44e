package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/agentpool"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/respond"
)

func (h *API) mountAgentPools(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/organizations/{org}/agent-pools", h.listAgentPools)
	route("POST /api/v2/organizations/{org}/agent-pools", h.createAgentPool)
	route("GET /api/v2/agent-pools/{id}", h.readAgentPool)
	route("PATCH /api/v2/agent-pools/{id}", h.updateAgentPool)
	route("DELETE /api/v2/agent-pools/{id}", h.deleteAgentPool)

	route("GET /api/v2/agent-pools/{id}/authentication-tokens", h.listAgentTokens)
	route("POST /api/v2/agent-pools/{id}/authentication-tokens", h.createAgentToken)
	// Agent and team tokens share these, as in HCP Terraform.
	route("GET /api/v2/authentication-tokens/{id}", h.readAuthToken)
	route("DELETE /api/v2/authentication-tokens/{id}", h.deleteAuthToken)
}

// pool is an agent pool as HCP Terraform renders it (agentPool, in
// wire.go, is the bare relation a workspace carries).
type pool struct {
	ID                 string            `jsonapi:"primary,agent-pools"`
	Name               string            `jsonapi:"attr,name"`
	AgentCount         int               `jsonapi:"attr,agent-count"`
	OrganizationScoped bool              `jsonapi:"attr,organization-scoped"`
	CreatedAt          time.Time         `jsonapi:"attr,created-at,iso8601"`
	Organization       *organizationJSON `jsonapi:"relation,organization"`
	Workspaces         []*workspaceJSON  `jsonapi:"relation,workspaces"`
	AllowedWorkspaces  []*workspaceJSON  `jsonapi:"relation,allowed-workspaces"`
}

func toPool(p agentpool.Pool) *pool {
	return &pool{
		ID: p.ID, Name: p.Name, OrganizationScoped: p.OrganizationScoped, CreatedAt: p.CreatedAt,
		Organization: &organizationJSON{Name: p.Organization},
		Workspaces:   workspaceRefs(p.Workspaces), AllowedWorkspaces: workspaceRefs(p.AllowedWorkspaces),
	}
}

func workspaceRefs(ids []string) []*workspaceJSON {
	out := make([]*workspaceJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, &workspaceJSON{ID: id})
	}
	return out
}

type poolInput struct {
	Type               string          `jsonapi:"primary,agent-pools"`
	Name               *string         `jsonapi:"attr,name"`
	OrganizationScoped *bool           `jsonapi:"attr,organization-scoped"`
	AllowedWorkspaces  []*workspaceRef `jsonapi:"relation,allowed-workspaces"`
	AllowedProjects    []*projectRef   `jsonapi:"relation,allowed-projects"`
	ExcludedWorkspaces []*workspaceRef `jsonapi:"relation,excluded-workspaces"`
}

// poolOptions reads an agent pool document. An allowed-workspaces
// relationship that is present replaces the list, even when empty (go-tfe's
// UpdateAllowedWorkspaces clears it so).
func poolOptions(r *http.Request) (agentpool.Options, error) {
	var in poolInput
	raw, err := decodeRaw(r, &in)
	if err != nil {
		return agentpool.Options{}, err
	}
	if len(in.AllowedProjects) > 0 || len(in.ExcludedWorkspaces) > 0 {
		return agentpool.Options{}, fail.Invalidf("agent pools take allowed workspaces only: allowed projects and excluded workspaces are not supported")
	}
	o := agentpool.Options{Name: in.Name, OrganizationScoped: in.OrganizationScoped}
	if hasRelationship(raw, "allowed-workspaces") {
		ids := make([]string, 0, len(in.AllowedWorkspaces))
		for _, w := range in.AllowedWorkspaces {
			ids = append(ids, w.ID)
		}
		o.AllowedWorkspaces = &ids
	}
	return o, nil
}

func hasRelationship(doc []byte, name string) bool {
	var d struct {
		Data struct {
			Relationships map[string]json.RawMessage `json:"relationships"`
		} `json:"data"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return false
	}
	_, ok := d.Data.Relationships[name]
	return ok
}

func (h *API) createAgentPool(w http.ResponseWriter, r *http.Request) error {
	o, err := poolOptions(r)
	if err != nil {
		return err
	}
	p, err := h.Service.AgentPools.Create(r.Context(), r.PathValue("org"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toPool(p))
}

func (h *API) readAgentPool(w http.ResponseWriter, r *http.Request) error {
	p, err := h.Service.AgentPools.Pool(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toPool(p))
}

func (h *API) listAgentPools(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ps, total, err := h.Service.AgentPools.Pools(r.Context(), r.PathValue("org"), agentpool.Filter{Search: r.URL.Query().Get("q"), Page: pg})
	if err != nil {
		return err
	}
	out := make([]*pool, 0, len(ps))
	for _, p := range ps {
		out = append(out, toPool(p))
	}
	return writeList(w, out, pg, total)
}

func (h *API) updateAgentPool(w http.ResponseWriter, r *http.Request) error {
	o, err := poolOptions(r)
	if err != nil {
		return err
	}
	p, err := h.Service.AgentPools.Update(r.Context(), r.PathValue("id"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toPool(p))
}

func (h *API) deleteAgentPool(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.AgentPools.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// authToken is an agent or team token. token is set only in the answer
// to the request that creates it.
type authToken struct {
	ID          string     `jsonapi:"primary,authentication-tokens"`
	CreatedAt   time.Time  `jsonapi:"attr,created-at,iso8601"`
	Description *string    `jsonapi:"attr,description"`
	LastUsedAt  *time.Time `jsonapi:"attr,last-used-at,iso8601"` // not tracked: always null
	Token       *string    `jsonapi:"attr,token"`
	ExpiredAt   *time.Time `jsonapi:"attr,expired-at,iso8601"`
	Team        *teamJSON  `jsonapi:"relation,team,omitempty"`
	AgentPool   *agentPool `jsonapi:"relation,agent-pool,omitempty"`

	// runcred's record of who created it, beyond HCP Terraform's attributes.
	CreatedByKind string `jsonapi:"attr,created-by-kind"`
	CreatedByID   string `jsonapi:"attr,created-by-id"`
}

func toAuthToken(t apitoken.Token) *authToken {
	out := &authToken{ID: t.ID, CreatedAt: t.CreatedAt, CreatedByKind: string(t.CreatedBy.Kind), CreatedByID: t.CreatedBy.ID}
	if !t.Legacy {
		d := t.Description
		out.Description = &d
	}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt
		out.ExpiredAt = &e
	}
	if !t.Token.Empty() {
		tok := t.Token.RevealString()
		out.Token = &tok
	}
	switch t.Kind {
	case apitoken.KindTeam:
		out.Team = &teamJSON{ID: t.OwnerID}
	case apitoken.KindAgent:
		out.AgentPool = &agentPool{ID: t.OwnerID}
	}
	return out
}

// Agent tokens are created with the type HCP Terraform documents,
// authentication-tokens (go-tfe's v2 client and terraform-provider-tfe send
// it), or agent-tokens, which go-tfe's v1 client sends.
type agentTokenInput struct {
	Type        string  `jsonapi:"primary,authentication-tokens"`
	Description *string `jsonapi:"attr,description"`
}

type agentTokenInputV1 struct {
	Type        string  `jsonapi:"primary,agent-tokens"`
	Description *string `jsonapi:"attr,description"`
}

func (h *API) createAgentToken(w http.ResponseWriter, r *http.Request) error {
	b, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	var in agentTokenInput
	var peek struct {
		Data struct {
			Type string `json:"type"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &peek) == nil && peek.Data.Type == "agent-tokens" {
		var v1 agentTokenInputV1
		err = decodeBytes(b, &v1)
		in.Description = v1.Description
	} else {
		err = decodeBytes(b, &in)
	}
	if err != nil {
		return err
	}
	if in.Description == nil {
		return fail.Invalidf("agent token description is required")
	}
	t, err := h.Service.AgentPools.CreateAgentToken(r.Context(), r.PathValue("id"), *in.Description)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toAuthToken(t))
}

func (h *API) listAgentTokens(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ts, total, err := h.Service.AgentPools.AgentTokens(r.Context(), r.PathValue("id"), pg)
	if err != nil {
		return err
	}
	return writeTokens(w, ts, pg, total)
}

func writeTokens(w http.ResponseWriter, ts []apitoken.Token, pg resource.Page, total int) error {
	out := make([]*authToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, toAuthToken(t))
	}
	return writeList(w, out, pg, total)
}

func (h *API) readAuthToken(w http.ResponseWriter, r *http.Request) error {
	t, err := h.Service.APITokens.AuthToken(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toAuthToken(t))
}

func (h *API) deleteAuthToken(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.APITokens.DeleteAuthToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
