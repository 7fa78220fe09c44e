package run

import (
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// Status is where a run is in its lifecycle; the values are HCP
// Terraform's.
type Status string

const (
	Pending    Status = "pending"     // queued behind the workspace's active run
	PlanQueued Status = "plan_queued" // holds the workspace; waits for an agent
	Planning   Status = "planning"    // an agent is planning
	Planned    Status = "planned"     // waits for confirmation
	// The post_plan task stage: the server checks the plan against the
	// policy sets that apply to the workspace (postplan.go).
	PostPlanRunning          Status = "post_plan_running"
	PostPlanCompleted        Status = "post_plan_completed"         // passes on at once
	PostPlanAwaitingDecision Status = "post_plan_awaiting_decision" // an overridable failure waits for an override
	Confirmed                Status = "confirmed"                   // confirmed; passes on to apply_queued at once
	ApplyQueued              Status = "apply_queued"                // waits for an agent
	Applying                 Status = "applying"                    // an agent is applying
	Applied                  Status = "applied"
	PlannedAndFinished       Status = "planned_and_finished" // plan-only, or nothing to change
	Discarded                Status = "discarded"
	Errored                  Status = "errored"
	Canceled                 Status = "canceled"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{
	Pending, PlanQueued, Planning, PostPlanRunning, PostPlanCompleted, PostPlanAwaitingDecision, Planned, Confirmed, ApplyQueued, Applying,
	Applied, PlannedAndFinished, Discarded, Errored, Canceled,
}

// transitions is the whole run state machine: every move a run may make.
// Anything not listed is refused with a conflict. Terminal statuses have no
// entry. A plan with policy sets to check passes through the post_plan
// stage: running, then completed (on to planned or planned_and_finished),
// awaiting a decision (an override, or a discard), or errored.
var transitions = map[Status][]Status{
	Pending:                  {PlanQueued, Canceled},
	PlanQueued:               {Planning, Canceled, Errored},
	Planning:                 {Planned, PlannedAndFinished, PostPlanRunning, Canceled, Errored},
	PostPlanRunning:          {PostPlanCompleted, PostPlanAwaitingDecision, Canceled, Errored},
	PostPlanAwaitingDecision: {PostPlanCompleted, Discarded, Canceled, Errored},
	PostPlanCompleted:        {Planned, PlannedAndFinished, Errored},
	Planned:                  {Confirmed, Discarded, Errored},
	Confirmed:                {ApplyQueued, Errored},
	ApplyQueued:              {Applying, Canceled, Errored},
	Applying:                 {Applied, Canceled, Errored},
}

// CanMove reports whether a run in from may move to to.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether s is final; a run in a final status releases
// its workspace to the next pending run.
func (s Status) Terminal() bool {
	switch s {
	case Applied, PlannedAndFinished, Discarded, Errored, Canceled:
		return true
	}
	return false
}

// holdsWorkspace reports whether a run in s is its workspace's active run.
func (s Status) holdsWorkspace() bool { return s != Pending && !s.Terminal() }

// timestampKey is s's key in status-timestamps ("plan_queued" →
// "plan-queued-at"), as HCP Terraform names them.
func (s Status) timestampKey() string { return strings.ReplaceAll(string(s), "_", "-") + "-at" }

// move checks one step and says clearly why it is refused: the caller asked
// for something the run's status does not allow, a 409 for API clients.
func move(runID string, from, to Status) error {
	if CanMove(from, to) {
		return nil
	}
	return fail.Conflictf("run %s is %s and cannot become %s", runID, from, to)
}

// action names what a caller asks for, for refusal messages that speak the
// caller's language ("cannot be applied") rather than the table's.
func refuse(runID string, from Status, action string) error {
	return fail.Conflictf("run %s cannot be %s: it is %s", runID, action, from)
}
