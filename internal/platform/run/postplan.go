package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/policyset"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/store"
)

// The post_plan task stage. After a plan, when policy sets apply to the
// workspace, the server (never the agent, which ran the configuration's
// code) evaluates them against the stored, scrubbed JSON plan and facts the
// workspace cannot influence, stores the outcome and moves the run:
//
//	planning → post_plan_running → post_plan_completed → planned | planned_and_finished | (auto-apply) apply_queued
//	                             → post_plan_awaiting_decision   every blocking failure overridable
//	                             → errored                       a failure no override covers
//
// An override (Override) is bound to the plan's hash and the set versions
// evaluated; the apply checks the hash again.

// PolicySets finds the policy sets that apply to a workspace
// (policyset.Directory).
type PolicySets interface {
	Applicable(ctx context.Context, w workspace.Workspace) ([]*policy.Set, []policyset.Set, error)
}

// Task stage statuses, as HCP Terraform's (plus overridden, its policy
// evaluations' status after an override).
const (
	StageRunning          = "running"
	StagePassed           = "passed"
	StageFailed           = "failed"
	StageAwaitingOverride = "awaiting_override"
	StageErrored          = "errored"
	StageOverridden       = "overridden"
	StageCanceled         = "canceled"
)

// Check is a run's post_plan task stage: its one policy evaluation and
// the outcome of each policy set.
type Check struct {
	ID       string // the task stage's id (ts-…)
	RunID    string
	Status   string // a Stage* status
	Outcome  CheckOutcome
	PlanHash string // SHA-256 of the plan JSON evaluated
	// Set when overridden.
	OverriddenBy    string
	OverrideComment string
	OverrideHash    string
	Timestamps      map[string]time.Time // running-at, passed-at, failed-at, errored-at, ...
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// EvaluationID is the id of the check's policy evaluation.
func (c Check) EvaluationID() string { return "poleval-" + strings.TrimPrefix(c.ID, "ts-") }

// OutcomeID is the id of the check's i-th policy set outcome.
func (c Check) OutcomeID(i int) string {
	return fmt.Sprintf("psout-%s%04d", strings.TrimPrefix(c.ID, "ts-"), i)
}

// CheckOutcome is what the evaluation found, as stored.
type CheckOutcome struct {
	Status policy.OutcomeStatus `json:"status"`
	Error  string               `json:"error,omitempty"` // the check could not run at all
	Sets   []SetOutcome         `json:"sets"`
}

// SetOutcome is one policy set version's result.
type SetOutcome struct {
	SetID       string          `json:"set_id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Version     string          `json:"version"`
	Overridable bool            `json:"overridable"`
	DurationMS  int64           `json:"duration_ms"`
	Policies    []PolicyOutcome `json:"policies"`
}

// PolicyOutcome is one policy's result.
type PolicyOutcome struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Query       string        `json:"query"`
	Level       policy.Level  `json:"level"`
	Status      policy.Status `json:"status"`
	Violations  []string      `json:"violations,omitempty"`
	Error       string        `json:"error,omitempty"`
	Blocking    bool          `json:"blocking"`
	Overridable bool          `json:"overridable"`
}

// Counts are HCP Terraform's result counts of o.
func (o SetOutcome) Counts() (passed, advisoryFailed, mandatoryFailed, errored int) {
	for _, p := range o.Policies {
		switch {
		case p.Status == policy.Passed:
			passed++
		case p.Status == policy.Errored:
			errored++
		case p.Level == policy.Advisory:
			advisoryFailed++
		default:
			mandatoryFailed++
		}
	}
	return
}

func toOutcome(o policy.Outcome, sets []*policy.Set, meta []policyset.Set) CheckOutcome {
	out := CheckOutcome{Status: o.Status()}
	for i, s := range o.Sets {
		so := SetOutcome{SetID: s.SetID, Version: s.Version, Overridable: s.Overridable, DurationMS: s.Duration.Milliseconds()}
		if i < len(meta) {
			so.Name, so.Description = meta[i].Name, meta[i].Description
		}
		queries := map[string]string{}
		if i < len(sets) {
			for _, p := range sets[i].Policies {
				queries[p.Name] = p.Query
			}
		}
		for _, r := range s.Policies {
			po := PolicyOutcome{Name: r.Name, Description: r.Description, Query: queries[r.Name], Level: r.Level, Status: r.Status, Error: r.Error,
				Blocking: r.Blocking(), Overridable: r.Blocking() && s.Overridable && r.Status == policy.Failed && r.Level == policy.Mandatory}
			for _, v := range r.Violations {
				po.Violations = append(po.Violations, v.Message)
			}
			so.Policies = append(so.Policies, po)
		}
		out.Sets = append(out.Sets, so)
	}
	return out
}

// afterPlan is where a planned run goes when nothing stops it.
func afterPlan(r Run, hasChanges bool) []Status {
	switch {
	case r.PlanOnly || !hasChanges:
		return []Status{PlannedAndFinished}
	case r.AutoApply:
		return []Status{Planned, Confirmed, ApplyQueued}
	}
	return []Status{Planned}
}

// postPlan runs the post_plan stage of run r, whose plan has just ended
// well with rep, against sets. It goes on without the caller's context:
// the agent that reported may go away, the run must not stay in
// post_plan_running.
func (s *Service) postPlan(ctx context.Context, r Run, w workspace.Workspace, rep PhaseReport, sets []*policy.Set, meta []policyset.Set) (Run, error) {
	ctx = context.WithoutCancel(ctx)
	r, err := s.advance(ctx, r.ID, step{through: []Status{PostPlanRunning}, check: s.runningCheck(r.PlanID), edit: func(r *Run) {
		r.HasChanges, r.Plan = rep.HasChanges, rep.Counts
	}})
	if err != nil {
		return Run{}, err
	}
	now := store.Stored(s.base.Now())
	c := Check{ID: resource.NewID("ts"), RunID: r.ID, Status: StageRunning, Timestamps: map[string]time.Time{"running-at": now},
		CreatedAt: now, UpdatedAt: now}
	if err := insertCheck(ctx, s.base.DB, c); err != nil {
		return Run{}, err
	}

	in, hash, err := s.policyInput(ctx, r, w)
	if err != nil {
		// Fail closed: a check that cannot run is a failure nobody overrides.
		c.Outcome = CheckOutcome{Status: policy.OutcomeHardFailed, Error: fail.Message(err)}
	} else {
		c.Outcome = toOutcome(s.engine.Evaluate(ctx, in, sets...), sets, meta)
	}
	c.PlanHash = hash
	next, message := []Status{PostPlanCompleted}, ""
	switch c.Outcome.Status {
	case policy.OutcomePassed, policy.OutcomeAdvisoryFailed:
		c.Status = StagePassed
		next = append(next, afterPlan(r, r.HasChanges)...)
	case policy.OutcomeSoftFailed:
		c.Status, next = StageAwaitingOverride, []Status{PostPlanAwaitingDecision}
	default:
		c.Status, next = StageFailed, []Status{Errored}
		if c.Outcome.Error != "" {
			c.Status = StageErrored
		}
		message = "policy check failed: " + c.Outcome.summary()
	}
	c.UpdatedAt = store.Stored(s.base.Now())
	c.Timestamps[strings.ReplaceAll(c.Status, "_", "-")+"-at"] = c.UpdatedAt
	if err := s.base.Record(ctx, "platform.policy.check", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "task_stage_id": c.ID, "status": c.Status,
		"outcome": c.Outcome.Status, "plan_hash": c.PlanHash, "sets": c.Outcome.versions(), "failures": c.Outcome.failures(),
	}); err != nil {
		return Run{}, err
	}
	if err := updateCheck(ctx, s.base.DB, c); err != nil {
		return Run{}, err
	}
	if err := s.appendServerLog(ctx, r, c.Outcome.logText(c.Status)); err != nil {
		return Run{}, err
	}
	return s.advance(ctx, r.ID, step{through: next, check: func(cur Run) error {
		if cur.Status != PostPlanRunning {
			return fail.Conflictf("run %s is %s, not %s", cur.ID, cur.Status, PostPlanRunning)
		}
		return nil
	}, edit: func(r *Run) {
		if message != "" {
			r.ErrorMessage = resource.ClipTo(message, resource.MaxDescriptionLen)
		}
	}})
}

// appendServerLog appends text to r's plan log on the server's behalf.
func (s *Service) appendServerLog(ctx context.Context, r Run, text string) error {
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := lockLog(ctx, tx, r.PlanID); err != nil {
			return err
		}
		seq, err := nextLogSeq(ctx, tx, r.PlanID)
		if err != nil {
			return err
		}
		sealed, err := s.base.Seal.Encrypt([]byte(text), logAAD(r.PlanID, seq))
		if err != nil {
			return fail.Wrap(fail.Internal, err, "could not seal the log chunk")
		}
		return insertLogChunk(ctx, tx, r.PlanID, r.ID, seq, sealed)
	})
}

// planHash is the hex SHA-256 of plan JSON.
func planHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// storedPlanJSON opens run r's stored JSON plan.
func (s *Service) storedPlanJSON(ctx context.Context, r Run) ([]byte, error) {
	sealed, err := planJSON(ctx, s.base.DB, r.ID)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		return nil, fail.Invalidf("plan %s has no JSON output to check", r.PlanID)
	}
	pt, err := s.base.Seal.Decrypt(sealed, planJSONAAD(r.ID))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not open the plan JSON of "+r.ID)
	}
	return pt, nil
}

func (o CheckOutcome) versions() []string {
	var out []string
	for _, s := range o.Sets {
		out = append(out, s.SetID+"@"+s.Version)
	}
	return out
}

// failures lists every policy that did not pass, with its violations.
func (o CheckOutcome) failures() []map[string]any {
	var out []map[string]any
	for _, s := range o.Sets {
		for _, p := range s.Policies {
			if p.Status != policy.Passed {
				out = append(out, map[string]any{"policy_set_id": s.SetID, "version": s.Version, "policy": p.Name,
					"level": p.Level, "status": p.Status, "violations": p.Violations, "error": p.Error})
			}
		}
	}
	return out
}

// summary names the blocking failures, for the run's error message.
func (o CheckOutcome) summary() string {
	if o.Error != "" {
		return o.Error
	}
	var parts []string
	for _, s := range o.Sets {
		for _, p := range s.Policies {
			if !p.Blocking {
				continue
			}
			what := fmt.Sprintf("%s/%s (%s) %s", s.Name, p.Name, p.Level, p.Status)
			if p.Error != "" {
				what += ": " + p.Error
			} else if len(p.Violations) > 0 {
				what += ": " + p.Violations[0]
			}
			parts = append(parts, what)
		}
	}
	return strings.Join(parts, "; ")
}

// logText is the check as the run's log shows it.
func (o CheckOutcome) logText(stage string) string {
	var b strings.Builder
	b.WriteString("\n------------------------------------------------------------------------\n")
	b.WriteString("Policy checks (post_plan, evaluated by the server)\n")
	if o.Error != "" {
		fmt.Fprintf(&b, "\nThe check could not run: %s\n", o.Error)
	}
	for _, s := range o.Sets {
		over := ""
		if s.Overridable {
			over = ", overridable"
		}
		fmt.Fprintf(&b, "\nPolicy set %q (%s, version %s%s):\n", s.Name, s.SetID, s.Version, over)
		for _, p := range s.Policies {
			fmt.Fprintf(&b, "  %-8s %s (%s)\n", strings.ToUpper(string(p.Status)), p.Name, p.Level)
			for _, v := range p.Violations {
				fmt.Fprintf(&b, "           - %s\n", v)
			}
			if p.Error != "" {
				fmt.Fprintf(&b, "           error: %s\n", p.Error)
			}
		}
	}
	fmt.Fprintf(&b, "\nPolicy check: %s (task stage %s)\n", o.Status, stage)
	switch stage {
	case StageAwaitingOverride:
		b.WriteString("Mandatory policies failed. The run waits for an override (with the manage-policy-overrides permission and a justification) or a discard.\n")
	case StageFailed, StageErrored:
		b.WriteString("The run stops: these failures cannot be overridden.\n")
	}
	return b.String()
}

// StaleCheckAfter is how long a run may stay in post_plan_running before
// it is taken for a check the server stopped in the middle of (a crash, a
// restart): far beyond the engine's time limit.
const StaleCheckAfter = 15 * time.Minute

// AbandonStaleChecks ends as errored every run whose post_plan check has
// run for longer than StaleCheckAfter: the node evaluating it is gone, and
// a check that did not finish must not let the run go on. The daemon calls
// it periodically with AbandonStalePhases.
func (s *Service) AbandonStaleChecks(ctx context.Context) (int, error) {
	runs, err := runsIn(ctx, s.base.DB, PostPlanRunning, PostPlanRunning)
	if err != nil {
		return 0, err
	}
	ctx = access.WithCaller(ctx, access.Caller{DisplayName: "runcred", Accessor: "runcred"})
	n := 0
	for _, r := range runs {
		started, ok := r.Timestamps[PostPlanRunning]
		if !ok || s.base.Now().Sub(started) <= StaleCheckAfter {
			continue
		}
		w, err := s.ws.Workspace(ctx, r.WorkspaceID)
		if err != nil {
			return n, err
		}
		if err := s.base.Record(ctx, "platform.policy.check_abandoned", map[string]any{
			"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "started": started,
		}); err != nil {
			return n, err
		}
		if err := endCheck(ctx, s.base.DB, r.ID, StageErrored); err != nil {
			return n, err
		}
		_, err = s.advance(ctx, r.ID, step{through: []Status{Errored}, check: func(cur Run) error {
			if cur.Status != PostPlanRunning {
				return fail.Conflictf("run %s moved on", cur.ID)
			}
			return nil
		}, edit: func(r *Run) {
			r.ErrorMessage = "policy check failed: it did not finish within " + StaleCheckAfter.String() + " (the server evaluating it stopped)"
		}})
		if fail.Is(err, fail.Conflict) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
