package agent_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/peers/tools"
	"github.com/runcred/runcred/internal/store/storetest"
)

// managed is what the manager manages: a workspace in its granted
// project and a sensitive variable of it.
const managed = `
resource "tfe_workspace" "app" {
  name         = "app-made"
  organization = "demo"
  project_id   = var.project_id
}
resource "tfe_variable" "role" {
  key          = "role_id"
  value        = "role-7c1f"
  category     = "terraform"
  sensitive    = true
  workspace_id = tfe_workspace.app.id
}
`

// managerConfig is a manager workspace's configuration as a platform team
// writes it: the real tfe provider with no hostname and no token, which it
// takes from the run's environment (TFE_HOSTNAME, TFE_TOKEN: the phase's
// run token).
const managerConfig = `
terraform {
  required_providers {
    tfe = { source = "hashicorp/tfe", version = "0.80.0" }
  }
}
variable "project_id" { type = string }
provider "tfe" {}
`

// TestManagerRunToken: a manager workspace granted a project runs the real
// OpenTofu and terraform-provider-tfe on an agent, with no stored token:
// its run token creates a workspace and a sensitive variable in the
// project, each recorded as written by that run of the manager, which
// manages the variable from then on. The same manager's run that reaches
// for a workspace outside its grant fails, and writes nothing there.
func TestManagerRunToken(t *testing.T) {
	tools.Path(t, "providers/registry.opentofu.org/hashicorp/tfe/0.80.0")
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			w := newTLSWorld(t, b.NewURL(t), nil)
			ctx := ctxT(t)
			apps, err := w.tfe.Projects.Create(ctx, w.org, tfe.ProjectCreateOptions{Name: "apps"})
			if err != nil {
				t.Fatal(err)
			}
			other, err := w.tfe.Workspaces.Create(ctx, w.org, tfe.WorkspaceCreateOptions{Name: tfe.String("other")})
			if err != nil {
				t.Fatal(err)
			}
			mgr := w.workspace(t, "manager", true, map[string]string{
				"project_id": apps.ID, "env:SSL_CERT_FILE": "ca.pem",
			})
			grant := `{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[{"project-id":"` + apps.ID +
				`","permission":"manage-workspaces-and-variables"}]}}}`
			if code, body := w.rawAs(t, "PATCH", "/api/v2/workspaces/"+mgr.ID+"/runcred-run-token-grants", grant); code != http.StatusOK {
				t.Fatalf("granting: HTTP %d %s", code, body)
			}
			ca, err := os.ReadFile(w.srv.CAFile())
			if err != nil {
				t.Fatal(err)
			}

			w.upload(t, mgr, map[string]string{"ca.pem": string(ca), "main.tf": managerConfig + managed})
			r := w.wait(t, w.start(t, mgr).ID, tfe.RunApplied)
			made, err := w.tfe.Workspaces.Read(ctx, w.org, "app-made")
			if err != nil {
				t.Fatalf("the manager's workspace: %v\n%s", err, w.logs(t, r))
			}
			if made.Project == nil || made.Project.ID != apps.ID {
				t.Errorf("made in project %+v, want %s", made.Project, apps.ID)
			}
			v := w.variable(t, made.ID, "role_id")
			if v["written-by-kind"] != "run" || v["written-by-id"] != r.ID || v["written-by-workspace-id"] != mgr.ID ||
				v["managing-workspace-id"] != mgr.ID || v["value"] != "" {
				t.Errorf("role_id = %v, want written by run %s of %s, managed by it, value hidden", v, r.ID, mgr.ID)
			}

			// The same manager, reaching outside its grant: the apply fails
			// on that, and what it manages stays.
			w.upload(t, mgr, map[string]string{"ca.pem": string(ca), "main.tf": managerConfig + managed + `
resource "tfe_variable" "stray" {
  key          = "stray"
  value        = "x"
  category     = "terraform"
  workspace_id = "` + other.ID + `"
}
`})
			denied := w.wait(t, w.start(t, mgr).ID, tfe.RunErrored)
			if vs, err := w.tfe.Variables.List(ctx, other.ID, nil); err != nil || len(vs.Items) != 0 {
				t.Errorf("the ungranted workspace's variables = %+v, %v; want none\n%s", vs, err, w.logs(t, denied))
			}
			if log := w.logs(t, denied); !strings.Contains(log, "1 to add, 0 to change, 0 to destroy") || !strings.Contains(log, "tfe_variable.stray: Creating...") {
				t.Errorf("the refused apply did something else than creating the stray variable:\n%s", log)
			}
			if _, err := w.tfe.Workspaces.Read(ctx, w.org, "app-made"); err != nil {
				t.Errorf("the managed workspace after the refused run: %v", err)
			}
		})
	}
}

// rawAs sends one request to the world's server with the root token.
func (w *world) rawAs(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, w.srv.D.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.srv.Token)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := w.srv.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp.StatusCode, b.String()
}

// variable is workspace wsID's variable key as the API shows it, its
// attributes by name (nil ones as "").
func (w *world) variable(t *testing.T, wsID, key string) map[string]string {
	t.Helper()
	code, body := w.rawAs(t, "GET", "/api/v2/workspaces/"+wsID+"/vars", "")
	if code != http.StatusOK {
		t.Fatalf("vars: HTTP %d %s", code, body)
	}
	var doc struct {
		Data []struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, d := range doc.Data {
		if d.Attributes["key"] == key {
			out := map[string]string{}
			for k, v := range d.Attributes {
				if s, ok := v.(string); ok {
					out[k] = s
				}
			}
			return out
		}
	}
	t.Fatalf("no variable %s in %s", key, body)
	return nil
}

// TestRunTokenInPhase: the phase's processes (a hook here) see the run
// token as TFE_TOKEN with the server as TFE_HOSTNAME, and the log shows it
// masked.
func TestRunTokenInPhase(t *testing.T) {
	w := newWorld(t, map[string]string{"terraform-pre-plan": `#!/bin/sh
echo "run token [$TFE_TOKEN] of ${#TFE_TOKEN} bytes for [$TFE_HOSTNAME]"
`}, nil)
	ws := w.workspace(t, "tok", false, nil)
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	r := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	log := w.logs(t, r)
	host := strings.TrimPrefix(w.srv.D.URL(), "http://")
	if !strings.Contains(log, "run token [***] of ") || strings.Contains(log, " of 0 bytes") || !strings.Contains(log, "for ["+host+"]") {
		t.Fatalf("the hook's view of the run token:\n%s", log)
	}
}
