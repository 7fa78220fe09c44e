package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

const planWithBucket = `{"format_version":"1.2","variables":{"env":{"value":"prod"}},
"resource_changes":[{"address":"aws_s3_bucket.b","type":"aws_s3_bucket","change":{"actions":["create"],"after":{"bucket":"b"}}}]}`

func testInput(t *testing.T) *Input {
	t.Helper()
	in, err := NewInput([]byte(planWithBucket), Run{Workspace: Workspace{Name: "ws"}})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func oneSet(level Level, src string) *Set {
	return &Set{ID: "polset-1", Version: "1", Policies: []Policy{{
		Name: "p", Query: "data.terraform.policies.p.deny", Level: level, Source: src,
	}}}
}

// TestEvaluatePassAndFail holds the basic contract: an empty array passes,
// elements are violations, messages are read from strings and objects.
func TestEvaluatePassAndFail(t *testing.T) {
	e := New(Options{})
	in := testInput(t)
	pass := oneSet(Mandatory, `package terraform.policies.p
deny contains msg if { some rc in input.plan.resource_changes; rc.type == "aws_instance"; msg := rc.address }`)
	r := e.EvaluateSet(context.Background(), in, pass)
	if got := r.Policies[0]; got.Status != Passed || got.Error != "" {
		t.Fatalf("want passed, got %+v", got)
	}
	if r.SetID != "polset-1" || r.Version != "1" || r.Duration <= 0 {
		t.Fatalf("set result %+v", r)
	}
	failing := oneSet(Mandatory, `package terraform.policies.p
deny contains msg if { some rc in input.plan.resource_changes; rc.type == "aws_s3_bucket"; msg := sprintf("%s in %s", [rc.address, input.run.workspace.name]) }
deny contains {"msg": "structured", "resource": "x"} if { input.plan.variables.env.value == "prod" }`)
	r = e.EvaluateSet(context.Background(), in, failing)
	got := r.Policies[0]
	if got.Status != Failed || len(got.Violations) != 2 {
		t.Fatalf("want 2 violations, got %+v", got)
	}
	msgs := []string{got.Violations[0].Message, got.Violations[1].Message}
	if !contains(msgs, "aws_s3_bucket.b in ws") || !contains(msgs, "structured") {
		t.Fatalf("messages %q", msgs)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestEvaluateFailsClosed: every way a policy can go wrong is an errored
// policy, blocking and not overridable, never a pass, whatever its level
// and whether the set is overridable.
func TestEvaluateFailsClosed(t *testing.T) {
	for _, c := range []struct {
		name, src, query, want string
	}{
		{"broken rego", "package terraform.policies.p\ndeny contains msg if {", "", "rego_parse_error"},
		{"rego v0 syntax", "package terraform.policies.p\ndeny[msg] { msg := \"x\" }", "", "rego_parse_error"},
		{"http.send", `package terraform.policies.p
deny contains msg if { r := http.send({"method": "GET", "url": "http://127.0.0.1:1/"}); msg := r.body }`, "", "http.send"},
		{"net.lookup_ip_addr", `package terraform.policies.p
deny contains msg if { ips := net.lookup_ip_addr("example.com"); msg := sprintf("%v", [ips]) }`, "", "net.lookup_ip_addr"},
		{"opa.runtime", `package terraform.policies.p
deny contains msg if { msg := sprintf("%v", [opa.runtime()]) }`, "", "opa.runtime"},
		{"non-array result", "package terraform.policies.p\ndeny := \"nope\"", "", "not an array"},
		{"object result", "package terraform.policies.p\ndeny := {\"a\": 1}", "", "not an array"},
		{"missing query", "package terraform.policies.p\ndeny contains \"x\" if false", "data.terraform.policies.other.deny", "undefined"},
		{"undefined rule", "package terraform.policies.p\ndeny := [] if false", "", "undefined"},
		{"runtime error", `package terraform.policies.p
deny contains msg if { x := to_number("not a number"); msg := sprintf("%v", [x]) }`, "", "to_number"},
		{"conflicting values", `package terraform.policies.p
deny := ["a"] if true
deny := ["b"] if true`, "", "conflict"},
		{"reserved package", "package runcred.internal.eval\np0 := []", "data.runcred.internal.eval.p0", "reserved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, lvl := range []Level{Advisory, Mandatory} {
				s := oneSet(lvl, c.src)
				s.Overridable = true
				if c.query != "" {
					s.Policies[0].Query = c.query
				}
				out := New(Options{}).Evaluate(context.Background(), testInput(t), s)
				got := out.Sets[0].Policies[0]
				if got.Status != Errored || !strings.Contains(got.Error, c.want) {
					t.Fatalf("%s: want errored with %q, got %+v", lvl, c.want, got)
				}
				if out.Status() != OutcomeHardFailed || len(out.Overridable()) != 0 || len(out.Unoverridable()) != 1 {
					t.Fatalf("%s: status %s, overridable %d: an error must be a hard failure", lvl, out.Status(), len(out.Overridable()))
				}
			}
		})
	}
}

// TestEvaluateTimeLimit: a policy that runs past the time limit errors.
func TestEvaluateTimeLimit(t *testing.T) {
	e := New(Options{Timeout: 200 * time.Millisecond, MemoryLimit: 1 << 40}) // only the time limit may end it
	s := oneSet(Advisory, `package terraform.policies.p
deny contains msg if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i == j + 1000000000
	msg := "never"
}`)
	got := e.EvaluateSet(context.Background(), testInput(t), s).Policies[0]
	if got.Status != Errored || !strings.Contains(got.Error, "time limit") {
		t.Fatalf("want a time-limit error, got %+v", got)
	}
}

// TestEvaluateMemoryBound: a policy that builds a huge value errors.
func TestEvaluateMemoryBound(t *testing.T) {
	e := New(Options{MemoryLimit: 64 << 20, Timeout: time.Minute})
	s := oneSet(Advisory, `package terraform.policies.p
deny contains msg if {
	xs := [sprintf("%d-%d-padding-padding-padding-padding", [i, j]) | some i in numbers.range(1, 10000); some j in numbers.range(1, 10000)]
	count(xs) < 0
	msg := "never"
}`)
	got := e.EvaluateSet(context.Background(), testInput(t), s).Policies[0]
	if got.Status != Errored || !strings.Contains(got.Error, "memory bound") {
		t.Fatalf("want a memory-bound error, got %+v", got)
	}
}

// TestEvaluateAttributesRuntimeErrors: one policy's runtime error fails
// that policy, and its neighbours keep their own results.
func TestEvaluateAttributesRuntimeErrors(t *testing.T) {
	s := &Set{ID: "s", Version: "1", Policies: []Policy{
		{Name: "bad", Query: "data.terraform.policies.bad.deny", Level: Mandatory,
			Source: "package terraform.policies.bad\ndeny contains x if { x := to_number(\"x\") }"},
		{Name: "good", Query: "data.terraform.policies.good.deny", Level: Mandatory,
			Source: "package terraform.policies.good\ndeny contains \"v\" if input.plan.variables.env.value == \"prod\""},
		{Name: "clean", Query: "data.terraform.policies.clean.deny", Level: Mandatory,
			Source: "package terraform.policies.clean\ndeny contains \"v\" if false"},
	}}
	r := New(Options{}).EvaluateSet(context.Background(), testInput(t), s)
	if r.Policies[0].Status != Errored || r.Policies[1].Status != Failed || r.Policies[2].Status != Passed {
		t.Fatalf("got %+v", r.Policies)
	}
}

// TestCompileCachesVersions: a version compiles once; the cache is bounded.
func TestCompileCachesVersions(t *testing.T) {
	e := New(Options{CacheSize: 2})
	src := "package terraform.policies.p\ndeny contains \"x\" if false"
	s := oneSet(Mandatory, src)
	first, err := e.compiled(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.compiled(context.Background(), oneSet(Mandatory, src))
	if first != again {
		t.Fatal("the same version compiled twice")
	}
	// Same ID and version, other content: not the cached compilation.
	other, _ := e.compiled(context.Background(), oneSet(Mandatory, src+"\n"))
	if other == first {
		t.Fatal("other content served from the cache")
	}
	for i := range 3 {
		s := oneSet(Mandatory, src)
		s.Version = string(rune('a' + i))
		if _, err := e.compiled(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.lru.Len(); n != 2 {
		t.Fatalf("cache holds %d versions, bound is 2", n)
	}
}

// TestEvaluateParamsPackageReserved: a module cannot stand in for the
// set's parameters.
func TestEvaluateParamsPackageReserved(t *testing.T) {
	s := oneSet(Mandatory, "package terraform.policies.p\ndeny contains \"x\" if data.params.strict")
	s.Modules = map[string]string{"fake.rego": "package params\nstrict := false"}
	got := New(Options{}).EvaluateSet(context.Background(), testInput(t), s).Policies[0]
	if got.Status != Errored || !strings.Contains(got.Error, "reserved for the set's parameters") {
		t.Fatalf("got %+v", got)
	}
}

// TestEvaluateLoopNextToError: a policy that errors next to one that
// loops: both fail, the loop on the time limit (whether the shared
// evaluation met the error or the limit first).
func TestEvaluateLoopNextToError(t *testing.T) {
	s := &Set{ID: "s", Version: "1", Policies: []Policy{
		{Name: "bad", Query: "data.terraform.policies.bad.deny", Level: Advisory,
			Source: "package terraform.policies.bad\ndeny contains x if { x := to_number(\"x\") }"},
		{Name: "loop", Query: "data.terraform.policies.loop.deny", Level: Advisory,
			Source: "package terraform.policies.loop\ndeny contains \"x\" if { some i in numbers.range(1, 100000); some j in numbers.range(1, 100000); i == j + 1000000000 }"},
	}}
	r := New(Options{Timeout: 300 * time.Millisecond, MemoryLimit: 1 << 40}).EvaluateSet(context.Background(), testInput(t), s)
	if r.Policies[0].Status != Errored || r.Policies[1].Status != Errored || !strings.Contains(r.Policies[1].Error, "time limit") {
		t.Fatalf("got %+v", r.Policies)
	}
}

// TestEvaluateConcurrently: one engine, one set, several runs at once;
// each gets its own correct result (run with -race).
func TestEvaluateConcurrently(t *testing.T) {
	e := New(Options{})
	s := oneSet(Mandatory, `package terraform.policies.p
deny contains input.run.workspace.name if input.plan.variables.env.value == "prod"`)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			ws := fmt.Sprintf("ws-%d", i)
			in, err := NewInput([]byte(planWithBucket), Run{Workspace: Workspace{Name: ws}})
			if err != nil {
				errs <- err
				return
			}
			got := e.EvaluateSet(context.Background(), in, s).Policies[0]
			if got.Status != Failed || len(got.Violations) != 1 || got.Violations[0].Message != ws {
				errs <- fmt.Errorf("%s: %+v", ws, got)
				return
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := e.lru.Len(); n != 1 {
		t.Fatalf("%d compilations cached, want 1", n)
	}
}

// TestEvaluateKeepsSomeViolations: a policy flagging more than
// MaxViolations fails with the first ones kept and the rest counted.
func TestEvaluateKeepsSomeViolations(t *testing.T) {
	s := oneSet(Mandatory, "package terraform.policies.p\ndeny contains sprintf(\"v%05d\", [i]) if some i in numbers.range(1, 1500)")
	got := New(Options{}).EvaluateSet(context.Background(), testInput(t), s).Policies[0]
	if got.Status != Failed || len(got.Violations) != MaxViolations || got.Omitted != 500 || got.Violations[0].Message != "v00001" {
		t.Fatalf("status %s, %d kept, %d omitted", got.Status, len(got.Violations), got.Omitted)
	}
	var b strings.Builder
	if err := (Outcome{Sets: []SetResult{{Policies: []PolicyResult{got}}}}).Write(&b); err != nil || !strings.Contains(b.String(), "… and 500 more") {
		t.Fatalf("report %v: %.200s", err, b.String())
	}
}

// TestEvaluateParamsPerVersion: parameters are part of what is compiled:
// new parameters under the same version string are not served stale.
func TestEvaluateParamsPerVersion(t *testing.T) {
	e := New(Options{})
	src := "package terraform.policies.p\ndeny contains \"over\" if count(input.plan.resource_changes) > data.params.max"
	for _, c := range []struct {
		max  int
		want Status
	}{{0, Failed}, {5, Passed}, {0, Failed}} {
		s := oneSet(Mandatory, src)
		s.Params = map[string]any{"max": c.max}
		if got := e.EvaluateSet(context.Background(), testInput(t), s).Policies[0]; got.Status != c.want {
			t.Fatalf("max %d: %+v", c.max, got)
		}
	}
}
