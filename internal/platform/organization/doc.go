// Package organization owns organizations, runcred's tenants, and the
// projects that group their workspaces: their types, their service (which
// authorizes every call first), their SQL (db.go), and Directory, the
// unauthorized lookups other domains make after authorizing on names.
//
// Every organization is created with its default project. Deleting one
// revokes the tokens issued within it first (through TokenRevoker), then
// deletes everything in it.
package organization
