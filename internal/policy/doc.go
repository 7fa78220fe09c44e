// Package policy evaluates OPA (Rego v1) policy sets against a run's plan:
// the policy-set model and the files HCP Terraform reads a set from
// (policies.hcl / policies.json and .rego modules), an Engine that compiles
// each set version once and evaluates it with a time limit, a memory bound
// and no network or runtime built-ins, the input a policy sees (input.plan,
// input.run), the outcome of a check and which failures an override could
// cover, OPA's test runner for a set's *_test.rego files, and runcred's
// built-in policy library.
//
// The package fails closed: a policy that cannot be compiled, errors,
// times out, exceeds the memory bound, is undefined or yields anything but
// an array is a failure that no override covers, whatever its level.
//
// It knows nothing of storage, HTTP or the run lifecycle; the platform
// builds the Input, keeps sets and versions, and decides what an Outcome
// does to a run.
package policy
