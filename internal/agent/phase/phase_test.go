package phase

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/peers/tools"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// canary is the sensitive variable's value; it must never reach the log.
const canary = "canary-Zq8vR2xW7pLm"

// tmpRoot points os.MkdirTemp at a fresh directory so a test can check that
// Run left no run directory behind.
func tmpRoot(t *testing.T) string {
	d := t.TempDir()
	t.Setenv("TMPDIR", d)
	return d
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("run directory left behind in %s: %v", dir, ents)
	}
}

// logs collects Log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *logs) has(sub string) bool {
	return slices.ContainsFunc(l.all(), func(s string) bool { return strings.Contains(s, sub) })
}

func (l *logs) noneContain(t *testing.T, subs ...string) {
	t.Helper()
	for _, line := range l.all() {
		for _, s := range subs {
			if strings.Contains(line, s) {
				t.Errorf("log line contains %q: %q", s, line)
			}
		}
	}
}

func basicSpec(t testing.TB, ph jobapi.Phase, l *logs) Spec {
	bin, mirror := tools.OpenTofu(t)
	return Spec{
		Phase:          ph,
		Binary:         bin,
		ConfigDir:      filepath.Join("testdata", "basic"),
		TerraformVars:  map[string]any{"name": "canary-pet", "password": canary},
		Env:            map[string]string{"TFC_RUN_ID": "run-123"},
		ProviderMirror: mirror,
		Secrets:        []secret.Value{secret.FromString(canary)},
		Log:            l.add,
		Timeout:        2 * time.Minute,
	}
}

type planJSON struct {
	ResourceChanges []struct {
		Address string `json:"address"`
		Change  struct {
			Actions []string `json:"actions"`
		} `json:"change"`
	} `json:"resource_changes"`
	PlannedValues struct {
		Outputs map[string]struct {
			Value any `json:"value"`
		} `json:"outputs"`
	} `json:"planned_values"`
}

func decodePlan(t *testing.T, b []byte) planJSON {
	t.Helper()
	var p planJSON
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, b)
	}
	return p
}

func TestPlanThenApplySavedPlan(t *testing.T) {
	tmp := tmpRoot(t)
	var l logs

	start := time.Now()
	plan, err := Run(context.Background(), basicSpec(t, jobapi.Plan, &l))
	t.Logf("plan phase (init, plan, show) took %s", time.Since(start))
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, strings.Join(l.all(), "\n"))
	}
	assertEmpty(t, tmp)
	if len(plan.Plan) == 0 {
		t.Fatal("no saved plan")
	}
	p := decodePlan(t, plan.PlanJSON)
	var got []string
	for _, rc := range p.ResourceChanges {
		if !slices.Equal(rc.Change.Actions, []string{"create"}) {
			t.Errorf("%s: actions %v", rc.Address, rc.Change.Actions)
		}
		got = append(got, rc.Address)
	}
	slices.Sort(got)
	if want := []string{"random_pet.pet", "terraform_data.d", "time_static.t"}; !slices.Equal(got, want) {
		t.Errorf("planned resources %v, want %v", got, want)
	}
	if !l.has("Plan: 3 to add, 0 to change, 0 to destroy.") {
		t.Errorf("plan summary not logged:\n%s", strings.Join(l.all(), "\n"))
	}
	// The configuration prints the canary (nonsensitive): the plan shows
	// the output's change with the mask in its place.
	if !l.has(`+ password_shown = "` + Mask + `"`) {
		t.Errorf("plan did not log the masked output:\n%s", strings.Join(l.all(), "\n"))
	}

	as := basicSpec(t, jobapi.Apply, &l)
	as.PlanFile = plan.Plan
	start = time.Now()
	applied, err := Run(context.Background(), as)
	t.Logf("apply phase (init, apply, output) took %s", time.Since(start))
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, strings.Join(l.all(), "\n"))
	}
	assertEmpty(t, tmp)
	if !l.has("Apply complete! Resources: 3 added, 0 changed, 0 destroyed.") {
		t.Errorf("apply summary not logged:\n%s", strings.Join(l.all(), "\n"))
	}
	if !slices.Contains(l.all(), `password_shown = "`+Mask+`"`) {
		t.Errorf("apply did not log the masked output:\n%s", strings.Join(l.all(), "\n"))
	}
	var outs map[string]struct {
		Value     any  `json:"value"`
		Sensitive bool `json:"sensitive"`
	}
	if err := json.Unmarshal(applied.Outputs, &outs); err != nil {
		t.Fatalf("outputs: %v\n%s", err, applied.Outputs)
	}
	pet, _ := outs["pet"].Value.(string)
	if !strings.HasPrefix(pet, "canary-pet-") {
		t.Errorf("output pet = %q", pet)
	}
	if !outs["password"].Sensitive {
		t.Error("password output not marked sensitive")
	}
	if v := outs["password_shown"].Value; v != canary {
		t.Errorf("output password_shown = %v: the canary did not reach the run", v)
	}
	if !strings.Contains(string(applied.State), `"random_pet"`) || !strings.Contains(string(applied.State), pet) {
		t.Errorf("state lacks the applied pet %q", pet)
	}
	l.noneContain(t, canary)
}

func TestPreHookExportsReachPlanOnly(t *testing.T) {
	var l logs
	s := basicSpec(t, jobapi.Plan, &l)
	s.HooksDir = hooks(t, map[string]string{
		"terraform-pre-plan": `printf 'TF_VAR_x=from-hook\nnot a variable line\nHOME=/elsewhere\n# comment\n' >> "$TFC_AGENT_ENV"`,
		// Exports do not carry over to the post hook.
		"terraform-post-plan": `echo "post sees x=${TF_VAR_x:-nothing}"`,
	})
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, strings.Join(l.all(), "\n"))
	}
	if x := decodePlan(t, res.PlanJSON).PlannedValues.Outputs["x"].Value; x != "from-hook" {
		t.Errorf("output x = %v, want the pre hook's value", x)
	}
	for _, want := range []string{
		"Executing pre-plan hook...",
		"ignoring line 2 of $TFC_AGENT_ENV: not NAME=value",
		"ignoring line 3 of $TFC_AGENT_ENV: HOME is set by the agent",
		"post sees x=nothing",
	} {
		if !l.has(want) {
			t.Errorf("log lacks %q:\n%s", want, strings.Join(l.all(), "\n"))
		}
	}
}

func TestPostPlanRunsAfterFailedPlan(t *testing.T) {
	tmp := tmpRoot(t)
	marker := filepath.Join(t.TempDir(), "post-plan-ran")
	var l logs
	s := basicSpec(t, jobapi.Plan, &l)
	s.TerraformVars = nil // required variables missing: plan fails
	s.Env["MARKER"] = marker
	s.HooksDir = hooks(t, map[string]string{"terraform-post-plan": `echo ran > "$MARKER"`})
	_, err := Run(context.Background(), s)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "plan" {
		t.Fatalf("err = %v, want a failed plan step", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("post-plan hook did not run: %v", err)
	}
	if !l.has("No value for required variable") {
		t.Errorf("plan error not logged:\n%s", strings.Join(l.all(), "\n"))
	}
	assertEmpty(t, tmp)
}

func TestValidate(t *testing.T) {
	ok := Spec{Phase: jobapi.Plan, Binary: "/bin/true", ConfigDir: "testdata/basic"}
	for name, mod := range map[string]func(*Spec){
		"kind":            func(s *Spec) { s.Phase = "destroy" },
		"relative binary": func(s *Spec) { s.Binary = "tofu" },
		"no config":       func(s *Spec) { s.ConfigDir = "" },
		"escaping dir":    func(s *Spec) { s.WorkingDir = "../x" },
		"absolute dir":    func(s *Spec) { s.WorkingDir = "/etc" },
		"apply no plan":   func(s *Spec) { s.Phase = jobapi.Apply },
		"relative mirror": func(s *Spec) { s.ProviderMirror = "mirror" },
		"bad env name":    func(s *Spec) { s.Env = map[string]string{"A=B": "x"} },
		"NUL in env":      func(s *Spec) { s.Env = map[string]string{"A": "x\x00y"} },
	} {
		t.Run(name, func(t *testing.T) {
			s := ok
			mod(&s)
			_, err := Run(context.Background(), s)
			var se *StepError
			if !errors.As(err, &se) || se.Step != "validate" {
				t.Fatalf("err = %v, want a validate error", err)
			}
		})
	}
}

func TestMissingWorkingDirFails(t *testing.T) {
	tmp := tmpRoot(t)
	_, err := Run(context.Background(), Spec{Phase: jobapi.Plan, Binary: "/bin/true", ConfigDir: "testdata/basic", WorkingDir: "nope"})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "prepare" {
		t.Fatalf("err = %v, want a prepare error", err)
	}
	assertEmpty(t, tmp)
}

func TestConfigSymlinkRefused(t *testing.T) {
	tmp := tmpRoot(t)
	cfg := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(cfg, "passwd")); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Spec{Phase: jobapi.Plan, Binary: "/bin/true", ConfigDir: cfg})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v, want the symlink refused", err)
	}
	assertEmpty(t, tmp)
}

func TestRunDirRemovedWhenLogPanics(t *testing.T) {
	tmp := tmpRoot(t)
	s := Spec{
		Phase: jobapi.Plan, Binary: "/bin/false", ConfigDir: "testdata/basic",
		HooksDir: hooks(t, map[string]string{"terraform-pre-plan": "echo hello; sleep 30"}),
		Log: func(l string) {
			if l == "hello" { // hook output, copied while the hook runs
				panic("log sink failed")
			}
		},
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic did not propagate")
			}
		}()
		_, _ = Run(context.Background(), s)
	}()
	assertEmpty(t, tmp)
}

func TestCancelStopsPhase(t *testing.T) {
	tmp := tmpRoot(t)
	lines := make(chan string, 16)
	s := Spec{
		Phase: jobapi.Plan, Binary: "/bin/false", ConfigDir: "testdata/basic",
		HooksDir: hooks(t, map[string]string{"terraform-pre-plan": "echo started; sleep 30"}),
		Log:      func(l string) { lines <- l },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := Run(ctx, s); done <- err }()
	waitLine(t, lines, "started")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertEmpty(t, tmp)
}
