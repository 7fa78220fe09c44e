// Package team owns an organization's teams and their tokens: the types,
// the service (which authorizes every call first), the SQL (db.go) and the
// broker policy a team's tokens hold (policy.go). runcred has no user
// accounts: a team is the identity its tokens carry, which is what
// variable provenance records for their writes. The tokens themselves are
// issued and revoked through apitoken.Ledger.
package team
