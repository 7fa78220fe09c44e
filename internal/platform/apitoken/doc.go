// Package apitoken owns the API tokens runcred issues to teams and agent
// pools: the broker issues each (so one ACL governs the platform API and
// the broker alike) and this package keeps the ledger that lists and
// revokes them (db.go). Service serves reads and deletes of single tokens
// to callers it authorizes; Ledger is what the team and agent pool domains
// call after authorizing their own callers.
package apitoken
