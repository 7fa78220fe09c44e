// Package policyset owns an organization's OPA policies and policy sets, as
// HCP Terraform models them: policies with their Rego source, query and
// enforcement level (kept outside the Rego); policy sets with their
// policies, scope (global with exclusions, projects, workspaces),
// parameters (sensitive ones sealed at rest) and uploaded versions (a
// .tar.gz with policies.hcl or policies.json at its root). Every edit of a
// set, of one of its policies or parameters, or an upload gives the set a
// new revision: the version a run's check names and the engine compiles
// once.
//
// Managing policies and sets needs a grant on the organization's
// policy-sets or policies paths, which organization members do not hold;
// nothing here evaluates anything. Directory hands a run the policy.Set
// versions that apply to its workspace (internal/platform/run evaluates
// them after the plan).
package policyset
