package policy

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Evaluate checks in against every set, one after the other, and never
// fails: whatever goes wrong with a set is an errored policy in its
// result.
func (e *Engine) Evaluate(ctx context.Context, in *Input, sets ...*Set) Outcome {
	out := Outcome{Sets: make([]SetResult, 0, len(sets))}
	for _, s := range sets {
		out.Sets = append(out.Sets, e.EvaluateSet(ctx, in, s))
	}
	return out
}

// EvaluateSet checks in against s: one evaluation of every policy's query,
// under the engine's time limit and memory bound.
func (e *Engine) EvaluateSet(ctx context.Context, in *Input, s *Set) (res SetResult) {
	start := time.Now()
	res = SetResult{SetID: s.ID, Version: s.Version, Overridable: s.Overridable}
	res.Policies = make([]PolicyResult, len(s.Policies))
	for i, p := range s.Policies {
		lvl, err := ParseLevel(string(p.Level))
		if err != nil {
			lvl = HardMandatory
		}
		res.Policies[i] = PolicyResult{Name: p.Name, Description: p.Description, Level: lvl}
	}
	defer func() { res.Duration = time.Since(start) }()
	errorAll := func(msg string) SetResult {
		for i := range res.Policies {
			res.Policies[i].Status, res.Policies[i].Error = Errored, msg
		}
		return res
	}
	if in == nil || in.value == nil {
		return errorAll("no input to evaluate")
	}
	c, err := e.compiled(ctx, s)
	if err != nil {
		return errorAll(regoErrors(err))
	}
	if c.err != nil {
		return errorAll(regoErrors(c.err))
	}
	v, err := e.eval(ctx, c.all, in.value)
	if err != nil {
		if !errors.Is(err, errBound) {
			// One policy's runtime error stops the shared evaluation:
			// find whose it was, each policy on its own.
			return e.attribute(ctx, c, in, s, res, err)
		}
		return errorAll(err.Error())
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errorAll(fmt.Sprintf("internal: the generated query returned %T", v))
	}
	for i := range s.Policies {
		r, found := obj[ruleName(i)]
		res.Policies[i].fill(s.Policies[i].Query, r, found)
	}
	return res
}

// attribute evaluates each policy's query alone after the shared
// evaluation failed with cause, so each policy is judged on its own.
func (e *Engine) attribute(ctx context.Context, c *compiled, in *Input, s *Set, res SetResult, cause error) SetResult {
	// The policies share one time limit, as in the shared evaluation.
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	for i, p := range s.Policies {
		pq, err := e.prepare(ctx, c, "x = "+ruleRef(i))
		if err != nil {
			res.Policies[i].Status, res.Policies[i].Error = Errored, regoErrors(err)
			continue
		}
		v, err := e.eval(ctx, pq, in.value)
		if err != nil {
			res.Policies[i].Status, res.Policies[i].Error = Errored, err.Error()
			continue
		}
		// The query is x = <rule>; x is undefined when the rule is.
		obj, _ := v.(map[string]any)
		r, found := obj["x"]
		res.Policies[i].fill(p.Query, r, found)
	}
	// Should no policy fail alone, the shared failure still stands: it
	// cannot be pinned on one, so it is every passing policy's.
	for _, r := range res.Policies {
		if r.Status == Errored {
			return res
		}
	}
	for i := range res.Policies {
		if res.Policies[i].Status == Passed {
			res.Policies[i].Status, res.Policies[i].Error = Errored, "the set's evaluation failed: "+cause.Error()
		}
	}
	return res
}

func ruleRef(i int) string { return evalPackage.String() + "." + ruleName(i) }

// fill sets r from a query's value: an array is the list of violations,
// anything else, or nothing, is an error.
func (r *PolicyResult) fill(query string, v any, found bool) {
	switch arr, ok := v.([]any); {
	case !found:
		r.Status, r.Error = Errored, fmt.Sprintf("query %s is undefined: no rule produced a value", query)
	case !ok:
		r.Status, r.Error = Errored, fmt.Sprintf("query %s returned %s, not an array", query, kindOf(v))
	case len(arr) == 0:
		r.Status = Passed
	default:
		r.Status = Failed
		keep := min(len(arr), MaxViolations)
		r.Violations = make([]Violation, keep)
		for j, x := range arr[:keep] {
			r.Violations[j] = violation(x)
		}
		r.Omitted = len(arr) - keep
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	default:
		return "a number"
	}
}

// errBound marks an evaluation ended by the time limit or memory bound.
var errBound = errors.New("bound exceeded")

type boundError struct{ msg string }

func (b boundError) Error() string        { return b.msg }
func (b boundError) Is(target error) bool { return target == errBound }

// eval runs pq once on input under the time limit and memory bound and
// returns the value of its single result's bindings (the generated
// query's object, or {"x": value}).
func (e *Engine) eval(ctx context.Context, pq rego.PreparedEvalQuery, input ast.Value) (any, error) {
	limit := e.opts.Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < limit {
		limit = time.Until(d) // the caller's, or the set's shared, limit
	}
	ctx, cancelCtx := context.WithTimeout(ctx, limit)
	defer cancelCtx()
	cancel := topdown.NewCancel()
	var why error
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		why = e.watch(ctx, limit, stop, cancel)
	}()
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel))
	close(stop)
	<-done
	if why != nil {
		return nil, why
	}
	if err != nil {
		return nil, errors.New(regoErrors(err))
	}
	switch len(rs) {
	case 0:
		return map[string]any{}, nil // the query's package or variable is undefined
	case 1:
	default:
		return nil, fmt.Errorf("the query returned %d results, not one", len(rs))
	}
	if len(rs[0].Expressions) == 1 && len(rs[0].Bindings) == 0 {
		return rs[0].Expressions[0].Value, nil
	}
	return map[string]any(rs[0].Bindings), nil
}

// watch cancels an evaluation when ctx ends or the heap has grown past
// the memory bound since it started, and says which, until stop closes.
func (e *Engine) watch(ctx context.Context, limit time.Duration, stop <-chan struct{}, cancel topdown.Cancel) error {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	base := heap()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			cancel.Cancel()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return boundError{fmt.Sprintf("evaluation exceeded the time limit (%s)", limit.Round(time.Millisecond))}
			}
			return boundError{"evaluation canceled: " + ctx.Err().Error()}
		case <-tick.C:
			if h := heap(); h > base && h-base > e.opts.MemoryLimit {
				cancel.Cancel()
				return boundError{fmt.Sprintf("evaluation exceeded the memory bound (heap grew by more than %d MiB)", e.opts.MemoryLimit>>20)}
			}
		}
	}
}
