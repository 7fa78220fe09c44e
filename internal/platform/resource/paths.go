package resource

// Authorization paths every domain builds on, in the broker's ACL
// vocabulary. Names never hold '/', so each is exactly one path segment.
func OrgsPath() string                    { return "runcred/orgs" }
func OrgPath(org string) string           { return "runcred/orgs/" + org }
func ProjectPath(org, name string) string { return OrgPath(org) + "/projects/" + name }
func ProjectsPath(org string) string      { return OrgPath(org) + "/projects" }
func WorkspacesPath(org string) string    { return OrgPath(org) + "/workspaces" }
func WorkspacePath(org, ws string) string { return WorkspacesPath(org) + "/" + ws }
func VarsPath(org, ws string) string      { return WorkspacePath(org, ws) + "/vars" }
func VarPath(org, ws, key string) string  { return VarsPath(org, ws) + "/" + key }

// RunVarsPath is where reading decrypted values for a run is granted: apart
// from vars/, so reading variable metadata never implies reading secrets.
func RunVarsPath(org, ws string) string { return WorkspacePath(org, ws) + "/run-variables" }

// Teams and agent pools are named by id in their paths; their tokens sit
// under them (see apitoken.TokensPath).
func TeamsPath(org string) string    { return OrgPath(org) + "/teams" }
func TeamPath(org, id string) string { return TeamsPath(org) + "/" + id }
func PoolsPath(org string) string    { return OrgPath(org) + "/agent-pools" }
func PoolPath(org, id string) string { return PoolsPath(org) + "/" + id }

// AgentPath is where driving a workspace's runs as an agent is granted.
func AgentPath(org, ws string) string { return WorkspacePath(org, ws) + "/agent" }
