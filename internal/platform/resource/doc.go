// Package resource owns what every platform domain shares: resource ids
// and the rules names and descriptions follow, where each resource sits in
// the authorization tree (paths in the broker's ACL vocabulary, so broker
// policies govern the platform too), who made a change (provenance, derived
// from the caller), pages of lists, signed URLs, Tokens (the broker that
// issues API and job tokens), and Deps, the database, seal, audit log and
// authorizer every domain service is built on.
//
// It imports no domain; every domain imports it.
package resource
