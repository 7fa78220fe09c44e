package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// BenchmarkRunPage50k opens the run page of a plan whose log has 50,000
// lines (target: under a second), next to its baseline in the same run:
// reading that log from the database through the run service, as the
// API's log URL does.
func BenchmarkRunPage50k(b *testing.B) {
	srv := daemontest.Start(b, nil)
	ctx := context.Background()
	root, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")}); err != nil {
		b.Fatal(err)
	}
	ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("prod")})
	if err != nil {
		b.Fatal(err)
	}
	cv, err := root.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := writeFile(dir, "main.tf", `resource "terraform_data" "x" {}`); err != nil {
		b.Fatal(err)
	}
	if err := root.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		b.Fatal(err)
	}
	run, err := root.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
	if err != nil {
		b.Fatal(err)
	}
	// Act as the agent: claim the plan and send 50,000 coloured lines.
	agentTok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	api := &jobapi.Client{Server: srv.D.URL(), HTTP: http.DefaultClient}
	job, err := api.Claim(ctx, agentTok, "", 0)
	if err != nil || job == nil {
		b.Fatalf("claim: %v, %v", job, err)
	}
	jc := api.For(job)
	var chunk strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&chunk, "\x1b[32m  + resource \"terraform_data\" \"x%d\" {\x1b[0m id = (known after apply) }\n", i)
		if chunk.Len() > 512<<10 || i == 49999 {
			if err := jc.AppendLog(ctx, []byte(chunk.String())); err != nil {
				b.Fatal(err)
			}
			chunk.Reset()
		}
	}

	hc := srv.HTTPClient(b)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", srv.D.URL()+"/app/sign-in", strings.NewReader(url.Values{"token": {srv.Token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.D.URL())
	resp, err := hc.Do(req)
	if err != nil || len(resp.Cookies()) != 1 {
		b.Fatalf("sign-in: %v", err)
	}
	resp.Body.Close()
	cookie := resp.Cookies()[0]
	caller, err := srv.D.Broker.Caller(ctx, secret.FromString(srv.Token), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		b.Fatal(err)
	}
	rootCtx := access.WithCaller(ctx, caller)

	b.Run("baseline-read-log-from-db", func(b *testing.B) {
		for b.Loop() {
			pv, err := srv.D.Platform.Runs.PlanOrApply(rootCtx, run.Plan.ID)
			if err != nil {
				b.Fatal(err)
			}
			c, err := srv.D.Platform.Runs.ReadSigned(rootCtx, pv.LogToken)
			if err != nil || strings.Count(string(c.Data), "\n") != 50000 {
				b.Fatalf("log: %d lines, %v", strings.Count(string(c.Data), "\n"), err)
			}
		}
	})
	b.Run("run-page", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequest("GET", srv.D.URL()+"/app/runs/"+run.ID, nil)
			req.AddCookie(cookie)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `x49999`) {
				b.Fatalf("run page: %d, %d bytes", resp.StatusCode, len(body))
			}
		}
	})
}

// BenchmarkIdleFollowers: 50 browsers follow the live stream of a run that
// waits (queued, no agent); the metric is the server process's CPU time
// over a 10 s window as a percentage of one core (target: under 5%), next
// to the same server's over 10 s without followers.
// The server runs in this process; the followers' readers receive nothing
// while the run waits, so what is measured is the server's polling.
func BenchmarkIdleFollowers(b *testing.B) {
	srv := daemontest.Start(b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")}); err != nil {
		b.Fatal(err)
	}
	ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("prod")})
	if err != nil {
		b.Fatal(err)
	}
	cv, err := root.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := writeFile(dir, "main.tf", `resource "terraform_data" "x" {}`); err != nil {
		b.Fatal(err)
	}
	if err := root.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		b.Fatal(err)
	}
	run, err := root.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
	if err != nil {
		b.Fatal(err)
	}
	hc := srv.HTTPClient(b)
	hc.Timeout = 0
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", srv.D.URL()+"/app/sign-in", strings.NewReader(url.Values{"token": {srv.Token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.D.URL())
	resp, err := hc.Do(req)
	if err != nil || len(resp.Cookies()) != 1 {
		b.Fatalf("sign-in: %v", err)
	}
	resp.Body.Close()
	cookie := resp.Cookies()[0]
	// The baseline, in the same run: the same server with no follower.
	before, wall := cpuTime(), time.Now()
	time.Sleep(10 * time.Second) // the measurement window
	baseline := 100 * (cpuTime() - before).Seconds() / time.Since(wall).Seconds()
	started := make(chan struct{}, 50)
	for range 50 {
		go func() {
			// Like EventSource: reconnect whenever the server ends a stream.
			for first := true; ctx.Err() == nil; first = false {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.D.URL()+"/app/runs/"+run.ID+"/events", nil)
				req.AddCookie(cookie)
				resp, err := hc.Do(req)
				if err != nil {
					return
				}
				buf := make([]byte, 4096)
				n, _ := resp.Body.Read(buf) // the retry line and the first status
				if first && n > 0 {
					started <- struct{}{}
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
		}()
	}
	for range 50 {
		select {
		case <-started:
		case <-time.After(time.Minute):
			b.Fatal("the followers did not all connect")
		}
	}
	for b.Loop() {
		before, wall := cpuTime(), time.Now()
		time.Sleep(10 * time.Second) // the measurement window
		used, elapsed := cpuTime()-before, time.Since(wall)
		b.ReportMetric(100*used.Seconds()/elapsed.Seconds(), "cpu-%-of-core")
		b.ReportMetric(baseline, "baseline-cpu-%-no-follower")
	}
}
