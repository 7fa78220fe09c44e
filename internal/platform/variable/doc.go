// Package variable owns workspace variables and variable sets with their
// variables: the types, the service (which authorizes every call first),
// its SQL (db.go) and RunInputs, which hands a run its variables. Every
// value is sealed at rest with AAD naming the variable; a sensitive value
// is write-only through the API and leaves runcred only through
// WorkspaceVariables and a job's inputs, where variable sets fill in what
// the workspace does not set. Every write records who made it (a user, a
// team or a run) and each variable may name the one workspace that
// manages it, which policy checks compare.
package variable
