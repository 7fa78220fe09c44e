// Package run owns the run lifecycle, in one place: runs and their plans,
// applies and logs (runs.go, phases.go), the transition table every status
// change follows (runstate.go), advancing and promoting runs and the
// user actions apply, discard, cancel and force-cancel (runflow.go),
// workspace locks, which hold a workspace's runs (locks.go), and the
// server side of the agent protocol: claims and job tokens (jobs.go) and
// the agents' reports (reports.go). All of its SQL is in db.go.
//
// One run per workspace is active (the database enforces it) and the rest
// wait, FIFO. A claimed phase is driven with a job token of its own; every
// report checks that token against the phase first, and the service, not
// its HTTP front (internal/jobserver), decides whether a phase is a plan
// or an apply and mints workload identity tokens only for the phase it has
// just checked (MintForJob). Saved plans, plan JSON and log chunks are
// sealed with AAD naming their row.
package run
