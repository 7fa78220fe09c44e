package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// resourceChange is one resource of a plan as the page shows it: its
// address and what the plan does to it, never its values.
type resourceChange struct {
	Address string
	Action  string // create, update, delete, replace, read
	Symbol  string // + ~ − ±
}

// planChanges reads the resources a JSON plan changes ("no-op" ones left
// out), in address order. Only addresses and actions are taken from the
// plan, which also holds values.
func planChanges(plan []byte) ([]resourceChange, error) {
	var p struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal(plan, &p); err != nil {
		return nil, fail.Invalidf("the JSON plan could not be read")
	}
	var out []resourceChange
	for _, rc := range p.ResourceChanges {
		a := strings.Join(rc.Change.Actions, ",")
		c := resourceChange{Address: rc.Address}
		switch a {
		case "create":
			c.Action, c.Symbol = "create", "+"
		case "update":
			c.Action, c.Symbol = "update", "~"
		case "delete":
			c.Action, c.Symbol = "delete", "−"
		case "delete,create", "create,delete":
			c.Action, c.Symbol = "replace", "±"
		case "read":
			c.Action, c.Symbol = "read", "<="
		default:
			continue // no-op, or nothing
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b resourceChange) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

type resourcesData struct {
	RunID   string
	Changes []resourceChange
}

// resources is the plan's changes per resource. It reads the JSON plan
// through the run service (authorized, and audited as a read of the
// plan), so it is fetched on request, not with every run page.
func (u *UI) resources(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx := r.Context()
	run, err := u.cfg.Platform.Runs.Run(ctx, r.PathValue("run"))
	if err != nil {
		return err
	}
	plan, err := u.cfg.Platform.Runs.PlanJSON(ctx, run.PlanID)
	if err != nil {
		return err
	}
	changes, err := planChanges(plan)
	if err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Changes of run "+run.ID, "orgs", resourcesData{RunID: run.ID, Changes: changes}
	v.noLayout = r.Header.Get("HX-Request") != ""
	u.pages.render(w, http.StatusOK, "resources", v)
	return nil
}
