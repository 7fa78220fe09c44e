package workspace_test

import (
	"testing"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestWorkspaceMovesNeedProjectGrant: the project name is in every token,
// so creating into or moving to a project needs update on it, and renaming
// needs create on the new name.
func TestWorkspaceMovesNeedProjectGrant(t *testing.T) {
	f := pt.NewOperator(t, storetest.Open(t, storetest.SQLiteURL(t)))
	prod, err := f.Svc.Organizations.CreateProject(pt.As(pt.Root), "acme", organization.ProjectOptions{Name: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	f.Grants["runcred/orgs/acme/workspaces/operator update"] = true
	f.Grants["runcred/orgs/acme/workspaces/new create"] = true
	if _, err := f.Svc.Workspaces.Update(pt.As(pt.User), f.Target.ID, workspace.Options{ProjectID: &prod.ID}); !fail.Is(err, fail.Denied) {
		t.Errorf("move without project grant: %v", err)
	}
	if _, err := f.Svc.Workspaces.Create(pt.As(pt.User), "acme", workspace.Options{Name: new("new"), ProjectID: &prod.ID}); !fail.Is(err, fail.Denied) {
		t.Errorf("create into project without grant: %v", err)
	}
	if _, err := f.Svc.Workspaces.Update(pt.As(pt.User), f.Target.ID, workspace.Options{Name: new("renamed")}); !fail.Is(err, fail.Denied) {
		t.Errorf("rename without create on the new name: %v", err)
	}
	f.Grants["runcred/orgs/acme/projects/prod update"] = true
	w, err := f.Svc.Workspaces.Update(pt.As(pt.User), f.Target.ID, workspace.Options{ProjectID: &prod.ID})
	if err != nil || w.ProjectID != prod.ID {
		t.Errorf("move with grant = %+v, %v", w, err)
	}
	if _, err := f.Svc.Workspaces.Create(pt.As(pt.User), "acme", workspace.Options{Name: new("new"), ProjectID: &prod.ID}); err != nil {
		t.Errorf("create into project with grant: %v", err)
	}
}
