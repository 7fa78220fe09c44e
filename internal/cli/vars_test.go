package cli

import (
	"context"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

func TestVarSetListUpdateDelete(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/ws1", "--create-org")
	const secret = "s3cr3t-Value-42"
	var printed strings.Builder // everything the command line printed
	run := func(stdin string, args ...string) string {
		t.Helper()
		r := s.runcred(stdin, args...)
		printed.WriteString(r.stdout + r.stderr)
		if r.code != 0 {
			t.Fatalf("runcred %s: exit %d: %s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}

	if out := run("", "var", "set", "demo/ws1", "region", "us-east-1", "--description", "where it runs"); !strings.Contains(out, "Created terraform variable region in demo/ws1") {
		t.Fatalf("set printed %q", out)
	}
	// From stdin, with the newline echo adds dropped; sensitive.
	if out := run(secret+"\n", "var", "set", "demo/ws1", "AWS_SECRET", "-", "--env", "--sensitive"); !strings.Contains(out, "Created env variable AWS_SECRET (sensitive)") {
		t.Fatalf("set printed %q", out)
	}
	run("[\"a\", \"b\"]\r\n", "var", "set", "demo/ws1", "zones", "-", "--hcl")
	// The same key in the other category is another variable.
	run("", "var", "set", "demo/ws1", "region", "env-region", "--env")

	out := run("", "var", "list", "demo/ws1")
	for _, want := range []string{"region", "us-east-1", "where it runs", "AWS_SECRET", "(sensitive)", `["a", "b"]`, "env-region"} {
		if !strings.Contains(out, want) {
			t.Errorf("list does not show %q:\n%s", want, out)
		}
	}

	// Update by key and category: the value changes, the description stays.
	if out := run("", "var", "set", "demo/ws1", "region", "eu-west-1"); !strings.Contains(out, "Updated terraform variable region") {
		t.Fatalf("second set printed %q", out)
	}
	run(secret+"-rotated", "var", "set", "demo/ws1", "AWS_SECRET", "-", "--env")

	ws, err := s.api().Workspaces.Read(context.Background(), "demo", "ws1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	vars, err := s.D.Platform.Variables.WorkspaceVariables(rootCtx(), ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		got[v.Category+"/"+v.Key] = v.Value.RevealString()
	}
	want := map[string]string{
		"terraform/region": "eu-west-1", "env/region": "env-region", "terraform/zones": `["a", "b"]`,
		"env/AWS_SECRET": secret + "-rotated",
	}
	if len(got) != len(want) {
		t.Fatalf("server holds %d variables, want %d: %v", len(got), len(want), keys(got))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	list, err := s.api().Variables.List(context.Background(), ws.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range list.Items {
		switch {
		case v.Key == "region" && v.Category == tfe.CategoryTerraform && v.Description != "where it runs":
			t.Errorf("update changed the description to %q", v.Description)
		case v.Key == "AWS_SECRET" && !v.Sensitive:
			t.Error("an update without --sensitive made the variable non-sensitive")
		case v.Key == "zones" && !v.HCL:
			t.Error("zones is not HCL")
		}
	}

	// Once sensitive, always sensitive: the server refuses, and says why.
	s.fails(s.Token, 2, "cannot be made non-sensitive", "var", "set", "demo/ws1", "AWS_SECRET", "x", "--env", "--sensitive=false")

	if out := run("", "var", "delete", "demo/ws1", "region"); !strings.Contains(out, "Deleted terraform variable region") {
		t.Fatalf("delete printed %q", out)
	}
	out = run("", "var", "list", "demo/ws1")
	if strings.Contains(out, "eu-west-1") || !strings.Contains(out, "env-region") {
		t.Fatalf("after deleting the terraform region, list shows:\n%s", out)
	}
	s.fails(s.Token, 1, "terraform variable region in workspace demo/ws1 not found (--env for an environment variable)", "var", "delete", "demo/ws1", "region")
	run("", "var", "delete", "demo/ws1", "region", "--env")
	run("", "var", "delete", "demo/ws1", "AWS_SECRET", "--env")

	if strings.Contains(printed.String(), "s3cr3t") {
		t.Fatalf("a sensitive value was printed:\n%s", printed.String())
	}

	s.fails(s.Token, 1, "workspace demo/nope not found", "var", "set", "demo/nope", "k", "v")
	s.fails(s.Token, 1, "workspace demo/nope not found", "var", "list", "demo/nope")
	s.fails(s.Token, 2, "is not ORG/NAME", "var", "list", "demo")
	s.fails(s.Token, 2, "invalid attribute", "var", "set", "demo/ws1", "bad key", "v")
	s.fails(s.Token, 2, "accepts 3 arg(s)", "var", "set", "demo/ws1", "k")
}

func TestReadValueFromStdin(t *testing.T) {
	for in, want := range map[string]string{
		"v":           "v",
		"v\n":         "v",
		"v\r\n":       "v",
		"v\n\n":       "v\n",
		"multi\nline": "multi\nline",
		"":            "",
	} {
		got, err := readValue(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("readValue(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := readValue(strings.NewReader(strings.Repeat("x", maxVarValue+1))); err == nil {
		t.Error("readValue accepted a value longer than the server's limit")
	}
	if got, err := readValue(strings.NewReader(strings.Repeat("x", maxVarValue) + "\n")); err != nil || len(got) != maxVarValue {
		t.Errorf("readValue of a value at the limit: %d bytes, %v", len(got), err)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
