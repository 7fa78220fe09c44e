package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/tools"
)

// cliBenchLoad is the number of terraform_data instances BenchmarkCLIPlan
// adds to the plan benchmark's configuration.
const cliBenchLoad = 2500

// BenchmarkCLIPlan is what `make bench` reports for CLI-driven runs: the
// wall time of `tofu plan` in a directory whose cloud block names runcred
// (upload, run creation, queueing, the plan on an agent, the log streamed
// back, as the CLI polls for them) against `tofu plan` of the same
// configuration and variables with the local backend, both initialized
// beforehand, alternating in every iteration so both see the same load.
// The agent runs with its defaults (long-poll claims, 250 ms log flushes).
// The configuration is the plan benchmark's, plus cliBenchLoad instances of
// terraform_data, which bring a bare plan to about a second here.
func BenchmarkCLIPlan(b *testing.B) {
	bin, mirror := tools.OpenTofu(b)
	srv := daemontest.Start(b, daemontest.TLS(b))
	ctx := context.Background()
	c, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false, HTTPClient: srv.HTTPClient(b)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("demo"), Email: tfe.String("ops@example.com")}); err != nil {
		b.Fatal(err)
	}
	benchWorkspace(b, c, "bench", nil)
	tok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	a, err := agent.New(agent.Config{Server: srv.D.URL(), Token: tok, Binary: bin, ProviderMirror: mirror, WorkDir: b.TempDir(),
		HTTPClient: srv.HTTPClient(b)})
	if err != nil {
		b.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	b.Cleanup(func() { cancel(); <-done })

	host := strings.TrimPrefix(srv.D.URL(), "https://")
	home := b.TempDir()
	cfg, err := json.Marshal(map[string]any{
		"provider_installation": map[string]any{
			"filesystem_mirror": []any{map[string]any{"path": mirror, "include": []string{"registry.opentofu.org/hashicorp/*"}}},
			"direct":            []any{map[string]any{"exclude": []string{"registry.opentofu.org/*/*"}}},
		},
		"credentials": map[string]any{host: map[string]any{"token": srv.Token}},
	})
	if err != nil {
		b.Fatal(err)
	}
	writeTree(b, home, map[string]string{"cli.tfrc.json": string(cfg)})
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TF_CLI_CONFIG_FILE=" + filepath.Join(home, "cli.tfrc.json"),
		"TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "SSL_CERT_FILE=" + srv.CAFile()}
	vars, err := json.Marshal(benchVars)
	if err != nil {
		b.Fatal(err)
	}
	bare, cloud := b.TempDir(), b.TempDir()
	load := map[string]string{"load.tf": fmt.Sprintf(`resource "terraform_data" "load" {
  count = %d
  input = "${var.name}-${count.index}"
}
`, cliBenchLoad)}
	writeTree(b, bare, benchConfig)
	writeTree(b, bare, load)
	writeTree(b, bare, map[string]string{"terraform.tfvars.json": string(vars)})
	writeTree(b, cloud, benchConfig)
	writeTree(b, cloud, load)
	writeTree(b, cloud, map[string]string{"cloud_override.tf": `terraform {
  cloud {
    hostname     = "` + host + `"
    organization = "demo"
    workspaces { name = "bench" }
  }
}
`})
	plan := func(dir string, args ...string) time.Duration {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(t0)
		if err != nil || (args[0] == "plan" && !strings.Contains(string(out), fmt.Sprintf("Plan: %d to add, 0 to change, 0 to destroy.", benchResources+cliBenchLoad))) {
			b.Fatalf("tofu %s in %s: %v\n%s", args[0], dir, err, out)
		}
		return took
	}
	plan(bare, "init", "-input=false", "-no-color")
	plan(cloud, "init", "-input=false", "-no-color")

	var bareSum, cloudSum time.Duration
	var ratios []float64
	i := 0
	for b.Loop() {
		var tb, tc time.Duration
		if i%2 == 0 {
			tb, tc = plan(bare, "plan", "-input=false", "-no-color"), plan(cloud, "plan", "-input=false", "-no-color")
		} else {
			tc, tb = plan(cloud, "plan", "-input=false", "-no-color"), plan(bare, "plan", "-input=false", "-no-color")
		}
		i++
		bareSum += tb
		cloudSum += tc
		ratios = append(ratios, float64(tc)/float64(tb))
	}
	slices.Sort(ratios)
	b.ReportMetric(ms(bareSum)/float64(b.N), "bare-ms")
	b.ReportMetric(ms(cloudSum)/float64(b.N), "cloud-ms")
	b.ReportMetric(float64(cloudSum)/float64(bareSum), "ratio")
	b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
}
