package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestOutcome(t *testing.T) {
	pass := PolicyResult{Name: "ok", Level: HardMandatory, Status: Passed}
	adv := PolicyResult{Name: "adv", Level: Advisory, Status: Failed}
	mand := PolicyResult{Name: "mand", Level: Mandatory, Status: Failed}
	hard := PolicyResult{Name: "hard", Level: HardMandatory, Status: Failed}
	errAdv := PolicyResult{Name: "err", Level: Advisory, Status: Errored, Error: "boom"}
	set := func(overridable bool, rs ...PolicyResult) SetResult {
		return SetResult{SetID: "s", Version: "1", Overridable: overridable, Policies: rs}
	}
	for _, c := range []struct {
		name              string
		sets              []SetResult
		want              OutcomeStatus
		over, unover, all int
	}{
		{"nothing", nil, OutcomePassed, 0, 0, 0},
		{"all pass", []SetResult{set(false, pass)}, OutcomePassed, 0, 0, 0},
		{"advisory", []SetResult{set(false, pass, adv)}, OutcomeAdvisoryFailed, 0, 0, 1},
		{"mandatory, overridable set", []SetResult{set(true, adv, mand)}, OutcomeSoftFailed, 1, 0, 2},
		{"mandatory, set not overridable", []SetResult{set(false, mand)}, OutcomeHardFailed, 0, 1, 1},
		{"hard-mandatory in an overridable set", []SetResult{set(true, hard)}, OutcomeHardFailed, 0, 1, 1},
		{"soft and hard across sets", []SetResult{set(true, mand), set(false, hard)}, OutcomeHardFailed, 1, 1, 2},
		{"hard before soft", []SetResult{set(false, hard), set(true, mand)}, OutcomeHardFailed, 1, 1, 2},
		{"an errored advisory policy", []SetResult{set(true, errAdv)}, OutcomeHardFailed, 0, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Outcome{Sets: c.sets}
			if got := o.Status(); got != c.want {
				t.Errorf("status %s, want %s", got, c.want)
			}
			if n := len(o.Overridable()); n != c.over {
				t.Errorf("%d overridable, want %d", n, c.over)
			}
			if n := len(o.Unoverridable()); n != c.unover {
				t.Errorf("%d unoverridable, want %d", n, c.unover)
			}
			if n := len(o.Failures()); n != c.all {
				t.Errorf("%d failures, want %d", n, c.all)
			}
		})
	}
}

func TestViolationMessages(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{"plain", "plain"},
		{map[string]any{"msg": "from msg", "resource": "x"}, "from msg"},
		{map[string]any{"message": "from message"}, "from message"},
		{map[string]any{"msg": 5.0}, `{"msg":5}`},
		{json.Number("3"), "3"},
	} {
		if got := violation(c.in).Message; got != c.want {
			t.Errorf("%v: %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNewInput(t *testing.T) {
	run := Run{
		Workspace: Workspace{Name: "app"},
		Variables: []Variable{
			{Key: "region", Category: CategoryEnv, ValueHMAC: "e1"},
			{Key: "region", Category: CategoryTerraform, ValueHMAC: "t1"},
			{Key: "AWS_X", Category: CategoryEnv},
		},
	}
	in, err := NewInput([]byte(`{"variables": {"region": {"value": "eu-west-1"}}, "n": 12345678901234567890}`), run)
	if err != nil {
		t.Fatal(err)
	}
	s := oneSet(Advisory, `package terraform.policies.p
deny contains sprintf("%s %s %d %v", [input.run.variables.region.category, input.plan.variables.region.value, count(input.run.variable_list), input.plan.n]) if true`)
	got := New(Options{}).EvaluateSet(t.Context(), in, s).Policies[0]
	if len(got.Violations) != 1 || got.Violations[0].Message != "terraform eu-west-1 3 12345678901234567890" {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a": 1} {"b": 2}`, `{"a": `} {
		if _, err := NewInput([]byte(bad), run); err == nil || !strings.Contains(err.Error(), "JSON plan") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// The input never holds a value: a Variable has no field for one.
	b, _ := json.Marshal(run.Variables[0])
	if strings.Contains(string(b), `"value"`) {
		t.Fatalf("a variable marshals a value: %s", b)
	}
}

func TestValidate(t *testing.T) {
	ok := oneSet(Mandatory, "package terraform.policies.p\ndeny := []")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Set){
		"no policies":   func(s *Set) { s.Policies = nil },
		"bad level":     func(s *Set) { s.Policies[0].Level = "soft-mandatory" },
		"bad query":     func(s *Set) { s.Policies[0].Query = "deny" },
		"variable":      func(s *Set) { s.Policies[0].Query = "data.terraform.policies[x].deny" },
		"duplicate":     func(s *Set) { s.Policies = append(s.Policies, s.Policies[0]) },
		"module clash":  func(s *Set) { s.Modules = map[string]string{"p.rego": "package x"} },
		"empty name":    func(s *Set) { s.Policies[0].Name = "" },
		"params not js": func(s *Set) { s.Params = map[string]any{"f": func() {}} },
	} {
		s := oneSet(Mandatory, "package terraform.policies.p\ndeny := []")
		mutate(s)
		err := New(Options{}).Compile(t.Context(), s)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		// And evaluation fails closed rather than passing.
		r := New(Options{}).EvaluateSet(t.Context(), testInput(t), s)
		for _, p := range r.Policies {
			if p.Status != Errored {
				t.Errorf("%s: %s is %s", name, p.Name, p.Status)
			}
		}
	}
}

func TestOutcomeWrite(t *testing.T) {
	o := Outcome{Sets: []SetResult{
		{SetID: "polset-1", Version: "3", Overridable: true, Policies: []PolicyResult{
			{Name: "ok", Level: Mandatory, Status: Passed},
			{Name: "tags", Level: Mandatory, Status: Failed, Violations: []Violation{{Message: "a missing tag\nFAKE LOG LINE"}}},
			{Name: "hint", Level: Advisory, Status: Failed, Violations: []Violation{{Message: "consider x"}}},
		}},
		{SetID: "polset-2", Version: "1", Policies: []PolicyResult{
			{Name: "broken", Level: Advisory, Status: Errored, Error: "p.rego:2: rego_parse_error"},
		}},
	}}
	var b strings.Builder
	if err := o.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := `OPA policy check: hard-failed
  policy set polset-1 (version 3, overridable)
    passed   ok (mandatory)
    failed   tags (mandatory; blocks the run unless overridden)
             - a missing tag FAKE LOG LINE
    failed   hint (advisory; the run goes on)
             - consider x
  policy set polset-2 (version 1)
    errored  broken (advisory; an error blocks the run and no override covers it)
             p.rego:2: rego_parse_error
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
