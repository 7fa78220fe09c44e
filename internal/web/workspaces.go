package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
)

func (u *UI) organizations(w http.ResponseWriter, r *http.Request, v *view) error {
	orgs, _, err := u.cfg.Platform.Organizations.Organizations(r.Context(), resource.Page{Number: 1, Size: resource.MaxPageSize})
	if err != nil && fail.KindOf(err) != fail.Denied {
		return err
	}
	v.Title, v.Nav, v.Data = "Organizations", "orgs", orgs
	u.pages.render(w, http.StatusOK, "orgs", v)
	return nil
}

// workspaceRow is one line of an organization's workspace list.
type workspaceRow struct {
	W          workspace.Workspace
	LatestRun  *run.Run
	Credential string // credential mode from the TFC_* variables; "" when unknown to the caller
	Pool       string
}

type workspacesData struct {
	Org  organization.Organization
	Rows []workspaceRow
}

func (u *UI) workspaces(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx := r.Context()
	org, err := u.cfg.Platform.Organizations.Organization(ctx, r.PathValue("org"))
	if err != nil {
		return err
	}
	wss, _, err := u.cfg.Platform.Workspaces.Workspaces(ctx, org.Name, workspace.Filter{Page: resource.Page{Number: 1, Size: resource.MaxPageSize}})
	if err != nil {
		return err
	}
	d := workspacesData{Org: org}
	for _, ws := range wss {
		row := workspaceRow{W: ws, Pool: "default pool"}
		if runs, _, err := u.cfg.Platform.Runs.Runs(ctx, ws.ID, resource.Page{Number: 1, Size: 1}); err == nil && len(runs) > 0 {
			row.LatestRun = &runs[0]
		}
		if vars, err := u.cfg.Platform.Variables.Variables(ctx, ws.ID); err == nil {
			row.Credential = credentialMode(vars)
		}
		if ws.AgentPoolID != "" {
			row.Pool = ws.AgentPoolID
			if p, err := u.cfg.Platform.AgentPools.Pool(ctx, ws.AgentPoolID); err == nil {
				row.Pool = p.Name
			}
		}
		d.Rows = append(d.Rows, row)
	}
	v.Title, v.Nav, v.Data = org.Name, "orgs", d
	u.pages.render(w, http.StatusOK, "workspaces", v)
	return nil
}

// credentialMode names how a workspace's runs get cloud credentials, from
// the TFC_* variables HCP Terraform's dynamic credentials read.
func credentialMode(vars []variable.Variable) string {
	on := map[string]bool{}
	for _, x := range vars {
		if x.Category == variable.CategoryEnv && !x.Sensitive && strings.EqualFold(strings.TrimSpace(x.Value), "true") {
			on[x.Key] = true
		}
	}
	var modes []string
	if on["TFC_VAULT_BACKED_AWS_AUTH"] {
		modes = append(modes, "Vault-backed AWS")
	}
	if on["TFC_VAULT_PROVIDER_AUTH"] {
		modes = append(modes, "Vault")
	}
	if on["TFC_AWS_PROVIDER_AUTH"] {
		modes = append(modes, "AWS direct")
	}
	if len(modes) == 0 {
		return "none"
	}
	return strings.Join(modes, ", ")
}

// variableRow is a variable as the page shows it: never its value when
// sensitive (the service already blanks it; the template does not print
// Value for those either).
type variableRow struct {
	variable.Variable
	Manager string // name of the managing workspace, or its id
}

type workspaceData struct {
	W           workspace.Workspace
	Perms       workspace.Permissions
	Vars        []variableRow
	VarsDenied  bool
	Runs        []run.Run
	Credential  string
	Pool        string
	RunsAllowed bool
}

func (u *UI) workspace(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx := r.Context()
	ws, err := u.cfg.Platform.Workspaces.Workspace(ctx, r.PathValue("org"), r.PathValue("ws"))
	if err != nil {
		return err
	}
	d := workspaceData{W: ws, Perms: u.cfg.Platform.Workspaces.Permissions(ctx, ws), Pool: "default pool"}
	vars, err := u.cfg.Platform.Variables.Variables(ctx, ws.ID)
	switch {
	case err == nil:
		slices.SortFunc(vars, func(a, b variable.Variable) int { return strings.Compare(a.Key, b.Key) })
		d.Credential = credentialMode(vars)
		names := map[string]string{}
		for _, x := range vars {
			row := variableRow{Variable: x}
			if id := x.ManagingWorkspaceID; id != "" {
				if _, ok := names[id]; !ok {
					names[id] = id
					if m, err := u.cfg.Platform.Workspaces.WorkspaceByID(ctx, id); err == nil {
						names[id] = m.Organization + "/" + m.Name
					}
				}
				row.Manager = names[id]
			}
			if x.Sensitive {
				row.Value = ""
			}
			d.Vars = append(d.Vars, row)
		}
	case fail.KindOf(err) == fail.Denied || fail.KindOf(err) == fail.NotFound:
		d.VarsDenied = true
	default:
		return err
	}
	runs, _, err := u.cfg.Platform.Runs.Runs(ctx, ws.ID, resource.Page{Number: 1, Size: 20})
	if err == nil {
		d.Runs, d.RunsAllowed = runs, true
	} else if k := fail.KindOf(err); k != fail.Denied && k != fail.NotFound {
		return err
	}
	if ws.AgentPoolID != "" {
		d.Pool = ws.AgentPoolID
		if p, err := u.cfg.Platform.AgentPools.Pool(ctx, ws.AgentPoolID); err == nil {
			d.Pool = p.Name
		}
	}
	v.Title, v.Nav, v.Data = ws.Organization+"/"+ws.Name, "orgs", d
	u.pages.render(w, http.StatusOK, "workspace", v)
	return nil
}

// workspaceSettings changes the settings the page offers (description and
// auto-apply) through the workspace service, which authorizes the caller
// as the API does.
func (u *UI) workspaceSettings(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx := r.Context()
	ws, err := u.cfg.Platform.Workspaces.Workspace(ctx, r.PathValue("org"), r.PathValue("ws"))
	if err != nil {
		return err
	}
	desc := r.PostFormValue("description")
	var auto bool
	switch r.PostFormValue("auto_apply") {
	case "true":
		auto = true
	case "false":
	default:
		return fail.Invalidf("auto_apply must be true or false")
	}
	if _, err := u.cfg.Platform.Workspaces.Update(ctx, ws.ID, workspace.Options{Description: &desc, AutoApply: &auto}); err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"orgs/"+ws.Organization+"/workspaces/"+ws.Name, http.StatusSeeOther)
	return nil
}
