package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPolicyTest(t *testing.T) {
	set := map[string]string{
		"policies.hcl": `policy "size" {
  query             = "data.terraform.policies.size.deny"
  enforcement_level = "mandatory"
}`,
		"policies/size.rego": "package terraform.policies.size\ndeny contains \"too big\" if input.n > data.params.max\n",
		"policies/size_test.rego": `package terraform.policies.size_test
import data.terraform.policies.size
test_small if { count(size.deny) == 0 with input as {"n": 1} }
test_big if { size.deny == {"too big"} with input as {"n": 9} }
`,
	}
	params := filepath.Join(t.TempDir(), "params.json")
	if err := os.WriteFile(params, []byte(`{"max": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := Main(args, strings.NewReader(""), &out, &errOut)
		return code, out.String() + errOut.String()
	}

	code, out := run("policy", "test", writeFiles(t, set), "--params", params)
	if code != 0 || !strings.Contains(out, "PASS  data.terraform.policies.size_test.test_big") || !strings.Contains(out, "1 policies; 2 tests, 0 failed") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// Without the parameter the comparison is undefined: the tests fail.
	code, out = run("policy", "test", writeFiles(t, set))
	if code != 1 || !strings.Contains(out, "FAIL  data.terraform.policies.size_test.test_big") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// A broken set is bad input, named.
	broken := map[string]string{"policies.hcl": set["policies.hcl"], "size.rego": "package terraform.policies.size\ndeny contains x if {"}
	code, out = run("policy", "test", writeFiles(t, broken))
	if code != 2 || !strings.Contains(out, "size.rego:2") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	netSet := map[string]string{"policies.hcl": set["policies.hcl"], "size.rego": "package terraform.policies.size\ndeny contains x if { x := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"}).body }"}
	code, out = run("policy", "test", writeFiles(t, netSet))
	if code != 2 || !strings.Contains(out, "http.send") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out = run("policy", "test", writeFiles(t, map[string]string{"sentinel.hcl": "", "x.sentinel": ""}))
	if code != 2 || !strings.Contains(out, "Sentinel policy sets are not supported") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
