package daemon_test

import (
	"context"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

// The platform API is served by the daemon and driven by go-tfe with a
// runcred token, as HCP Terraform's clients would.
func TestPlatformAPIThroughTheDaemon(t *testing.T) {
	n := startNode(t, nil)
	c, err := tfe.NewClient(&tfe.Config{Address: n.d.URL(), Token: n.token})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("demo"), Email: tfe.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workspaces.Create(ctx, "demo", tfe.WorkspaceCreateOptions{Name: tfe.String("ws1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("TFC_AWS_PROVIDER_AUTH"), Value: tfe.String("true"),
		Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
		t.Fatal(err)
	}
	// Another token is refused (404, as HCP answers what a caller may not see).
	other, err := tfe.NewClient(&tfe.Config{Address: n.d.URL(), Token: "hvs.nope"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Workspaces.Read(ctx, "demo", "ws1"); err == nil {
		t.Fatal("an unknown token read a workspace")
	}
}
