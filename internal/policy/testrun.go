package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/runcred/runcred/internal/fail"
)

// TestResult is one Rego unit test's result, as `opa test` reports it.
type TestResult struct {
	Package  string // e.g. data.terraform.policies.p_test
	Name     string // e.g. test_denies_unknown_role
	Location string // file:line
	Passed   bool
	Skipped  bool   // a todo_ rule
	Error    string // a runtime error, "" when the test ran
	Output   string // what the test printed
	Duration time.Duration
}

// TestTimeout bounds one Rego unit test.
const TestTimeout = 30 * time.Second

// RunTests runs OPA's test runner on every .rego file of a set's files,
// the *_test.rego ones included, with the set's parameters at data.params
// and the same restricted built-ins as evaluation. It returns the results
// sorted by file and line, or the error that kept the tests from running
// (a parse or compile error names the file and line). A set with no test
// is an error: a test run that checks nothing must not look green.
func RunTests(ctx context.Context, files map[string][]byte, params map[string]any) ([]TestResult, error) {
	modules := map[string]*ast.Module{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(name, ".rego") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, string(files[name]), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fail.Wrap(fail.Invalid, err, regoErrors(err))
		}
		modules[name] = m
	}
	p, err := jsonValue(params)
	if err != nil {
		return nil, fail.Invalidf("parameters: %v", err)
	}
	compiler := ast.NewCompiler().WithCapabilities(capabilities()).WithEnablePrintStatements(true)
	ch, err := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(inmem.NewFromObject(map[string]any{"params": p})).
		SetModules(modules).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		SetTimeout(TestTimeout).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fail.Wrap(fail.Invalid, err, regoErrors(err))
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{
			Package: r.Package, Name: r.Name, Passed: r.Pass(), Skipped: r.Skip,
			Output: string(r.Output), Duration: r.Duration,
		}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		if r.Error != nil {
			tr.Error = r.Error.Error()
		}
		out = append(out, tr)
	}
	if len(out) == 0 {
		return nil, fail.Invalidf("the policy set has no Rego tests (test_ rules in *_test.rego files)")
	}
	slices.SortFunc(out, func(a, b TestResult) int { return strings.Compare(a.Location, b.Location) })
	return out, nil
}
