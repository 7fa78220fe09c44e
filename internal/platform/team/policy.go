package team

import (
	"strings"

	"github.com/runcred/runcred/internal/platform/resource"
)

// teamPolicyBody is what an organization member may do, as HCP Terraform's
// "write" workspace permission on every workspace: read and list the
// organization's resources; write variables; queue,
// apply, discard and cancel runs; upload configuration; lock and unlock
// workspaces (not force-unlock another's lock). Not: create,
// change or delete workspaces (their settings choose where and how runs
// execute: agent pool, auto-apply, working directory),
// read run variables (decrypted sensitive values), act as a run's agent,
// override a policy check, or change the organization, its projects,
// pools, teams and variable sets. An admin widens it with another policy
// or by editing this one through the broker's sys/policies/acl API.
func teamPolicyBody(org, id string) string {
	o := resource.OrgPath(org)
	ws := resource.WorkspacesPath(org) + "/+"
	rules := []struct{ path, caps string }{
		{o, `"read"`},
		{o + "/*", `"read", "list"`},
		{ws, `"read"`},
		{ws + "/vars/*", `"create", "read", "update", "delete", "list"`},
		{ws + "/runs", `"create", "read", "list"`},
		{ws + "/runs/*", `"read", "update"`},
		{ws + "/configuration-versions", `"create", "read", "list"`},
		{ws + "/actions/lock", `"update"`},
		{ws + "/actions/unlock", `"update"`},
		{ws + "/run-variables", `"deny"`},
		{ws + "/agent", `"deny"`},
		{ws + "/runs/+/actions/override", `"deny"`},
	}
	var b strings.Builder
	b.WriteString("# runcred team " + id + " of organization " + org + ": an organization member.\n")
	for _, r := range rules {
		b.WriteString(`path "` + r.path + `" { capabilities = [` + r.caps + "] }\n")
	}
	return b.String()
}
