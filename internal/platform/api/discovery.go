package api

import (
	"net/http"

	"github.com/runcred/runcred/internal/respond"
)

// Services is what GET /.well-known/terraform.json advertises: the API
// versions terraform-provider-tfe, go-tfe's callers and OpenTofu's remote
// and cloud backends look up, all served by this one /api/v2. Services
// runcred does not serve (state.v2, motd.v1, modules.v1, login.v1) are
// left out, so a client that needs one says so instead of failing later.
var Services = map[string]string{
	"tfe.v2":   "/api/v2/",
	"tfe.v2.1": "/api/v2/",
	"tfe.v2.2": "/api/v2/",
}

// discovery answers Terraform's service discovery. It is public: clients
// fetch it before they have a token for the host.
func discovery(w http.ResponseWriter, r *http.Request) {
	respond.JSON(w, http.StatusOK, Services)
}

// entitlementsJSON is the organization's entitlement set: what runcred
// serves, and false for every HCP Terraform feature it does not.
type entitlementsJSON struct {
	ID                    string `jsonapi:"primary,entitlement-sets"`
	Agents                bool   `jsonapi:"attr,agents"`
	AuditLogging          bool   `jsonapi:"attr,audit-logging"`
	CostEstimation        bool   `jsonapi:"attr,cost-estimation"`
	GlobalRunTasks        bool   `jsonapi:"attr,global-run-tasks"`
	Operations            bool   `jsonapi:"attr,operations"`
	PrivateModuleRegistry bool   `jsonapi:"attr,private-module-registry"`
	PrivateRunTasks       bool   `jsonapi:"attr,private-run-tasks"`
	RunTasks              bool   `jsonapi:"attr,run-tasks"`
	SSO                   bool   `jsonapi:"attr,sso"`
	Sentinel              bool   `jsonapi:"attr,sentinel"`
	PolicyEnforcement     bool   `jsonapi:"attr,policy-enforcement"`
	StateStorage          bool   `jsonapi:"attr,state-storage"`
	Teams                 bool   `jsonapi:"attr,teams"`
	VCSIntegrations       bool   `jsonapi:"attr,vcs-integrations"`
	WaypointActions       bool   `jsonapi:"attr,waypoint-actions"`
	WaypointTemplates     bool   `jsonapi:"attr,waypoint-templates-and-addons"`
	Infragraph            bool   `jsonapi:"attr,infragraph"`
}

// readEntitlements answers for an organization the caller may see. Agents
// run every remote run, state is stored, teams and their tokens exist;
// runcred's audit log is its own API, not HCP Terraform's audit trails, so
// audit-logging is false with the rest.
func (h *API) readEntitlements(w http.ResponseWriter, r *http.Request) error {
	org, err := h.Service.Organizations.Organization(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, &entitlementsJSON{
		ID: org.ID, Agents: true, Operations: true, StateStorage: true, Teams: true,
	})
}
