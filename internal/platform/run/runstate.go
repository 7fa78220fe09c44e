package run

import (
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// RunStatus is where a run is in its lifecycle; the values are HCP
// Terraform's.
type RunStatus string

const (
	RunPending            RunStatus = "pending"      // queued behind the workspace's active run
	RunPlanQueued         RunStatus = "plan_queued"  // holds the workspace; waits for an agent
	RunPlanning           RunStatus = "planning"     // an agent is planning
	RunPlanned            RunStatus = "planned"      // waits for confirmation
	RunConfirmed          RunStatus = "confirmed"    // confirmed; passes on to apply_queued at once
	RunApplyQueued        RunStatus = "apply_queued" // waits for an agent
	RunApplying           RunStatus = "applying"     // an agent is applying
	RunApplied            RunStatus = "applied"
	RunPlannedAndFinished RunStatus = "planned_and_finished" // plan-only, or nothing to change
	RunDiscarded          RunStatus = "discarded"
	RunErrored            RunStatus = "errored"
	RunCanceled           RunStatus = "canceled"
)

// RunStatuses lists every status, in lifecycle order.
var RunStatuses = []RunStatus{
	RunPending, RunPlanQueued, RunPlanning, RunPlanned, RunConfirmed, RunApplyQueued, RunApplying,
	RunApplied, RunPlannedAndFinished, RunDiscarded, RunErrored, RunCanceled,
}

// transitions is the whole run state machine: every move a run may make.
// Anything not listed is refused with a conflict. Terminal statuses have no
// entry. policy_checking comes between planned and confirmed in a later slice.
var transitions = map[RunStatus][]RunStatus{
	RunPending:     {RunPlanQueued, RunCanceled},
	RunPlanQueued:  {RunPlanning, RunCanceled, RunErrored},
	RunPlanning:    {RunPlanned, RunPlannedAndFinished, RunCanceled, RunErrored},
	RunPlanned:     {RunConfirmed, RunDiscarded, RunErrored},
	RunConfirmed:   {RunApplyQueued, RunErrored},
	RunApplyQueued: {RunApplying, RunCanceled, RunErrored},
	RunApplying:    {RunApplied, RunCanceled, RunErrored},
}

// CanMove reports whether a run in from may move to to.
func CanMove(from, to RunStatus) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether s is final; a run in a final status releases
// its workspace to the next pending run.
func (s RunStatus) Terminal() bool {
	switch s {
	case RunApplied, RunPlannedAndFinished, RunDiscarded, RunErrored, RunCanceled:
		return true
	}
	return false
}

// holdsWorkspace reports whether a run in s is its workspace's active run.
func (s RunStatus) holdsWorkspace() bool { return s != RunPending && !s.Terminal() }

// timestampKey is s's key in status-timestamps ("plan_queued" →
// "plan-queued-at"), as HCP Terraform names them.
func (s RunStatus) timestampKey() string { return strings.ReplaceAll(string(s), "_", "-") + "-at" }

// move checks one step and says clearly why it is refused: the caller asked
// for something the run's status does not allow, a 409 for API clients.
func move(runID string, from, to RunStatus) error {
	if CanMove(from, to) {
		return nil
	}
	return fail.Conflictf("run %s is %s and cannot become %s", runID, from, to)
}

// action names what a caller asks for, for refusal messages that speak the
// caller's language ("cannot be applied") rather than the table's.
func refuse(runID string, from RunStatus, action string) error {
	return fail.Conflictf("run %s cannot be %s: it is %s", runID, action, from)
}
