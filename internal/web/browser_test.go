package web_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/cli"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/tools"
	"github.com/runcred/runcred/internal/secret"
)

// chromium finds Debian's chromium; scripts/tools.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run scripts/tools.sh (it installs the Debian package)")
	return ""
}

// page is a headless chromium tab; on failure its screenshot and HTML are
// saved under testdata/failures (ignored by git).
type page struct {
	t   *testing.T
	ctx context.Context
	// seen is the HTML of every page state read, for the canary scan.
	seen     []string
	deadline time.Time
}

func newPage(t *testing.T) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	p := &page{t: t, ctx: ctx, deadline: time.Now().Add(4 * time.Minute)}
	t.Cleanup(func() {
		if t.Failed() {
			p.saveFailure()
		}
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser, on a context without a timeout
	// (a timeout there would stop the browser).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *page) saveFailure() {
	dir := filepath.Join("testdata", "failures")
	_ = os.MkdirAll(dir, 0o755)
	name := strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name())
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(80)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".jpg"), png, 0o644)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".html"), []byte(html), 0o644)
	}
	p.t.Logf("screenshot and HTML saved in %s", dir)
}

func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithDeadline(p.ctx, p.deadline)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

func value[T any](p *page, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithDeadline(p.ctx, p.deadline)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// html is the current document, recorded for the canary scan.
func (p *page) html() string {
	p.t.Helper()
	// Read by script, not by node: htmx swaps nodes while the page streams.
	s := value(p, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	p.seen = append(p.seen, s)
	return s
}

// waitFor polls the document until it contains want.
func (p *page) waitFor(want string) string {
	p.t.Helper()
	for {
		// A page being loaded has no document yet: read it again.
		ctx, cancel := context.WithDeadline(p.ctx, p.deadline)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement ? document.documentElement.outerHTML : ""`))
		cancel()
		if err == nil {
			p.seen = append(p.seen, s)
			if strings.Contains(s, want) {
				return s
			}
		}
		if time.Now().After(p.deadline) {
			p.t.Fatalf("the page never showed %q", want)
		}
		time.Sleep(100 * time.Millisecond) // polling the page, not waiting out a race: the deadline bounds it
	}
}

// TestBrowser drives the UI in chromium against a server with its agent
// running real OpenTofu: sign in; a run started through go-tfe streams its
// plan log into the open page while the plan runs (a pre-plan hook holds
// the plan until the page has shown its first line); apply from the page;
// a variable's provenance; the run's audit records; no page holds a
// sensitive value or a token.
func TestBrowser(t *testing.T) { daemontest.Each(t, testBrowser) }

func testBrowser(t *testing.T, start daemontest.Starter) {
	f := setup(t, start)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The setup's queued run is in the way of the next; cancel it.
	if err := f.root.Runs.Cancel(ctx, f.run.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	// The setup's AWS credential mode gets its role: each phase is given a
	// workload identity token for it (the configuration calls no AWS API).
	if _, err := f.root.Variables.Create(ctx, f.ws.ID, tfe.VariableCreateOptions{Key: tfe.String("TFC_AWS_RUN_ROLE_ARN"),
		Value: tfe.String("arn:aws:iam::123456789012:role/ui-test"), Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
		t.Fatal(err)
	}
	hooks, work := t.TempDir(), t.TempDir()
	if err := os.Chmod(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooks, "terraform-pre-plan"), []byte(`#!/bin/sh
echo "first line, before the release"
while [ ! -e release ]; do sleep 0.05; done
echo "second line, after the release"
`), 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, f.srv, hooks, work)

	// A team writes a variable: its provenance names the team.
	team, err := f.root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("platform")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.root.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: team, Workspace: f.ws}); err != nil {
		t.Fatal(err)
	}
	tt, err := f.root.TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	teamClient, err := tfe.NewClient(&tfe.Config{Address: f.srv.D.URL(), Token: tt.Token, RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teamClient.Variables.Create(ctx, f.ws.ID, tfe.VariableCreateOptions{Key: tfe.String("owner"), Value: tfe.String("platform-team"),
		Category: tfe.Category(tfe.CategoryTerraform)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.root.Variables.Create(ctx, f.ws.ID, tfe.VariableCreateOptions{Key: tfe.String("TFC_AGENT_HOOK_PRE_PLAN_TIMEOUT"), Value: tfe.String("300"),
		Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
		t.Fatal(err)
	}

	p := newPage(t)
	base := f.srv.D.URL()
	p.run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), f.srv.Token), chromedp.Submit(chromedp.ID("token")))
	p.waitFor(`href="/app/orgs/acme"`)

	// A run from the CLI, as an operator starts one; the page it prints is
	// opened while the run is queued or planning.
	dir := t.TempDir()
	if err := writeFile(dir, "main.tf", "variable \"region\" {}\nvariable \"owner\" {}\nvariable \"db_password\" { sensitive = true }\nresource \"terraform_data\" \"x\" { input = var.region }\n"); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "start", "acme/" + f.ws.Name, dir, "--no-follow", "-m", "from the browser test", "--addr", base, "--token", f.srv.Token}
	if ca := f.srv.CAFile(); ca != "" {
		args = append(args, "--ca-cert", ca)
	}
	var out, errOut bytes.Buffer
	if code := cli.Main(args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("runcred run start: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	m := regexp.MustCompile(`Run (run-\S+) created in \S+: (\S+)`).FindStringSubmatch(out.String())
	if m == nil || m[2] != base+"/app/runs/"+m[1] {
		t.Fatalf("runcred run start printed no run page:\n%s", out.String())
	}
	r := &tfe.Run{ID: m[1]}
	p.run(chromedp.Navigate(m[2]))
	p.waitFor("first line, before the release")
	if got, err := f.root.Runs.Read(ctx, r.ID); err != nil || got.Status != tfe.RunPlanning {
		t.Fatalf("the page showed the hook's line but the run is %v (%v)", got.Status, err)
	}
	// Released only now: what follows can reach this page only by streaming.
	release(t, work)
	p.waitFor("second line, after the release")
	p.waitFor("1 to add")
	p.waitFor("Confirm and apply")
	// By keyboard: the first Tab reaches the skip link, later ones the
	// apply button, and Enter presses it.
	p.run(chromedp.KeyEvent("\t"))
	if got := value(p, chromedp.Evaluate[string](`document.activeElement.className`)); got != "skip" {
		t.Errorf("the first Tab focuses %q, not the skip link", got)
	}
	for i := 0; ; i++ {
		if value(p, chromedp.Evaluate[bool](`document.activeElement.classList.contains("act-apply")`)) {
			break
		}
		if i == 60 {
			t.Fatal("Tab never reached the apply button")
		}
		p.run(chromedp.KeyEvent("\t"))
	}
	p.run(chromedp.KeyEvent("\r"))
	p.waitFor(`id="run-status">applied<`)
	applied := p.waitFor("Apply complete!")
	if !strings.Contains(applied, `<span class="`) {
		t.Error("the log's ANSI colours were not rendered as spans")
	}
	if got, err := f.root.Runs.Read(ctx, r.ID); err != nil || got.Status != tfe.RunApplied {
		t.Fatalf("the run is %v after apply from the page (%v)", got.Status, err)
	}

	// The changes per resource, fetched into the page on request. The page
	// is loaded afresh first: a finished run's page has no event stream, so
	// no swap can replace the link between htmx binding it and the click
	// (a click on an unbound link follows its href to a page of its own).
	p.run(chromedp.Navigate(m[2]))
	p.waitFor("Apply complete!")
	p.run(chromedp.Click(chromedp.ID("show-resources")))
	if got := p.waitFor(`<li class="ch-create">`); !strings.Contains(got, "terraform_data.x") || !strings.Contains(got, `id="run-status"`) {
		t.Error("the changes per resource lack terraform_data.x, or replaced the run's page instead of joining it")
	}

	// The credentials each phase received, from the audit log: a workload
	// identity token for AWS's audience, by phase, never the token.
	creds := value(p, chromedp.Text(chromedp.CSS("table.creds")))
	for _, want := range []string{"plan", "apply", "workload identity token", "aws.workload.identity"} {
		if !strings.Contains(creds, want) {
			t.Errorf("the run's credentials lack %q:\n%s", want, creds)
		}
	}

	// The variable's provenance on the workspace page.
	p.run(chromedp.Navigate(base + "/app/orgs/acme/workspaces/prod"))
	p.waitFor("owner")
	row := value(p, chromedp.Text(chromedp.CSS("#var-owner .provenance")))
	if !strings.Contains(row, "team") || !strings.Contains(row, "platform") {
		t.Errorf("the team-written variable's provenance reads %q", row)
	}

	// The run's audit records, through the filter form.
	p.run(chromedp.Navigate(base+"/app/audit"), chromedp.SetValue(chromedp.CSS(`input[name="run"]`), r.ID),
		chromedp.Submit(chromedp.CSS(`input[name="run"]`)))
	audit := p.waitFor("platform.run.apply")
	for _, want := range []string{"platform.run.claim", "platform.apply.finish", "Chain verified"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the run's audit page lacks %s", want)
		}
	}
	// At phone width the pages still render (no horizontal page overflow).
	p.run(chromedp.EmulateViewport(375, 800), chromedp.Navigate(base+"/app/runs/"+r.ID))
	p.waitFor("Run #")
	if value(p, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
		t.Error("the run page overflows a phone's width")
	}
	p.html()
	for _, s := range p.seen {
		// "eyJhbGciOi" starts every JWT runcred signs (a JOSE header).
		for _, secret := range []string{canary, f.srv.Token, tt.Token, f.readOnlyTeamTok, "eyJhbGciOi"} {
			if strings.Contains(s, secret) {
				t.Fatalf("a page holds a secret (%.12s…)", secret)
			}
		}
	}
}

// startAgent runs an in-process agent with real OpenTofu until the test ends.
func startAgent(t *testing.T, srv *daemontest.Server, hooks, work string) {
	t.Helper()
	bin, mirror := tools.OpenTofu(t)
	ctx := context.Background()
	tok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Server: srv.D.URL(), Token: tok, Binary: bin, ProviderMirror: mirror, HooksDir: hooks, WorkDir: work,
		Poll: 50 * time.Millisecond, Watch: 200 * time.Millisecond, Flush: 50 * time.Millisecond, Concurrency: 2,
		Secrets: []secret.Value{secret.FromString(srv.Token)}})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
}

// release lets the held pre-plan hook go on: it waits for a file in its
// run directory, the only place a sandboxed hook sees.
func release(t *testing.T, work string) {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(work, "runcred-run-*", "config"))
	if err != nil || len(m) != 1 {
		t.Fatalf("run directories: %v, %v", m, err)
	}
	if err := os.WriteFile(filepath.Join(m[0], "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}
