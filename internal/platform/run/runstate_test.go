package run

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
)

// TestTransitions checks every (from, to) pair against the lifecycle as
// written out here, independently of the table: allowed moves succeed,
// every other move is a conflict naming both statuses.
func TestTransitions(t *testing.T) {
	allowed := map[string]bool{}
	for _, m := range []string{
		"pending>plan_queued", "pending>canceled",
		"plan_queued>planning", "plan_queued>canceled", "plan_queued>errored",
		"planning>planned", "planning>planned_and_finished", "planning>canceled", "planning>errored", "planning>post_plan_running",
		"post_plan_running>post_plan_completed", "post_plan_running>post_plan_awaiting_decision",
		"post_plan_running>canceled", "post_plan_running>errored",
		"post_plan_awaiting_decision>post_plan_completed", "post_plan_awaiting_decision>discarded",
		"post_plan_awaiting_decision>canceled", "post_plan_awaiting_decision>errored",
		"post_plan_completed>planned", "post_plan_completed>planned_and_finished", "post_plan_completed>errored",
		"planned>confirmed", "planned>discarded", "planned>errored",
		"confirmed>apply_queued", "confirmed>errored",
		"apply_queued>applying", "apply_queued>canceled", "apply_queued>errored",
		"applying>applied", "applying>canceled", "applying>errored",
	} {
		allowed[m] = true
	}
	n := 0
	for _, from := range Statuses {
		for _, to := range Statuses {
			want := allowed[string(from)+">"+string(to)]
			if got := CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
			err := move("run-X", from, to)
			switch {
			case want && err != nil:
				t.Errorf("move(%s, %s) = %v", from, to, err)
			case !want && (!fail.Is(err, fail.Conflict) || !strings.Contains(err.Error(), "is "+string(from)+" and cannot become "+string(to))):
				t.Errorf("move(%s, %s) = %v, want a conflict naming both", from, to, err)
			}
			if want {
				n++
			}
		}
		if from.Terminal() != (len(transitions[from]) == 0) {
			t.Errorf("%s: Terminal() = %v but has %d moves", from, from.Terminal(), len(transitions[from]))
		}
	}
	if n != len(allowed) {
		t.Errorf("%d moves allowed, want %d (a status in the list is misspelt)", n, len(allowed))
	}
}

func TestHoldsWorkspace(t *testing.T) {
	for _, s := range Statuses {
		want := s != Pending && !s.Terminal()
		if s.holdsWorkspace() != want {
			t.Errorf("%s holds workspace = %v", s, !want)
		}
	}
	if got := PlannedAndFinished.timestampKey(); got != "planned-and-finished-at" {
		t.Errorf("timestamp key = %q", got)
	}
}
