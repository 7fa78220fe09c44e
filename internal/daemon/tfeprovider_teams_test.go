package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// TestTFEProviderTeamAccess: the real tfe provider grants teams access to
// a workspace (fixed sets and custom permissions) and to a project
// (fixed and custom) through create, update, import and destroy with a
// clean plan after each step; while applied, the grants decide what the
// team's token may do.
func TestTFEProviderTeamAccess(t *testing.T) { daemontest.Each(t, testTFEProviderTeamAccess) }

func testTFEProviderTeamAccess(t *testing.T, start daemontest.Starter) {
	srv := start(t, daemontest.TLS(t))
	w := newTFEWork(t, srv)
	byID := func(addr string) importer {
		return importer{addr, func(st map[string]map[string]any) string { return attr(st, addr, "id") }}
	}
	config := `
resource "tfe_organization" "acme" {
  name  = "acme"
  email = "ops@acme.test"
}
resource "tfe_project" "core" {
  organization = tfe_organization.acme.name
  name         = "core"
}
resource "tfe_workspace" "app" {
  organization = tfe_organization.acme.name
  project_id   = tfe_project.core.id
  name         = "app"
}
resource "tfe_team" "ops" {
  organization = tfe_organization.acme.name
  name         = "ops"
}
resource "tfe_team" "dev" {
  organization = tfe_organization.acme.name
  name         = "dev"
}
resource "tfe_team_access" "ops" {
  team_id      = tfe_team.ops.id
  workspace_id = tfe_workspace.app.id
  access       = var.gen == 1 ? "read" : "write"
}
resource "tfe_team_access" "dev" {
  team_id      = tfe_team.dev.id
  workspace_id = tfe_workspace.app.id
  permissions {
    runs              = var.gen == 1 ? "plan" : "apply"
    variables         = "write"
    state_versions    = var.gen == 1 ? "none" : "read-outputs"
    sentinel_mocks    = "none"
    workspace_locking = var.gen == 2
    run_tasks         = false
  }
}
resource "tfe_team_project_access" "ops" {
  team_id    = tfe_team.ops.id
  project_id = tfe_project.core.id
  access     = var.gen == 1 ? "read" : "maintain"
}
resource "tfe_team_project_access" "dev" {
  team_id    = tfe_team.dev.id
  project_id = tfe_project.core.id
  access     = "custom"
  project_access {
    settings      = "read"
    teams         = var.gen == 1 ? "none" : "read"
    variable_sets = "none"
  }
  workspace_access {
    runs           = "read"
    variables      = var.gen == 1 ? "none" : "read"
    state_versions = "read-outputs"
    sentinel_mocks = "none"
    create         = var.gen == 2
    locking        = false
    move           = false
    delete         = false
    run_tasks      = false
  }
}
`
	w.write(config)
	w.run([]int{0}, "init", "-input=false")
	w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(2))
	st := w.state()
	// While applied: the dev team's custom grant is in force.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := goTFE(t, srv, srv.Token)
	tok, err := root.TeamTokens.Create(ctx, attr(st, "tfe_team.dev", "id"))
	if err != nil {
		t.Fatal(err)
	}
	dev := goTFE(t, srv, tok.Token)
	wsID := attr(st, "tfe_workspace.app", "id")
	got, err := dev.Workspaces.ReadByID(ctx, wsID)
	if err != nil {
		t.Fatalf("dev reads the workspace: %v", err)
	}
	if p := got.Permissions; !p.CanQueueApply || !p.CanLock || p.CanUpdate || p.CanReadStateVersions {
		t.Errorf("dev's permissions = %+v", p)
	}
	w.run([]int{0}, "destroy", "-input=false", "-auto-approve", gen(2))

	w.cycle(config, []importer{byID("tfe_organization.acme"), byID("tfe_project.core"), byID("tfe_workspace.app"),
		{"tfe_team_access.ops", func(st map[string]map[string]any) string {
			return "acme/app/" + attr(st, "tfe_team_access.ops", "id")
		}},
		{"tfe_team_access.dev", func(st map[string]map[string]any) string {
			return "acme/app/" + attr(st, "tfe_team_access.dev", "id")
		}},
		byID("tfe_team_project_access.ops"), byID("tfe_team_project_access.dev"),
	})
}
