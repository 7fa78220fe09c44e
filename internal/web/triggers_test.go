package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// TestTriggeredRunPage: a run a run trigger queued says so on its page and
// links to the run whose apply queued it; another run's page does not.
func TestTriggeredRunPage(t *testing.T) { daemontest.Each(t, testTriggeredRunPage) }

func testTriggeredRunPage(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tc, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false})
	must(err)
	_, err = tc.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")})
	must(err)
	ws := map[string]*tfe.Workspace{}
	dir := t.TempDir()
	must(writeFile(dir, "main.tf", `resource "terraform_data" "x" {}`))
	for _, name := range []string{"net", "app"} {
		ws[name], err = tc.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String(name)})
		must(err)
		cv, err := tc.ConfigurationVersions.Create(ctx, ws[name].ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
		must(err)
		must(tc.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir))
	}
	_, err = tc.RunTriggers.Create(ctx, ws["app"].ID, tfe.RunTriggerCreateOptions{Sourceable: ws["net"]})
	must(err)
	startAgent(t, srv, t.TempDir(), t.TempDir())

	src, err := tc.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws["net"]})
	must(err)
	waitStatus(ctx, t, tc, src.ID, tfe.RunPlanned)
	must(tc.Runs.Apply(ctx, src.ID, tfe.RunApplyOptions{}))
	waitStatus(ctx, t, tc, src.ID, tfe.RunApplied)
	runs, err := tc.Runs.List(ctx, ws["app"].ID, nil)
	must(err)
	if len(runs.Items) != 1 {
		t.Fatalf("app has %d runs after net applied; want 1", len(runs.Items))
	}

	b := newBrowser(t, srv)
	b.signIn(srv.Token)
	page := b.get("/app/runs/"+runs.Items[0].ID, http.StatusOK)
	for _, want := range []string{"Triggered by run " + src.ID + " in workspace net", `Queued by a run trigger: <a href="/app/runs/` + src.ID + `">`} {
		if !strings.Contains(page, want) {
			t.Errorf("the triggered run's page lacks %q:\n%s", want, page)
		}
	}
	if page := b.get("/app/runs/"+src.ID, http.StatusOK); strings.Contains(page, "Queued by a run trigger") {
		t.Error("the source run's page says a run trigger queued it")
	}
}
