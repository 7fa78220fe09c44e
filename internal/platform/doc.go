// Package platform wires runcred's HCP-Terraform-shaped domain together:
// Service holds one service per domain, each in a package of its own with
// the same shape (its types, a service that authorizes every call first,
// its SQL, and lookups other domains may use):
//
//	resource       what every domain shares: ids, names, authorization
//	               paths, provenance, pages, signed URLs, the broker's token
//	               interface and Deps (database, seal, audit, authorizer)
//	organization   organizations and their projects
//	apitoken       the ledger of teams' and agent pools' API tokens
//	team           teams and their tokens
//	agentpool      agent pools and their agent tokens
//	workspace      workspaces
//	variable       workspace variables and variable sets, with provenance
//	configversion  configuration versions and their archives
//	state          state versions
//	runtrigger     run triggers: a source workspace's applies queue runs
//	               in the workspace
//	run            the run lifecycle: runs, their plans and applies and
//	               logs, workspace locks, claims and the agents' reports
//
// Dependencies point one way, in the order above: a domain imports only
// domains listed before it, and where a later domain must act (an upload
// queues a run, deleting an organization revokes its tokens), the earlier
// one declares a small interface that New fills in.
//
// Subpackage api serves all of this as the HCP Terraform API v2 (JSON:API
// under /api/v2), so go-tfe and terraform-provider-tfe drive it unchanged;
// it only translates. Policy checks come in a later slice.
package platform
