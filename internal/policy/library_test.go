package policy

import (
	"testing"
)

// TestLibraryRegoTests runs the library's Rego unit tests through OPA's
// test runner; each must pass, and there must be some.
func TestLibraryRegoTests(t *testing.T) {
	res, err := RunTests(t.Context(), LibraryFiles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 30 {
		t.Errorf("only %d Rego tests ran", len(res))
	}
	for _, r := range res {
		if !r.Passed || r.Skipped {
			t.Errorf("%s %s.%s: passed=%v skipped=%v %s %s", r.Location, r.Package, r.Name, r.Passed, r.Skipped, r.Error, r.Output)
		}
	}
}

func TestLibraryCompiles(t *testing.T) {
	s := Library(map[string]any{"allowed_role_arns": []any{"arn:aws:iam::111111111111:role/*"}})
	if err := New(Options{}).Compile(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	levels := map[string]Level{}
	for _, p := range s.Policies {
		levels[p.Name] = p.Level
	}
	if levels["protected-variables"] != HardMandatory || levels["allowed-assume-roles"] != Mandatory || levels["no-credentials-in-state"] != Advisory {
		t.Fatalf("levels %v", levels)
	}
}
