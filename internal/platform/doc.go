// Package platform owns runcred's HCP-Terraform-shaped domain: organizations,
// their projects, workspaces, workspace variables with provenance,
// configuration versions, runs with their plans and applies and logs, state
// versions, variable sets, agent pools with their tokens, and teams with
// theirs. Policy checks come in a later slice.
//
// A run moves only along the transition table in runstate.go; one run per
// workspace is active (the database enforces it) and the rest wait, FIFO.
// Agents drive runs through the interface in agent.go, each phase with a
// job token of its own (jobs.go). Archives, plan JSON,
// log chunks and state are sealed with AAD naming their row; go-tfe reaches
// uploads, logs and downloads by signed URLs (signed.go).
//
// Every Service method authorizes first, with paths in the broker's ACL
// vocabulary (see paths.go), so broker policies govern the platform too.
// Every variable value is sealed at rest with AAD naming the variable; a
// sensitive value is write-only through the API and leaves runcred only
// through WorkspaceVariables and a job's inputs (jobs.go), where variable
// sets fill in what the workspace does not set. Every
// write records who made it (a user, a team or a run) and each variable may
// name the one workspace that manages it, which policy checks compare.
//
// Subpackage api serves all of this as the HCP Terraform API v2 (JSON:API
// under /api/v2), so go-tfe and terraform-provider-tfe drive it unchanged.
package platform
