package cli

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
)

// TestRunStartPlanOptions: run start's plan options reach the run; --var
// values arrive as HCL string literals (quotes and ${ kept as text) and
// --var-hcl values as written; run show prints the options and the
// variables' names only; a refused combination is the server's 422.
func TestRunStartPlanOptions(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/ws1", "--create-org")
	dir := configDir(t)
	const odd = `say "hi" ${x} %{y} \ ` + "\n" + `done`
	id := s.start("demo/ws1", dir, "--no-refresh", "--target", "random_id.a", "--target", `module.m["k"]`,
		"--replace", "random_id.a[0]", "--var", "name="+odd, "--var-hcl", "n=[1, 2]")
	r := s.readRun(id)
	if r.Refresh || r.RefreshOnly || r.IsDestroy || !slices.Equal(r.TargetAddrs, []string{"random_id.a", `module.m["k"]`}) ||
		!slices.Equal(r.ReplaceAddrs, []string{"random_id.a[0]"}) || len(r.Variables) != 2 {
		t.Fatalf("run = %+v", r)
	}
	out := s.ok("run", "show", id)
	for _, want := range []string{"Refresh:      false", `Targets:      random_id.a, module.m["k"]`, "Replaces:     random_id.a[0]", "Variables:    name, n"} {
		if !strings.Contains(out, want) {
			t.Errorf("run show does not print %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "say") {
		t.Errorf("run show prints a variable's value:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := s.claim(ctx, id, jobapi.Plan)
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.D.Platform.Runs.JobInputs(rootCtx(), job.PhaseID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range in.Variables {
		got[v.Key] = v.Value.RevealString()
	}
	if want := `"say \"hi\" $${x} %%{y} \\ \ndone"`; got["name"] != want || got["n"] != "[1, 2]" {
		t.Fatalf("variables = %q; name want %q", got, want)
	}

	s.fails(s.Token, 2, "refresh-only and is-destroy", "run", "start", "demo/ws1", dir, "--no-follow", "--destroy", "--refresh-only")
	s.fails(s.Token, 2, "target-addrs[0]", "run", "start", "demo/ws1", dir, "--no-follow", "--target", "random_id")
	s.fails(s.Token, 2, "--var wants KEY=VALUE", "run", "start", "demo/ws1", dir, "--no-follow", "--var", "novalue")
}
