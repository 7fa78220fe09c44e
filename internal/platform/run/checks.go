package run

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// MaxJustification bounds an override's justification.
const MaxJustification = 2048

// Checks returns run runID's task stages: its post_plan check, if any.
func (s *Service) Checks(ctx context.Context, runID string) ([]Check, error) {
	r, err := s.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	c, err := checkWhere(ctx, s.base.DB, `run_id = ?`, r.ID)
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []Check{c}, nil
}

// Check returns task stage id (ts-…), or the one whose policy evaluation
// (poleval-…) or policy set outcome (psout-…) is id, with the index of the
// outcome (-1 for the others).
func (s *Service) Check(ctx context.Context, id string) (Check, int, error) {
	stage, idx, ok := stageOf(id)
	if !ok {
		return Check{}, 0, fail.NotFoundf("%q not found", fail.Clip(id))
	}
	c, err := checkWhere(ctx, s.base.DB, `id = ?`, stage)
	if err != nil {
		return Check{}, 0, resource.NotFound(err, "%q not found", id)
	}
	if _, err := s.Run(ctx, c.RunID); err != nil {
		if fail.Is(err, fail.Denied) {
			// Whoever may not read the run learns nothing of its checks;
			// Override's own denial (a 403) is for those who may.
			return Check{}, 0, fail.NotFoundf("%q not found", fail.Clip(id))
		}
		return Check{}, 0, err
	}
	if idx >= len(c.Outcome.Sets) {
		return Check{}, 0, fail.NotFoundf("%q not found", fail.Clip(id))
	}
	return c, idx, nil
}

// stageOf maps a task stage, policy evaluation or policy set outcome id
// to its task stage's id.
func stageOf(id string) (string, int, bool) {
	prefix, rest, _ := strings.Cut(id, "-")
	switch prefix {
	case "ts", "poleval":
		return "ts-" + rest, -1, resource.ValidID("ts", "ts-"+rest)
	case "psout":
		if len(rest) < 5 {
			return "", 0, false
		}
		n, tail := 0, rest[len(rest)-4:]
		for _, ch := range tail {
			if ch < '0' || ch > '9' {
				return "", 0, false
			}
			n = n*10 + int(ch-'0')
		}
		stage := "ts-" + rest[:len(rest)-4]
		return stage, n, resource.ValidID("ts", stage)
	}
	return "", 0, false
}

// CanOverride reports whether the caller holds the manage-policy-overrides
// grant on run r of workspace w (for task stages' permissions).
func (s *Service) CanOverride(ctx context.Context, runID string) bool {
	r, w, err := s.run(ctx, runID)
	if err != nil {
		return false
	}
	return s.base.Authorize(ctx, runActionPath(w.Organization, w.Name, r.ID, "override"), access.Update) == nil
}

// Override lets run of task stage stageID go on past its overridable
// mandatory failures. It needs the manage-policy-overrides grant (update
// on the run's actions/override path, which organization members are
// denied) and a written justification. Only a check that awaits an override
// can be overridden: hard-mandatory and errored policies never leave a run
// awaiting one, whoever asks, root included. The override is bound to the
// plan evaluated (its hash, checked again here and at apply) and the set
// versions, and audited with the failures it covers.
func (s *Service) Override(ctx context.Context, stageID, justification string) (Check, Run, error) {
	c, idx, err := s.Check(ctx, stageID)
	if err != nil || idx >= 0 || !strings.HasPrefix(stageID, "ts-") {
		if err == nil {
			err = fail.NotFoundf("task stage %q not found", fail.Clip(stageID))
		}
		return Check{}, Run{}, err
	}
	r, w, err := s.run(ctx, c.RunID)
	if err != nil {
		return Check{}, Run{}, err
	}
	if err := s.base.Authorize(ctx, runActionPath(w.Organization, w.Name, r.ID, "override"), access.Update); err != nil {
		return Check{}, Run{}, err
	}
	justification = strings.TrimSpace(justification)
	if justification == "" || len(justification) > MaxJustification || !utf8.ValidString(justification) {
		return Check{}, Run{}, fail.Invalidf("an override needs a justification (comment) of 1 to %d bytes of UTF-8", MaxJustification)
	}
	if c.Status != StageAwaitingOverride || r.Status != PostPlanAwaitingDecision {
		return Check{}, Run{}, fail.Conflictf("task stage %s is %s and run %s is %s: only a check whose every blocking failure is an overridable mandatory one can be overridden; hard-mandatory and errored policies cannot",
			c.ID, c.Status, r.ID, r.Status)
	}
	for _, set := range c.Outcome.Sets {
		for _, p := range set.Policies {
			if p.Blocking && !p.Overridable {
				return Check{}, Run{}, fail.Conflictf("policy %s of set %s is %s %s and cannot be overridden", p.Name, set.Name, p.Level, p.Status)
			}
		}
	}
	plan, err := s.storedPlanJSON(ctx, r)
	if err != nil {
		return Check{}, Run{}, err
	}
	if h := planHash(plan); h != c.PlanHash {
		return Check{}, Run{}, fail.Conflictf("run %s's plan is not the one its policies checked", r.ID)
	}
	by, err := resource.WriterOf(ctx)
	if err != nil {
		return Check{}, Run{}, err
	}
	if err := s.base.Record(ctx, "platform.policy.override", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "task_stage_id": c.ID,
		"justification": justification, "plan_hash": c.PlanHash, "sets": c.Outcome.versions(), "failures": c.Outcome.failures(),
	}); err != nil {
		return Check{}, Run{}, err
	}
	c.OverriddenBy = string(by.Kind) + ":" + by.ID
	c.OverrideComment, c.OverrideHash = justification, c.PlanHash
	c.UpdatedAt = store.Stored(s.base.Now())
	c.Timestamps["overridden-at"] = c.UpdatedAt
	if err := overrideCheck(ctx, s.base.DB, c); err != nil {
		return Check{}, Run{}, err
	}
	c.Status = StageOverridden
	if err := s.appendServerLog(ctx, r, "\nPolicy check overridden by "+by.Name+" ("+c.OverriddenBy+"): "+justification+"\n"); err != nil {
		return Check{}, Run{}, err
	}
	out, err := s.advance(ctx, r.ID, step{through: append([]Status{PostPlanCompleted}, afterPlan(r, r.HasChanges)...),
		check: func(cur Run) error {
			if cur.Status != PostPlanAwaitingDecision {
				return fail.Conflictf("run %s is %s, not %s", cur.ID, cur.Status, PostPlanAwaitingDecision)
			}
			return nil
		}})
	return c, out, err
}

// checkOverride is the apply's check of an overridden run: its plan must
// still be the one the override covered.
func (s *Service) checkOverride(ctx context.Context, r Run) error {
	c, err := checkWhere(ctx, s.base.DB, `run_id = ?`, r.ID)
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch c.Status {
	case StagePassed:
		return nil
	case StageOverridden:
		plan, err := s.storedPlanJSON(ctx, r)
		if err != nil {
			return err
		}
		if planHash(plan) != c.OverrideHash {
			return fail.Conflictf("run %s's plan is not the one its policy override covered", r.ID)
		}
		return nil
	}
	return fail.Conflictf("run %s's policy check is %s", r.ID, c.Status)
}
