package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// benchPlan is a JSON plan of n resources as `tofu show -json` writes it:
// resource changes, planned values and configuration for each, an aws
// provider assuming a role from a variable, and a few vault reads.
func benchPlan(n int) []byte {
	types := []string{"aws_s3_bucket", "aws_instance", "aws_iam_role", "aws_security_group", "aws_dynamodb_table"}
	var changes, planned, config []any
	for i := range n {
		typ := types[i%len(types)]
		name := fmt.Sprintf("r%d", i)
		addr := typ + "." + name
		tags := map[string]any{"owner": "team-" + fmt.Sprint(i%7), "env": "prod"}
		if i%3 == 0 {
			tags["cost_center"] = "cc-" + fmt.Sprint(i%11)
		}
		after := map[string]any{"bucket": name, "instance_type": []string{"t3.micro", "m5.large", "x1.32xlarge"}[i%3],
			"tags": tags, "acl": []string{"private", "public-read"}[i%2], "encrypted": i%4 != 0, "size": i % 500}
		actions := []any{[]string{"create"}, []string{"update"}, []string{"no-op"}, []string{"delete", "create"}}[i%4]
		changes = append(changes, map[string]any{
			"address": addr, "mode": "managed", "type": typ, "name": name,
			"provider_name": "registry.opentofu.org/hashicorp/aws",
			"change": map[string]any{"actions": actions, "before": nil, "after": after,
				"after_unknown": map[string]any{"arn": true, "id": true}, "before_sensitive": false, "after_sensitive": map[string]any{"tags": map[string]any{}}},
		})
		planned = append(planned, map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name,
			"provider_name": "registry.opentofu.org/hashicorp/aws", "schema_version": 0, "values": after})
		config = append(config, map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name,
			"provider_config_key": "aws", "schema_version": 0,
			"expressions": map[string]any{"bucket": map[string]any{"constant_value": name}, "tags": map[string]any{"references": []string{"var.tags"}}}})
	}
	config = append(config, map[string]any{"address": "data.vault_generic_secret.db", "mode": "data", "type": "vault_generic_secret",
		"name": "db", "provider_config_key": "vault", "expressions": map[string]any{"path": map[string]any{"constant_value": "secret/db"}}})
	plan := map[string]any{
		"format_version": "1.2", "terraform_version": "1.6.3",
		"variables":        map[string]any{"role_arn": map[string]any{"value": "arn:aws:iam::111111111111:role/terraform"}},
		"planned_values":   map[string]any{"root_module": map[string]any{"resources": planned}},
		"resource_changes": changes,
		"configuration": map[string]any{
			"provider_config": map[string]any{
				"aws": map[string]any{"name": "aws", "full_name": "registry.opentofu.org/hashicorp/aws", "expressions": map[string]any{
					"region":      map[string]any{"constant_value": "eu-west-1"},
					"assume_role": []any{map[string]any{"role_arn": map[string]any{"references": []string{"var.role_arn"}}}},
				}},
			},
			"root_module": map[string]any{"resources": config},
		},
	}
	b, err := json.Marshal(plan)
	if err != nil {
		panic(err)
	}
	return b
}

// benchRules are 20 ordinary rules, each over every resource change, as an
// organization's own policies are.
func benchRules() []Policy {
	checks := []string{
		`rc.type == "aws_s3_bucket"; rc.change.after.acl == "public-read"`,
		`not rc.change.after.tags.owner`,
		`not rc.change.after.tags.cost_center`,
		`rc.change.after.instance_type == "x1.32xlarge"`,
		`rc.change.after.encrypted == false`,
		`"delete" in rc.change.actions; rc.type == "aws_dynamodb_table"`,
		`rc.change.after.size > 400`,
		`startswith(rc.name, "r99")`,
		`rc.type == "aws_iam_role"; "update" in rc.change.actions`,
		`rc.change.after.tags.env != "prod"`,
		`count(rc.change.after.tags) > 5`,
		`rc.provider_name != "registry.opentofu.org/hashicorp/aws"`,
		`rc.type == "aws_security_group"; rc.change.after.acl == "public-read"`,
		`regex.match("^team-6$", rc.change.after.tags.owner); rc.type == "aws_instance"`,
		`rc.change.after_unknown.bucket`,
		`endswith(rc.address, "r12345")`,
		`rc.mode == "data"`,
		`rc.change.after.instance_type == "m5.large"; rc.change.after.size > 450`,
		`lower(rc.change.after.tags.env) == "dev"`,
		`rc.type == "aws_s3_bucket"; not rc.change.after.encrypted`,
	}
	var ps []Policy
	for i, c := range checks {
		name := fmt.Sprintf("rule_%02d", i)
		ps = append(ps, Policy{
			Name: name, Query: "data.terraform.policies." + name + ".deny", Level: Mandatory,
			Source: fmt.Sprintf("package terraform.policies.%s\n\ndeny contains msg if {\n\tsome rc in input.plan.resource_changes\n\t%s\n\tmsg := sprintf(\"%s: %%s\", [rc.address])\n}\n",
				name, strings.ReplaceAll(c, "; ", "\n\t"), name),
		})
	}
	return ps
}

func benchSet() *Set {
	s := Library(map[string]any{"allowed_role_arns": []any{"arn:aws:iam::111111111111:role/*"}})
	s.Policies = append(s.Policies, benchRules()...)
	return s
}

// bareQuery prepares the set's modules with OPA alone: the same modules,
// parameters and deny queries in one query, no restrictions or checks.
func bareQuery(b *testing.B, s *Set) rego.PreparedEvalQuery {
	opts := []func(*rego.Rego){rego.Store(inmem.NewFromObject(map[string]any{"params": s.Params}))}
	files := s.files()
	for _, n := range slices.Sorted(maps.Keys(files)) {
		opts = append(opts, rego.Module(n, files[n]))
	}
	var q []string
	for i, p := range s.Policies {
		q = append(q, fmt.Sprintf("p%d = %s", i, p.Query))
	}
	pq, err := rego.New(append(opts, rego.Query(strings.Join(q, "; ")))...).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return pq
}

// BenchmarkPolicySet evaluates the built-in library plus 20 ordinary rules
// on generated plans, runcred's engine (EvaluateSet) next to a bare OPA
// evaluation of the same modules on the same converted input, in the same
// run; input-N is converting the plan once (NewInput). Each reports the
// process's peak RSS so far (the sizes run in order, 1,000 first).
func BenchmarkPolicySet(b *testing.B) {
	for _, n := range []int{1000, 15000} {
		plan := benchPlan(n)
		in, err := NewInput(plan, Run{Workspace: Workspace{Name: "bench"}, Variables: []Variable{managedVar()}})
		if err != nil {
			b.Fatal(err)
		}
		s := benchSet()
		e := New(Options{Timeout: 60e9})
		res := e.EvaluateSet(context.Background(), in, s)
		for _, r := range res.Policies {
			if r.Status == Errored {
				b.Fatalf("%s errored: %s", r.Name, r.Error)
			}
		}
		bare := bareQuery(b, s)
		b.Run(fmt.Sprintf("runcred-%d", n), func(b *testing.B) {
			for b.Loop() {
				e.EvaluateSet(context.Background(), in, s)
			}
			reportRSS(b)
		})
		// Interleaved, order alternating: the machine's load hits both
		// alike; the ratio is the median of the pairs' ratios.
		b.Run(fmt.Sprintf("paired-%d", n), func(b *testing.B) {
			// Wall time, and the process's CPU time, which a loaded
			// machine distorts less.
			var ours, theirs, ratios, oursCPU, theirsCPU []float64
			timed := func(f func()) (wall, cpu float64) {
				c, t := cpuTime(), time.Now()
				f()
				return float64(time.Since(t)) / 1e6, float64(cpuTime()-c) / 1e6
			}
			r := func() { e.EvaluateSet(context.Background(), in, s) }
			o := func() {
				if _, err := bare.Eval(context.Background(), rego.EvalParsedInput(in.value)); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; b.Loop(); i++ {
				var x, y, xc, yc float64
				if i%2 == 0 {
					x, xc = timed(r)
					y, yc = timed(o)
				} else {
					y, yc = timed(o)
					x, xc = timed(r)
				}
				ours, theirs, ratios = append(ours, x), append(theirs, y), append(ratios, x/y)
				oursCPU, theirsCPU = append(oursCPU, xc), append(theirsCPU, yc)
			}
			b.ReportMetric(median(ours), "runcred-ms")
			b.ReportMetric(median(theirs), "bare-ms")
			b.ReportMetric(median(ratios), "ratio")
			b.ReportMetric(median(oursCPU), "runcred-cpu-ms")
			b.ReportMetric(median(theirsCPU), "bare-cpu-ms")
			reportRSS(b)
		})
		// The alternative to one query per set: a prepared query per
		// policy, each its own evaluation.
		c, err := e.compiled(context.Background(), s)
		if err != nil || c.err != nil {
			b.Fatal(err, c.err)
		}
		var each []rego.PreparedEvalQuery
		for i := range s.Policies {
			pq, err := e.prepare(context.Background(), c, "x = "+ruleRef(i))
			if err != nil {
				b.Fatal(err)
			}
			each = append(each, pq)
		}
		b.Run(fmt.Sprintf("per-policy-%d", n), func(b *testing.B) {
			for b.Loop() {
				for _, pq := range each {
					if _, err := e.eval(context.Background(), pq, in.value); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("bare-%d", n), func(b *testing.B) {
			for b.Loop() {
				rs, err := bare.Eval(context.Background(), rego.EvalParsedInput(in.value))
				if err != nil || len(rs) != 1 {
					b.Fatal(err, len(rs))
				}
			}
			reportRSS(b)
		})
		// Last: converting makes garbage the size of the plan's AST, which
		// would weigh on the measurements above and on their peak RSS.
		b.Run(fmt.Sprintf("input-%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(plan)))
			for b.Loop() {
				if _, err := NewInput(plan, Run{}); err != nil {
					b.Fatal(err)
				}
			}
			reportRSS(b)
		})
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportRSS(b *testing.B) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-rss-MiB")
	}
}

// TestBenchSetResults keeps the benchmark honest: the generated plan makes
// the rules find violations, and the engine and bare OPA agree on them.
func TestBenchSetResults(t *testing.T) {
	plan := benchPlan(200)
	in, err := NewInput(plan, Run{Workspace: Workspace{Name: "bench"}, Variables: []Variable{managedVar()}})
	if err != nil {
		t.Fatal(err)
	}
	s := benchSet()
	res := New(Options{}).EvaluateSet(t.Context(), in, s)
	failed := 0
	for _, r := range res.Policies {
		if r.Status == Errored {
			t.Fatalf("%s errored: %s", r.Name, r.Error)
		}
		if r.Status == Failed {
			failed++
		}
	}
	if failed < 10 {
		t.Fatalf("only %d of %d policies found violations; the benchmark would measure little", failed, len(res.Policies))
	}
}
