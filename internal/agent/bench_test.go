package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/peers/tools"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/agent/creds"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/peers/minio"
)

// What `make bench` compares: the wall time of a plan run through runcred
// (run created with go-tfe → claimed by the agent → configuration unpacked,
// `tofu init/plan/show -json` in a fresh run directory → plan, JSON plan and
// log uploaded → the run's planned_and_finished timestamp) against a bare
// `tofu init/plan/show -json` of the same configuration with the same
// provider mirror, measured in the same process. Neither run uses cloud
// credentials; their exchange is measured apart (BenchmarkManagedPlanAWSDirect
// and BenchmarkAWSDirectExchange).

const (
	// benchReadPoll bounds the wait between two reads of the run's status.
	// The benchmark reads it when the run service says a run may have
	// moved (JobsChanged: queued, or a phase ended), not on a timer: the
	// managed time ends at the finished status's timestamp, which no read
	// delays, and on a 2-core machine reading every 20 ms (about 0.3 ms of
	// CPU each) made OpenTofu's own commands in the managed plan 20–40 ms
	// slower than the bare ones.
	benchReadPoll  = time.Second
	benchResources = 9 // what benchConfig plans to add
)

// benchConfig is a small, ordinary root module: a few variables, one
// provider from the mirror, random names and terraform_data "instances".
var benchConfig = map[string]string{
	"versions.tf": `terraform {
  required_version = ">= 1.6"
  required_providers {
    random = { source = "hashicorp/random" }
  }
}
`,
	"variables.tf": `variable "name" { type = string }
variable "environment" { type = string }
variable "instance_count" { type = number }
variable "tags" { type = map(string) }
variable "db_password" {
  type      = string
  sensitive = true
}

# Set by runcred when the workspace uses AWS dynamic credentials.
variable "tfc_aws_dynamic_credentials" {
  type = object({
    default = object({ shared_config_file = string })
    aliases = map(object({ shared_config_file = string }))
  })
  default = null
}
`,
	"main.tf": `resource "random_pet" "name" { prefix = var.name }
resource "random_id" "suffix" { byte_length = 4 }
resource "random_password" "admin" { length = 24 }
resource "random_integer" "port" {
  min = 20000
  max = 30000
}

resource "terraform_data" "instance" {
  count = var.instance_count
  input = {
    name = "${random_pet.name.id}-${count.index}-${random_id.suffix.hex}"
    env  = var.environment
    tags = merge(var.tags, { index = tostring(count.index) })
  }
}

resource "terraform_data" "db" {
  input = {
    port         = random_integer.port.result
    password_len = nonsensitive(length(var.db_password))
  }
}
`,
	"outputs.tf": `output "instances" { value = terraform_data.instance[*].id }
output "port" { value = random_integer.port.result }
output "aws_dynamic_credentials" { value = var.tfc_aws_dynamic_credentials != null }
`,
}

// benchVars are the workspace's Terraform variables; the bare plan gets the
// same values from a tfvars file.
var benchVars = map[string]any{
	"name": "bench", "environment": "staging", "instance_count": 4,
	"tags":        map[string]string{"team": "platform", "cost_center": "cc-123"},
	"db_password": "bench-secret-value-4711",
}

func writeTree(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// cliConfigJSON is the CLI configuration phase writes: the mirror for
// hashicorp/*, nothing from the network.
func cliConfigJSON(tb testing.TB, mirror string) []byte {
	b, err := json.Marshal(map[string]any{"provider_installation": map[string]any{
		"filesystem_mirror": []any{map[string]any{"path": mirror,
			"include": []string{"registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"}}},
		"direct": []any{map[string]any{"exclude": []string{"registry.opentofu.org/*/*", "registry.terraform.io/*/*"}}},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// planSummary is what both benchmarks check of the JSON plan.
func planSummary(tb testing.TB, planJSON []byte) (creates int, awsCreds bool) {
	tb.Helper()
	var p struct {
		ResourceChanges []struct {
			Change struct{ Actions []string } `json:"change"`
		} `json:"resource_changes"`
		PlannedValues struct {
			Outputs map[string]struct{ Value any } `json:"outputs"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal(planJSON, &p); err != nil {
		tb.Fatalf("JSON plan: %v\n%.500s", err, planJSON)
	}
	for _, rc := range p.ResourceChanges {
		if slices.Equal(rc.Change.Actions, []string{"create"}) {
			creates++
		}
	}
	return creates, p.PlannedValues.Outputs["aws_dynamic_credentials"].Value == true
}

// barePlanner plans benchConfig the way a person would by hand.
type barePlanner struct {
	bin, src, root string
	vars, cliCfg   []byte
}

func newBare(b *testing.B) *barePlanner {
	bin, mirror := tools.OpenTofu(b)
	p := &barePlanner{bin: bin, src: b.TempDir(), root: b.TempDir(), cliCfg: cliConfigJSON(b, mirror)}
	writeTree(b, p.src, benchConfig)
	var err error
	if p.vars, err = json.Marshal(benchVars); err != nil {
		b.Fatal(err)
	}
	return p
}

// bareSteps are the times of a bare plan's steps: copy (fresh directory,
// configuration, variables, CLI configuration), init, plan, show; and the
// directory's removal.
type bareSteps [5]time.Duration

func (s bareSteps) total() (t time.Duration) {
	for _, d := range s {
		t += d
	}
	return t
}

// plan copies the configuration into a fresh directory, points OpenTofu at
// the same provider mirror as phase does (TF_CLI_CONFIG_FILE), and runs
// init, plan to a file, show -json of it; then removes the directory.
func (p *barePlanner) plan(b *testing.B) (bareSteps, []byte) {
	var st bareSteps
	t0 := time.Now()
	dir, err := os.MkdirTemp(p.root, "plan-")
	if err != nil {
		b.Fatal(err)
	}
	work := filepath.Join(dir, "config")
	if err := os.CopyFS(work, os.DirFS(p.src)); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "bench.auto.tfvars.json"), p.vars, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cli.tfrc"), p.cliCfg, 0o600); err != nil {
		b.Fatal(err)
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "TF_CLI_CONFIG_FILE=" + filepath.Join(dir, "cli.tfrc"),
		"TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1"}
	tofu := func(args ...string) []byte {
		var out, errOut bytes.Buffer
		cmd := exec.Command(p.bin, args...)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = work, env, &out, &errOut
		if err := cmd.Run(); err != nil {
			b.Fatalf("tofu %s: %v\n%s%s", args[0], err, out.Bytes(), errOut.Bytes())
		}
		return out.Bytes()
	}
	t1 := time.Now()
	tofu("init", "-input=false", "-no-color")
	t2 := time.Now()
	tofu("plan", "-input=false", "-no-color", "-out="+filepath.Join(dir, "plan.tfplan"))
	t3 := time.Now()
	planJSON := tofu("show", "-json", "-no-color", filepath.Join(dir, "plan.tfplan"))
	t4 := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	st[0], st[1], st[2], st[3], st[4] = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), time.Since(t4)
	return st, planJSON
}

func checkBarePlan(b *testing.B, planJSON []byte) {
	if n, aws := planSummary(b, planJSON); n != benchResources || aws {
		b.Fatalf("bare plan: %d to create (want %d), AWS credentials %v", n, benchResources, aws)
	}
}

// BenchmarkBarePlan is what a person would run by hand for the same
// result as BenchmarkManagedPlan.
func BenchmarkBarePlan(b *testing.B) {
	p := newBare(b)
	var sum bareSteps
	var planJSON []byte
	for b.Loop() {
		var st bareSteps
		st, planJSON = p.plan(b)
		for i := range st {
			sum[i] += st[i]
		}
	}
	checkBarePlan(b, planJSON)
	for i, name := range []string{"copy-ms", "init-ms", "plan-ms", "show-ms", "rm-ms"} {
		b.ReportMetric(ms(sum[i])/float64(b.N), name)
	}
}

// BenchmarkManagedPlan is the same configuration and variables planned by
// runcred: a plan-only run created through go-tfe, timed until the API says
// planned_and_finished.
func BenchmarkManagedPlan(b *testing.B) {
	benchManaged(b, newManaged(b, nil))
}

// BenchmarkManagedPlanAWSDirect is BenchmarkManagedPlan in a workspace with
// AWS dynamic credentials (TFC_AWS_PROVIDER_AUTH): each phase mints a token
// over the job API and writes the token and shared-config files. The
// configuration makes no AWS call, so no STS exchange happens in the run;
// BenchmarkAWSDirectExchange times that exchange against MinIO.
func BenchmarkManagedPlanAWSDirect(b *testing.B) {
	benchManaged(b, newManaged(b, map[string]string{"TFC_AWS_PROVIDER_AUTH": "true",
		"TFC_AWS_PLAN_ROLE_ARN": "arn:aws:iam::123456789012:role/bench-plan"}))
}

// BenchmarkPlanPaired alternates a bare and a managed plan in every
// iteration (in turn first), so both see the same load on the machine: on
// a shared host, separate benchmarks minutes apart can differ more than the
// overhead measured. ns/op is the pair's.
func BenchmarkPlanPaired(b *testing.B) {
	bare, m := newBare(b), newManaged(b, nil)
	var bareSum, mSum time.Duration
	var ratios []float64
	var planJSON []byte
	i := 0
	for b.Loop() {
		var st bareSteps
		var took time.Duration
		if i%2 == 0 {
			st, planJSON = bare.plan(b)
			took, _ = m.plan(b)
		} else {
			took, _ = m.plan(b)
			st, planJSON = bare.plan(b)
		}
		i++
		bareSum += st.total()
		mSum += took
		ratios = append(ratios, float64(took)/float64(st.total()))
	}
	checkBarePlan(b, planJSON)
	m.check(b)
	slices.Sort(ratios)
	b.ReportMetric(ms(bareSum)/float64(b.N), "bare-ms")
	b.ReportMetric(ms(mSum)/float64(b.N), "managed-ms")
	b.ReportMetric(float64(mSum)/float64(bareSum), "ratio")
	b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
}

// benchServer is a runcred server with organization "demo" and a go-tfe
// client with its root token.
func benchServer(b *testing.B) (*daemontest.Server, *tfe.Client) {
	srv := daemontest.Start(b, nil)
	c, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Organizations.Create(context.Background(), tfe.OrganizationCreateOptions{
		Name: tfe.String("demo"), Email: tfe.String("ops@example.com")}); err != nil {
		b.Fatal(err)
	}
	return srv, c
}

// benchWorkspace creates a workspace with benchVars, env as environment
// variables, and benchConfig uploaded as its configuration.
func benchWorkspace(b *testing.B, c *tfe.Client, name string, env map[string]string) *tfe.Workspace {
	ctx := context.Background()
	ws, err := c.Workspaces.Create(ctx, "demo", tfe.WorkspaceCreateOptions{Name: tfe.String(name)})
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range benchVars {
		opts := tfe.VariableCreateOptions{Key: tfe.String(k), Category: tfe.Category(tfe.CategoryTerraform),
			Sensitive: tfe.Bool(k == "db_password")}
		switch v := v.(type) {
		case string:
			opts.Value = tfe.String(v)
		default:
			hcl, err := json.Marshal(v) // JSON objects and numbers are HCL
			if err != nil {
				b.Fatal(err)
			}
			opts.Value, opts.HCL = tfe.String(string(hcl)), tfe.Bool(true)
		}
		if _, err := c.Variables.Create(ctx, ws.ID, opts); err != nil {
			b.Fatalf("variable %s: %v", k, err)
		}
	}
	for k, v := range env {
		if _, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String(k), Value: tfe.String(v),
			Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
			b.Fatalf("variable %s: %v", k, err)
		}
	}
	dir := b.TempDir()
	writeTree(b, dir, benchConfig)
	cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		b.Fatal(err)
	}
	return ws
}

// agentLog collects what the agent logs: the duration of each phase (from
// its claim to the server's acknowledgement of its end) and any warning.
type agentLog struct {
	mu    sync.Mutex
	took  []time.Duration
	warns []string
}

func (l *agentLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *agentLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *agentLog) WithGroup(string) slog.Handler            { return l }
func (l *agentLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		l.warns = append(l.warns, r.Message)
	}
	if r.Message == "phase finished" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "took" {
				l.took = append(l.took, a.Value.Duration())
			}
			return true
		})
	}
	return nil
}

// jobCalls times the agent's calls to the job API by kind: inputs,
// identity, logs, plan-file, plan-json, finish. Claims (long polls, whose
// wait the run's timestamps measure) and the cancellation watch's status
// reads are left out.
type jobCalls struct {
	next http.RoundTripper
	mu   sync.Mutex
	sum  map[string]time.Duration
}

func (j *jobCalls) RoundTrip(r *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := j.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	kind := filepath.Base(r.URL.Path)
	switch {
	case kind == "jobs":
		// A claim waits on the server until a run is queued (long poll):
		// its time is the claim wait, which the run's timestamps measure.
		return resp, nil
	case r.Method == http.MethodGet && kind != "inputs":
		return resp, nil
	}
	// The body is read by the caller; the time to the response headers is
	// the server's work on these small requests.
	j.mu.Lock()
	j.sum[kind] += time.Since(t0)
	j.mu.Unlock()
	return resp, nil
}

func (j *jobCalls) take() map[string]time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.sum
	j.sum = map[string]time.Duration{}
	return s
}

// managedPlanner plans benchConfig through runcred: a server, an agent
// waiting in a long-polled claim, a workspace with benchVars.
type managedPlanner struct {
	c       *tfe.Client
	changed func() <-chan struct{} // the run service's JobsChanged
	ws      *tfe.Workspace
	aws     bool
	log     *agentLog
	calls   *jobCalls
	last    *tfe.Run
	// wrapperCost is what the tracing wrapper adds to a command, outside
	// the times it records.
	wrapperCost time.Duration
	trace       string // file the traced tofu appends "<command> <start ns> <end ns>" lines to; "" untraced
	// Sums over the runs: to the finished status's timestamp, to the poll
	// that saw it; plan_queued → planning (the claim), planning → finished.
	finished, polled, queued, planning time.Duration
}

func newManaged(b *testing.B, env map[string]string) *managedPlanner {
	return startManaged(b, env, false)
}

// tracer is a wrapper around tofu that records when each command started
// and ended. It costs a shell and two date(1) per command, which fall
// outside the times it records.
const tracer = `#!/bin/sh
s=$(date +%%s%%N)
%q "$@"
rc=$?
echo "$1 $s $(date +%%s%%N)" >> %q
exit $rc
`

func startManaged(b *testing.B, env map[string]string, trace bool) *managedPlanner {
	bin, mirror := tools.OpenTofu(b)
	srv, c := benchServer(b)
	ctx := context.Background()
	m := &managedPlanner{c: c, changed: srv.D.Platform.Runs.JobsChanged, ws: benchWorkspace(b, c, "bench", env), aws: env != nil, log: &agentLog{},
		calls: &jobCalls{next: http.DefaultTransport, sum: map[string]time.Duration{}}}
	tok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	workRoot := b.TempDir()
	if trace {
		dir := b.TempDir()
		m.trace = filepath.Join(dir, "trace")
		wrapper := filepath.Join(dir, "tofu")
		if err := os.WriteFile(wrapper, fmt.Appendf(nil, tracer, bin, m.trace), 0o755); err != nil {
			b.Fatal(err)
		}
		bin = wrapper
		// The median of a few runs of `tofu version`, in the phase's bare
		// environment.
		var costs []time.Duration
		for range 9 {
			cmd := exec.Command(wrapper, "version")
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "CHECKPOINT_DISABLE=1"}
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s version: %v\n%s", wrapper, err, out)
			}
			costs = append(costs, time.Since(t0)-m.steps(b)["version"])
		}
		slices.Sort(costs)
		m.wrapperCost = costs[len(costs)/2]
	}
	// The tracing wrapper runs the real binary and writes its trace outside
	// the run directory, which the run sandbox does not allow: the
	// breakdown runs without it (BenchmarkSandboxStart in the phase package
	// measures the sandbox's own cost).
	// RUNCRED_BENCH_ISOLATION=none measures the managed plan without the
	// sandbox, for comparison.
	isolation := agent.Isolation(os.Getenv("RUNCRED_BENCH_ISOLATION"))
	if trace {
		isolation = agent.IsolationNone
	}
	// Watch and Flush are the defaults: neither is on the critical path
	// (the log's last chunk is sent when the phase ends).
	a, err := agent.New(agent.Config{Server: srv.D.URL(), Token: tok, Binary: bin, ProviderMirror: mirror,
		WorkDir: workRoot, Logger: slog.New(m.log), // default claim: a 20 s long poll
		HTTPClient: &http.Client{Timeout: time.Minute, Transport: m.calls}, Isolation: isolation})
	if err != nil {
		b.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("agent: %v", err)
		}
		if ents, _ := os.ReadDir(workRoot); len(ents) != 0 {
			b.Errorf("run directories left behind: %v", ents)
		}
	})
	return m
}

// plan creates a plan-only run and waits until the API reports it
// planned_and_finished. It returns the time from just before the run's
// creation to the finished status's timestamp (same clock: the server runs
// in this process), which reading it does not delay; polled is the time
// until a read saw it. The agent waits in a long-polled claim, as by default,
// so a run is claimed as soon as it is queued.
func (m *managedPlanner) plan(b *testing.B) (finished time.Duration, r *tfe.Run) {
	ctx := context.Background()
	t0 := time.Now()
	r, err := m.c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: m.ws, PlanOnly: tfe.Bool(true), Message: tfe.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	for !terminal[r.Status] {
		changed := m.changed() // before the read, so no change is missed
		if r, err = m.c.Runs.Read(ctx, r.ID); err != nil {
			b.Fatal(err)
		}
		if terminal[r.Status] {
			break
		}
		t := time.NewTimer(benchReadPoll)
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
	m.polled += time.Since(t0)
	if r.Status != tfe.RunPlannedAndFinished {
		m.log.mu.Lock()
		defer m.log.mu.Unlock()
		b.Fatalf("run %s ended %s, want planned_and_finished; agent: %v", r.ID, r.Status, m.log.warns)
	}
	ts := r.StatusTimestamps
	if ts == nil || ts.PlanQueuedAt.IsZero() || ts.PlanningAt.IsZero() || ts.PlannedAndFinishedAt.IsZero() {
		b.Fatalf("run %s has no status timestamps: %+v", r.ID, ts)
	}
	finished = ts.PlannedAndFinishedAt.Sub(t0)
	m.finished += finished
	m.queued += ts.PlanningAt.Sub(ts.PlanQueuedAt)
	m.planning += ts.PlannedAndFinishedAt.Sub(ts.PlanningAt)
	m.last = r
	return finished, r
}

// check reads the last run's JSON plan: all resources to create, and the
// AWS credential variable set exactly when the workspace asks for it.
func (m *managedPlanner) check(b *testing.B) {
	pj, err := m.c.Plans.ReadJSONOutput(context.Background(), m.last.Plan.ID)
	if err != nil {
		b.Fatal(err)
	}
	if n, aws := planSummary(b, pj); n != benchResources || aws != m.aws {
		b.Fatalf("managed plan: %d to create (want %d), AWS credentials %v (want %v)", n, benchResources, aws, m.aws)
	}
}

// phases waits until the agent has logged n finished phases (it logs one
// after the server acknowledged it) and returns their total duration.
func (m *managedPlanner) phases(b *testing.B, n int) time.Duration {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m.log.mu.Lock()
		took := slices.Clone(m.log.took)
		m.log.mu.Unlock()
		if len(took) >= n {
			var s time.Duration
			for _, d := range took {
				s += d
			}
			return s
		}
		if time.Now().After(deadline) {
			b.Fatalf("the agent logged %d finished phases for %d runs", len(took), n)
		}
	}
}

func benchManaged(b *testing.B, m *managedPlanner) {
	m.calls.take() // workspace setup
	for b.Loop() {
		m.plan(b)
	}
	b.StopTimer()
	m.check(b)
	n := float64(b.N)
	// ns/op is the polled time.
	b.ReportMetric(ms(m.finished)/n, "finished-ms")
	b.ReportMetric(ms(m.queued)/n, "queued-ms")
	b.ReportMetric(ms(m.planning)/n, "planning-ms")
	b.ReportMetric(ms(m.phases(b, b.N))/n, "agent-ms")
	for kind, d := range m.calls.take() {
		b.ReportMetric(ms(d)/n, "api-"+kind+"-ms")
	}
}

// steps reads and empties the trace: the time of each tofu command.
func (m *managedPlanner) steps(b *testing.B) map[string]time.Duration {
	raw, err := os.ReadFile(m.trace)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(m.trace, 0); err != nil {
		b.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var cmd string
		var start, end int64
		if _, err := fmt.Sscan(line, &cmd, &start, &end); err != nil {
			b.Fatalf("trace line %q: %v", line, err)
		}
		out[cmd] += time.Duration(end - start)
	}
	return out
}

// BenchmarkPlanBreakdown is BenchmarkPlanPaired with OpenTofu's commands
// timed inside the managed run too, through a wrapper, to tell where the
// managed time goes: the wait for a claim (queued), OpenTofu's commands
// (managed-init/plan/show, against the bare ones), and the agent's own work
// (agent-other: the agent's phase time less its tofu commands and less the
// wrapper's measured cost; api is the part of it spent in job API calls).
// handoff is the rest: the run's creation and the step from the
// claim's status change to the agent's start.
func BenchmarkPlanBreakdown(b *testing.B) {
	bare, m := newBare(b), startManaged(b, nil, true)
	m.calls.take()
	var bs bareSteps
	tofuSteps := map[string]time.Duration{}
	i := 0
	for b.Loop() {
		var st bareSteps
		if i%2 == 0 {
			st, _ = bare.plan(b)
			m.plan(b)
		} else {
			m.plan(b)
			st, _ = bare.plan(b)
		}
		i++
		for k := range st {
			bs[k] += st[k]
		}
		for k, d := range m.steps(b) {
			tofuSteps[k] += d
		}
	}
	m.check(b)
	n := float64(b.N)
	for i, name := range []string{"bare-copy-ms", "bare-init-ms", "bare-plan-ms", "bare-show-ms", "bare-rm-ms"} {
		b.ReportMetric(ms(bs[i])/n, name)
	}
	b.ReportMetric(ms(bs.total())/n, "bare-ms")
	var tofu time.Duration
	for _, k := range []string{"init", "plan", "show"} {
		b.ReportMetric(ms(tofuSteps[k])/n, "managed-"+k+"-ms")
		tofu += tofuSteps[k]
	}
	agentTime := m.phases(b, b.N)
	var api time.Duration
	for _, d := range m.calls.take() {
		api += d
	}
	b.ReportMetric(ms(m.finished)/n, "managed-ms")
	b.ReportMetric(ms(m.queued)/n, "queued-ms")
	b.ReportMetric(ms(agentTime)/n, "agent-ms")
	b.ReportMetric(ms(m.wrapperCost)*3, "wrapper-ms")
	b.ReportMetric(ms(agentTime-tofu)/n-ms(m.wrapperCost)*3, "agent-other-ms")
	b.ReportMetric(ms(api)/n, "api-ms")
	b.ReportMetric(ms(m.finished-m.queued-agentTime)/n, "handoff-ms")
}

// BenchmarkAWSDirectExchange times the credential exchange of a phase with
// AWS direct credentials, in its two parts: what the agent does before
// OpenTofu starts (creds.Prepare: a token minted over the job API with the
// phase's job token, the token and shared-config files written; then
// Close), and what the AWS SDK in OpenTofu then does on its first AWS call
// (AssumeRoleWithWebIdentity with that token, here against MinIO, which
// verifies it with runcred's published keys).
func BenchmarkAWSDirectExchange(b *testing.B) {
	srv, c := benchServer(b)
	ctx := context.Background()
	m := minio.Start(b, minio.Options{
		OpenID:   []minio.OpenID{{ConfigURL: srv.D.PublicURL() + "/.well-known/openid-configuration", ClientID: "aws.workload.identity", RolePolicy: "runs"}},
		Policies: map[string]string{"runs": runsPolicy}, Buckets: []string{"tfstate"},
	})
	arn := m.RoleARNs[""]
	ws := benchWorkspace(b, c, "bench-aws", nil)
	if _, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, PlanOnly: tfe.Bool(true)}); err != nil {
		b.Fatal(err)
	}
	// No agent runs: the benchmark claims the phase itself.
	tok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	jc := &jobapi.Client{Server: srv.D.URL(), HTTP: &http.Client{Timeout: time.Minute}}
	job, err := jc.Claim(ctx, tok, "", 0)
	if err != nil || job == nil {
		b.Fatalf("claim = %v, %v", job, err)
	}
	ph := jc.For(job)
	b.Cleanup(func() { _ = ph.Finish(context.Background(), jobapi.Finish{Errored: true, Message: "benchmark over"}) })
	run := creds.Run{ID: job.RunID, Organization: job.Organization, Project: job.Project, Workspace: job.Workspace,
		WorkspaceID: job.WorkspaceID, Phase: jobapi.Plan}
	env := map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_PLAN_ROLE_ARN": arn}
	root := b.TempDir()

	b.Run("prepare", func(b *testing.B) {
		for b.Loop() {
			dir, err := os.MkdirTemp(root, "run-")
			if err != nil {
				b.Fatal(err)
			}
			cr, err := creds.Prepare(ctx, creds.Config{Dir: dir, Env: env, Run: run, Minter: ph})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := os.Stat(cr.Env["AWS_WEB_IDENTITY_TOKEN_FILE"]); err != nil {
				b.Fatalf("no token file: %v", err)
			}
			if err := cr.Close(ctx); err != nil {
				b.Fatal(err)
			}
			if err := os.Remove(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	jwt, err := ph.Mint(ctx, "aws.workload.identity")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sts", func(b *testing.B) {
		for b.Loop() {
			cred, err := m.AssumeRoleWithWebIdentity(ctx, arn, jwt.RevealString(), 900)
			if err != nil || cred.AccessKeyID == "" {
				b.Fatalf("AssumeRoleWithWebIdentity = %v, %v", cred.AccessKeyID, err)
			}
		}
	})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
