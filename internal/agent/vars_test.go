package agent

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/agent/phase"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

func TestHCLValue(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`"platform"`, `"platform"`},
		{`42`, `42`},
		{`-1.5`, `-1.5`},
		{`12345678901234567890`, `12345678901234567890`},
		{`true`, `true`},
		{`false`, `false`},
		{`null`, `null`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`["a", "b"]`, `["a","b"]`},
		{`[1, "a", true]`, `[1,"a",true]`},
		{`{ team = "platform", n = 3 }`, `{"n":3,"team":"platform"}`},
		{`{ "a-b" = 1, "c d" = [] }`, `{"a-b":1,"c d":[]}`},
		{`{ a = [1, { b = true }], c = null }`, `{"a":[1,{"b":true}],"c":null}`},
		{"{\n  # a comment\n  x = \"y\" // another\n}\n", `{"x":"y"}`},
		{"<<EOT\nline one\nline two\nEOT\n", `"line one\nline two\n"`},
		{`"tab\there \u00e9"`, `"tab\there é"`},
		{`"$${not_a_template}"`, `"${not_a_template}"`},
		{`1 + 2`, `3`},             // constant arithmetic is data
		{`"${1}-${"a"}"`, `"1-a"`}, // a template of constants too
	} {
		got, err := hclValue("v", c.src)
		if err != nil {
			t.Errorf("hclValue(%q): %v", c.src, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("hclValue(%q) = %s, want %s", c.src, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("hclValue(%q) = %s: not JSON", c.src, got)
		}
	}
}

func TestHCLValueRefusesWithoutQuoting(t *testing.T) {
	const mark = "Qz7canary"
	for _, src := range []string{
		`var.` + mark,
		`local.` + mark,
		mark,
		`file("/etc/` + mark + `")`,
		`upper("` + mark + `")`,
		`"${var.` + mark + `}"`,
		`"prefix-${` + mark + `}"`,
		`{ a = var.` + mark + ` }`,
		`[` + mark + `]`,
		"1\nother" + mark + " = 2",
		`"` + mark + `" "trailing"`,
		`"` + mark,             // unterminated
		`{ a = "` + mark + `"`, // unclosed
		`"` + mark + `"[0]`,
		`{a = 1}.` + mark,
		`[for x in ["` + mark + `"]: y]`,
		`%{ if ` + mark + ` }x%{ endif }`,
		`<<EOT
` + mark,
		"",
		"   ",
	} {
		got, err := hclValue("key_name", src)
		if err == nil {
			t.Errorf("hclValue(%q) = %s, want an error", src, got)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, mark) || strings.Contains(msg, "/etc/") || !strings.Contains(msg, `"key_name"`) {
			t.Errorf("hclValue(%q): error %q quotes the value or lacks the key", src, msg)
		}
	}
}

func TestSplitVariables(t *testing.T) {
	const secretValue = "s3cret-value-Lp9"
	vs := []jobapi.Variable{
		{Key: "name", Value: "demo", Category: "terraform"},
		{Key: "not_hcl", Value: `{ a = 1 }`, Category: "terraform"}, // a string, as written
		{Key: "tags", Value: `{ team = "platform" }`, Category: "terraform", HCL: true},
		{Key: "count", Value: `3`, Category: "terraform", HCL: true},
		{Key: "password", Value: secretValue, Category: "terraform", Sensitive: true},
		{Key: "AWS_REGION", Value: "eu-west-1", Category: "env"},
		{Key: "TOKEN", Value: "env-secret", Category: "env", Sensitive: true},
		{Key: "EMPTY_SECRET", Value: "", Category: "env", Sensitive: true},
		{Key: "env_hcl", Value: `not hcl ${}`, Category: "env", HCL: true}, // env values are never evaluated
	}
	pv, err := splitVariables(vs)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := json.Marshal(pv.terraform)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"count":3,"name":"demo","not_hcl":"{ a = 1 }","password":"` + secretValue + `","tags":{"team":"platform"}}`; string(tf) != want {
		t.Errorf("terraform variables = %s\nwant %s", tf, want)
	}
	if len(pv.env) != 4 || pv.env["AWS_REGION"] != "eu-west-1" || pv.env["TOKEN"] != "env-secret" || pv.env["env_hcl"] != `not hcl ${}` {
		t.Errorf("env = %v", pv.env)
	}
	var secrets []string
	for _, s := range pv.secrets {
		secrets = append(secrets, s.RevealString())
	}
	if strings.Join(secrets, ",") != secretValue+",env-secret" {
		t.Errorf("secrets = %q", secrets)
	}
}

func TestSplitVariablesRefuses(t *testing.T) {
	const value = "sensitive-Hq3-canary"
	for _, c := range []struct {
		name string
		v    jobapi.Variable
	}{
		{"a reference", jobapi.Variable{Key: "k", Value: `var.` + strings.ReplaceAll(value, "-", "_"), Category: "terraform", HCL: true}},
		{"a function call", jobapi.Variable{Key: "k", Value: `file("/etc/passwd-` + value + `")`, Category: "terraform", HCL: true}},
		{"a template", jobapi.Variable{Key: "k", Value: `"${var.x}` + value + `"`, Category: "terraform", HCL: true}},
		{"trailing garbage", jobapi.Variable{Key: "k", Value: "\"" + value + "\"\nother = 2", Category: "terraform", HCL: true}},
		{"an unknown category", jobapi.Variable{Key: "k", Value: value, Category: "Terraform"}},
		{"no category", jobapi.Variable{Key: "k", Value: value}},
		{"a policy-set category", jobapi.Variable{Key: "k", Value: value, Category: "policy-set", Sensitive: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.v.Sensitive = true
			pv, err := splitVariables([]jobapi.Variable{{Key: "ok", Value: "1", Category: "env"}, c.v})
			if err == nil {
				t.Fatalf("accepted %+v", c.v)
			}
			if strings.Contains(err.Error(), c.v.Value) || strings.Contains(err.Error(), "Hq3") || strings.Contains(err.Error(), "passwd") {
				t.Errorf("error quotes the value: %v", err)
			}
			if !strings.Contains(err.Error(), `"k"`) {
				t.Errorf("error does not name the variable: %v", err)
			}
			// The agent masks what it was given even when it refuses it.
			if len(pv.secrets) != 1 || pv.secrets[0].RevealString() != c.v.Value {
				t.Errorf("secrets = %d values, want the refused variable's", len(pv.secrets))
			}
		})
	}
}

func TestBuiltinsWin(t *testing.T) {
	j := &jobapi.Job{RunID: "run-real", WorkspaceID: "ws-real", Workspace: "w", Organization: "o", Project: "p"}
	workspace := map[string]string{"TFC_RUN_ID": "run-forged", "TF_VAR_TFC_WORKSPACE_SLUG": "other/ws", "KEEP": "1"}
	creds := map[string]string{"TFC_WORKSPACE_ID": "ws-forged", "AWS_ROLE_ARN": "arn"}
	env := mergeEnv(workspace, creds, builtins(j))
	for k, want := range map[string]string{
		"TFC_RUN_ID": "run-real", "TFE_RUN_ID": "run-real", "TF_VAR_TFC_RUN_ID": "run-real",
		"TFC_WORKSPACE_ID": "ws-real", "TF_VAR_TFC_WORKSPACE_SLUG": "o/w", "TFC_WORKSPACE_SLUG": "o/w",
		"TFC_PROJECT_NAME": "p", "KEEP": "1", "AWS_ROLE_ARN": "arn",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if workspace["TFC_RUN_ID"] != "run-forged" {
		t.Error("mergeEnv changed its input")
	}
}

// What a plan produced: its counts, and its JSON with secrets scrubbed.

func TestPlanCounts(t *testing.T) {
	rc := func(actions ...string) string {
		b, _ := json.Marshal(actions)
		return `{"address":"x.y","change":{"actions":` + string(b) + `}}`
	}
	for _, c := range []struct {
		name string
		plan string
		want jobapi.Finish
	}{
		{"empty", `{}`, jobapi.Finish{}},
		{"no-op and read", `{"resource_changes":[` + rc("no-op") + `,` + rc("read") + `]}`, jobapi.Finish{}},
		{"create", `{"resource_changes":[` + rc("create") + `,` + rc("create") + `]}`, jobapi.Finish{HasChanges: true, Additions: 2}},
		{"update", `{"resource_changes":[` + rc("update") + `]}`, jobapi.Finish{HasChanges: true, Changes: 1}},
		{"delete", `{"resource_changes":[` + rc("delete") + `]}`, jobapi.Finish{HasChanges: true, Destructions: 1}},
		{"replace, create first", `{"resource_changes":[` + rc("create", "delete") + `]}`, jobapi.Finish{HasChanges: true, Additions: 1, Destructions: 1}},
		{"replace, delete first", `{"resource_changes":[` + rc("delete", "create") + `]}`, jobapi.Finish{HasChanges: true, Additions: 1, Destructions: 1}},
		{"mixed", `{"resource_changes":[` + rc("create") + `,` + rc("update") + `,` + rc("delete") + `,` + rc("no-op") + `,` + rc("delete", "create") + `]}`,
			jobapi.Finish{HasChanges: true, Additions: 2, Changes: 1, Destructions: 2}},
		{"output only", `{"resource_changes":[` + rc("no-op") + `],"output_changes":{"run":{"actions":["update"]}}}`, jobapi.Finish{HasChanges: true}},
		{"new output", `{"output_changes":{"run":{"actions":["create"]}}}`, jobapi.Finish{HasChanges: true}},
		{"unchanged output", `{"output_changes":{"run":{"actions":["no-op"]}}}`, jobapi.Finish{}},
		{"unknown fields", `{"format_version":"1.2","resource_drift":[` + rc("delete") + `],"extra":{"x":[1]}}`, jobapi.Finish{}},
	} {
		got, err := planCounts([]byte(c.plan))
		if err != nil || got != c.want {
			t.Errorf("%s: planCounts = %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `not json`, `{"resource_changes":{}}`, `{"resource_changes":[{"change":{"actions":"create"}}]}`, `[`} {
		if got, err := planCounts([]byte(bad)); err == nil {
			t.Errorf("planCounts(%q) = %+v, want an error", bad, got)
		}
	}
}

// A plan whose only effect is on state (an import, a move, a forget) must
// still be applied: OpenTofu and Terraform call such a plan applyable.
func TestPlanCountsStateOnlyChanges(t *testing.T) {
	for name, plan := range map[string]string{
		"import": `{"resource_changes":[{"address":"x.y","change":{"actions":["no-op"],"importing":{"id":"i-123"}}}]}`,
		"moved":  `{"resource_changes":[{"address":"x.new","previous_address":"x.old","change":{"actions":["no-op"]}}]}`,
		"forget": `{"resource_changes":[{"address":"x.y","change":{"actions":["forget"]}}]}`,
	} {
		got, err := planCounts([]byte(plan))
		if err != nil || !got.HasChanges {
			t.Errorf("%s: planCounts = %+v, %v; want HasChanges", name, got, err)
		}
	}
}

func TestScrubPlanJSON(t *testing.T) {
	const s = "hunter2-Secret-Xy"
	red := phase.NewRedactor(secret.FromString(s))
	in := `{"format_version":"1.2","big":12345678901234567890,"price":1.50,"exp":1e400,"neg":-0.0,"ok":true,"nil":null,` +
		`"variables":{"password":{"value":"` + s + `"}},` +
		`"resource_changes":[{"change":{"after":{"conn":"postgres://u:` + s + `@db/x","list":["a","pre` + s + `post",["` + s + `"]],"n":3}}}],` +
		`"escaped":"\u0068unter2-Secret-Xy","html":"<a&b>"}`
	out, err := scrubPlanJSON([]byte(in), red)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatalf("not JSON: %s", out)
	}
	if bytes.Contains(out, []byte(s)) || bytes.Contains(out, []byte("hunter2")) {
		t.Errorf("the secret survived: %s", out)
	}
	for _, want := range []string{
		`"big":12345678901234567890`, `"price":1.50`, `"exp":1e400`, `"neg":-0.0`, `"ok":true`, `"nil":null`,
		`"password":{"value":"***"}`, `"conn":"postgres://u:***@db/x"`, `"list":["a","pre***post",["***"]]`, `"n":3`,
		`"escaped":"***"`, `"html":"<a&b>"`, `"format_version":"1.2"`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if bytes.HasSuffix(out, []byte("\n")) {
		t.Error("output ends with a newline")
	}

	// Nothing to scrub: the same document back.
	plain := `{"a":[1,2.50,"x"],"b":{"c":null}}`
	if out, err := scrubPlanJSON([]byte(plain), red); err != nil || string(out) != plain {
		t.Errorf("scrub of %s = %s, %v", plain, out, err)
	}

	for _, bad := range []string{``, `not json`, `{"a":`, `{"a":"` + s + `"`, `{"a" 1}`, `{"a":1} trailing`, `{} {"` + s + `":1}`} {
		if out, err := scrubPlanJSON([]byte(bad), red); err == nil {
			t.Errorf("scrubPlanJSON(%q) = %s, want an error", bad, out)
		} else if strings.Contains(err.Error(), s) {
			t.Errorf("scrubPlanJSON(%q): the error quotes the secret: %v", bad, err)
		}
	}
}

// Object keys are strings of the plan too: a map keyed by a secret (for
// example tags = { (var.secret) = "x" }) is written with the secret as a key.
func TestScrubPlanJSONKeys(t *testing.T) {
	const s = "hunter2-Secret-Xy"
	red := phase.NewRedactor(secret.FromString(s))
	out, err := scrubPlanJSON([]byte(`{"after":{"tags":{"`+s+`":"v","k":"x"}}}`), red)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) || bytes.Contains(out, []byte(s)) {
		t.Errorf("scrubbed = %s", out)
	}
}

// A sensitive number is written as a JSON number (variable "pin" { type =
// number, sensitive = true }); keeping numbers as written must not keep it.
func TestScrubPlanJSONSensitiveNumber(t *testing.T) {
	const pin = "40710293"
	red := phase.NewRedactor(secret.FromString(pin))
	out, err := scrubPlanJSON([]byte(`{"variables":{"pin":{"value":`+pin+`}},"other":12}`), red)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) || bytes.Contains(out, []byte(pin)) || !bytes.Contains(out, []byte(`"other":12`)) {
		t.Errorf("scrubbed = %s", out)
	}
}

// TestHCLValueRefusesBlowUps: inputs that would make the agent write far
// more than it was given (every digit of 1e100000000, nested for
// expressions) are refused with a clear error; ordinary magnitudes pass.
func TestHCLValueRefusesBlowUps(t *testing.T) {
	for src, want := range map[string]string{
		`1e100000000`:                       "out of range",
		`-1e100000000`:                      "out of range",
		`1e-100000000`:                      "out of range",
		`{ a = [1e1000] }`:                  "out of range",
		`[for x in [1, 2]: x]`:              "no for expressions",
		`{for k, v in {a = 1}: v => k}`:     "no for expressions",
		`"%{for x in [1, 2]}${x}%{endfor}"`: "no for expressions",
	} {
		got, err := hclValue("k", src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("hclValue(%q) = %s, %v; want an error saying %q", src, got, err, want)
		}
	}
	for _, src := range []string{`1e300`, `-1.5e-300`, `12345678901234567890`, `0`} {
		if _, err := hclValue("k", src); err != nil {
			t.Errorf("hclValue(%q): %v", src, err)
		}
	}
}

// TestSensitiveHCLLeavesAreSecrets: Terraform prints a sensitive HCL value
// as evaluated, so its strings and numbers are secrets, not its source.
func TestSensitiveHCLLeavesAreSecrets(t *testing.T) {
	pv, err := splitVariables([]jobapi.Variable{
		{Key: "pw", Value: `"hunter2-pw"`, Category: "terraform", HCL: true, Sensitive: true},
		{Key: "obj", Value: `{ password = "s3cret-obj", pin = 987654, on = true, n = 1 }`, Category: "terraform", HCL: true, Sensitive: true},
		{Key: "open", Value: `{ visible = "plain-value" }`, Category: "terraform", HCL: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range pv.secrets {
		got[s.RevealString()] = true
	}
	for _, want := range []string{"hunter2-pw", "s3cret-obj", "987654"} {
		if !got[want] {
			t.Errorf("%q is not a secret; have %d secrets", want, len(got))
		}
	}
	for _, not := range []string{"plain-value", "1", "true"} {
		if got[not] {
			t.Errorf("%q is a secret", not)
		}
	}
}
