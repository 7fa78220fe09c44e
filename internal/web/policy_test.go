package web_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// TestPolicyOverrideFromPage: a real run that an overridable mandatory
// policy fails waits; its page shows the set, the policy and its
// violation; a read-only team gets no override form and a 403 for a forged
// one; an override without a justification is refused naming it; with
// one, the run goes on and the page says who overrode it and why. On both
// databases, with the agent running OpenTofu.
func TestPolicyOverrideFromPage(t *testing.T) { daemontest.Each(t, testPolicyOverrideFromPage) }

func testPolicyOverrideFromPage(t *testing.T, start daemontest.Starter) {
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
	ws, err := tc.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("prod")})
	must(err)
	ps, err := tc.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("guardrails"), Kind: tfe.OPA,
		Overridable: tfe.Bool(true), Workspaces: []*tfe.Workspace{ws}})
	must(err)
	pol := t.TempDir()
	must(os.MkdirAll(filepath.Join(pol, "policies"), 0o755))
	must(writeFile(pol, "policies.hcl", "policy \"no-data\" {\n  query = \"data.terraform.policies.nodata.deny\"\n  enforcement_level = \"mandatory\"\n}\n"))
	must(writeFile(pol, "policies/nodata.rego", "package terraform.policies.nodata\n\ndeny contains msg if {\n\tsome rc in input.plan.resource_changes\n\trc.type == \"terraform_data\"\n\tmsg := sprintf(\"%s is not allowed here\", [rc.address])\n}\n"))
	v, err := tc.PolicySetVersions.Create(ctx, ps.ID)
	must(err)
	must(tc.PolicySetVersions.Upload(ctx, *v, pol))

	// A team that may only read.
	team, err := tc.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("auditors")})
	must(err)
	tt, err := tc.TeamTokens.Create(ctx, team.ID)
	must(err)
	vc, err := vault.NewClient(&vault.Config{Address: srv.D.URL()})
	must(err)
	vc.SetToken(srv.Token)
	must(vc.Sys().PutPolicy("team-"+team.ID, `path "runcred/orgs/acme" { capabilities = ["read"] }
path "runcred/orgs/acme/*" { capabilities = ["read", "list"] }`))

	startAgent(t, srv, t.TempDir(), t.TempDir())
	cv, err := tc.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	must(err)
	dir := t.TempDir()
	must(writeFile(dir, "main.tf", `resource "terraform_data" "x" {}`))
	must(tc.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir))
	r, err := tc.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
	must(err)
	waitStatus(ctx, t, tc, r.ID, tfe.RunPostPlanAwaitingDecision)

	admin := newBrowser(t, srv)
	admin.signIn(srv.Token)
	page := admin.get("/app/runs/"+r.ID, http.StatusOK)
	for _, want := range []string{"Policy set guardrails", "no-data", "mandatory", "terraform_data.x is not allowed here", "awaiting_override", "Override and continue"} {
		if !strings.Contains(page, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
	stage := page[strings.Index(page, `name="stage" value="`)+len(`name="stage" value="`):]
	stage = stage[:strings.Index(stage, `"`)]

	ro := newBrowser(t, srv)
	ro.signIn(tt.Token)
	roPage := ro.get("/app/runs/"+r.ID, http.StatusOK)
	if !strings.Contains(roPage, "no-data") || strings.Contains(roPage, "Override and continue") {
		t.Errorf("a read-only team's run page: results shown %v, override form shown %v",
			strings.Contains(roPage, "no-data"), strings.Contains(roPage, "Override and continue"))
	}
	forged := url.Values{"csrf": {csrfOf(t, roPage)}, "stage": {stage}, "justification": {"forged"}}
	if resp, _ := ro.do("POST", "/app/runs/"+r.ID+"/override", forged, ro.origin); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a read-only team's override = %d, want 403", resp.StatusCode)
	}
	csrf := csrfOf(t, page)
	if resp, body := admin.do("POST", "/app/runs/"+r.ID+"/override", url.Values{"csrf": {csrf}, "stage": {stage}, "justification": {"  "}}, admin.origin); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "justification") {
		t.Errorf("an override without a justification = %d", resp.StatusCode)
	}
	if got, err := tc.Runs.Read(ctx, r.ID); err != nil || got.Status != tfe.RunPostPlanAwaitingDecision {
		t.Fatalf("refused overrides moved the run: %v %v", got.Status, err)
	}
	// In the browser: the failure is shown, the justification typed, the
	// run goes on, and the page (live) says who overrode it and why.
	p := newPage(t)
	p.run(chromedp.Navigate(srv.D.URL()+"/app/runs/"+r.ID), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), srv.Token), chromedp.Submit(chromedp.ID("token")))
	p.waitFor("terraform_data.x is not allowed here")
	p.run(chromedp.SendKeys(chromedp.ID("justification"), "CHG-42: the data resource is the migration's"),
		chromedp.Click(chromedp.CSS("button.act-override")))
	p.waitFor("CHG-42: the data resource is the migration")
	p.waitFor("Confirm and apply")
	if got, err := tc.Runs.Read(ctx, r.ID); err != nil || got.Status != tfe.RunPlanned {
		t.Fatalf("after the override from the page the run is %v (%v)", got.Status, err)
	}
	if got := p.html(); !strings.Contains(got, "overridden by") {
		t.Error("the run page does not say who overrode the check")
	}
	for _, s := range append(p.seen, slices.Collect(maps.Values(admin.pages))...) {
		if strings.Contains(s, srv.Token) || strings.Contains(s, tt.Token) {
			t.Fatal("a page holds a token")
		}
	}
}

func waitStatus(ctx context.Context, t *testing.T, tc *tfe.Client, id string, want tfe.RunStatus) {
	t.Helper()
	for {
		got, err := tc.Runs.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == want {
			return
		}
		if got.Status == tfe.RunErrored || got.Status == tfe.RunCanceled || got.Status == tfe.RunDiscarded || got.Status == tfe.RunApplied {
			t.Fatalf("run %s is %s, want %s", id, got.Status, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s is still %s, want %s", id, got.Status, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
