package policy

import (
	"encoding/json"
	"time"
)

// Status is one policy's result.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"  // the policy ran and found violations
	Errored Status = "errored" // the policy could not be evaluated: a failure no override covers
)

// MaxViolations bounds the violations kept of one policy's result: a
// policy that flags every resource of a large plan still fails, and its
// result stays small enough to store and print.
const MaxViolations = 1000

// Violation is one element of a policy's result array.
type Violation struct {
	// Message is the element itself when it is a string, else its "msg"
	// or "message" field when that is a string, else its JSON.
	Message string
	// Value is the element as the policy produced it, for policies that
	// return structured violations.
	Value any
}

// PolicyResult is one policy's part of a set's evaluation.
type PolicyResult struct {
	Name        string
	Description string
	// Level is the policy's configured level. An errored policy blocks as
	// hard-mandatory whatever its level; Blocking and Overridable say so.
	Level  Level
	Status Status
	// Violations are the first MaxViolations of the policy's result.
	Violations []Violation
	// Omitted counts the violations past MaxViolations, not kept.
	Omitted int
	// Error says why the policy could not be evaluated (Errored only). It
	// may quote the policy's own source and messages, never the input.
	Error string
}

// Blocking reports whether the result stops the run until overridden
// (when Overridable) or for good.
func (r PolicyResult) Blocking() bool {
	return r.Status == Errored || r.Status == Failed && r.Level != Advisory
}

// SetResult is one policy set version's evaluation.
type SetResult struct {
	SetID       string
	Version     string
	Overridable bool
	Policies    []PolicyResult
	Duration    time.Duration
}

// Overridable reports whether an override could cover r, a result of s: a
// mandatory failure in an overridable set, and nothing else.
func (s SetResult) overridable(r PolicyResult) bool {
	return s.Overridable && r.Status == Failed && r.Level == Mandatory
}

// OutcomeStatus is a check's overall status, the worst of its policies'.
type OutcomeStatus string

const (
	OutcomePassed OutcomeStatus = "passed"
	// OutcomeAdvisoryFailed: only advisory policies failed; the run goes on.
	OutcomeAdvisoryFailed OutcomeStatus = "advisory-failed"
	// OutcomeSoftFailed: blocking failures, every one of them overridable.
	OutcomeSoftFailed OutcomeStatus = "soft-failed"
	// OutcomeHardFailed: at least one blocking failure no override covers.
	OutcomeHardFailed OutcomeStatus = "hard-failed"
)

// Outcome is a run's policy check: every set evaluated.
type Outcome struct {
	Sets []SetResult
}

// Failure names one failed or errored policy of an outcome.
type Failure struct {
	SetID, Version string
	Policy         PolicyResult
}

// Status is the outcome's overall status.
func (o Outcome) Status() OutcomeStatus {
	st := OutcomePassed
	for _, s := range o.Sets {
		for _, r := range s.Policies {
			switch {
			case r.Status == Passed:
			case !r.Blocking():
				if st == OutcomePassed {
					st = OutcomeAdvisoryFailed
				}
			case s.overridable(r):
				if st != OutcomeHardFailed {
					st = OutcomeSoftFailed
				}
			default:
				return OutcomeHardFailed
			}
		}
	}
	return st
}

// Failures are every policy that did not pass.
func (o Outcome) Failures() []Failure {
	return o.filter(func(_ SetResult, r PolicyResult) bool { return r.Status != Passed })
}

// Overridable are the failures an override could cover. An override is
// possible only when the outcome is soft-failed; when it is hard-failed
// these are still listed, but overriding them does not let the run go on.
func (o Outcome) Overridable() []Failure {
	return o.filter(func(s SetResult, r PolicyResult) bool { return s.overridable(r) })
}

// Unoverridable are the blocking failures no override covers.
func (o Outcome) Unoverridable() []Failure {
	return o.filter(func(s SetResult, r PolicyResult) bool { return r.Blocking() && !s.overridable(r) })
}

func (o Outcome) filter(keep func(SetResult, PolicyResult) bool) []Failure {
	var out []Failure
	for _, s := range o.Sets {
		for _, r := range s.Policies {
			if keep(s, r) {
				out = append(out, Failure{SetID: s.SetID, Version: s.Version, Policy: r})
			}
		}
	}
	return out
}

// violation reads one element of a result array.
func violation(v any) Violation {
	switch x := v.(type) {
	case string:
		return Violation{Message: x, Value: v}
	case map[string]any:
		for _, k := range []string{"msg", "message"} {
			if m, ok := x[k].(string); ok {
				return Violation{Message: m, Value: v}
			}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Violation{Message: "(a violation that is not JSON)", Value: v}
	}
	return Violation{Message: string(b), Value: v}
}
