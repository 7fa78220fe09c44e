// Package workspace owns workspaces, where runs happen: the type and its
// settings, the service (which authorizes every call first), the SQL
// (db.go), and Directory, the lookups other domains make by id. A
// workspace's lock and its runs are the run lifecycle's (package platform);
// its agent pool is checked through Pools (package agentpool).
package workspace
