// Package state owns state versions, the Terraform states runs write: the
// type, the service (reads it authorizes first), the SQL (db.go), and
// Directory, through which the run lifecycle stores an applying run's
// state and hands a job the current one. A stored state's serial must
// exceed the current one's and its lineage match, as Terraform's own
// backends demand; every state is sealed at rest, and every read of one
// is on the audit record, because state holds secrets.
package state
