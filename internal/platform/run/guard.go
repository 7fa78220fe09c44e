package run

import (
	"context"

	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/guard"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Guard is the pre-plan credential guard (guard.Service).
type Guard interface {
	Check(ctx context.Context, p guard.Phase) error
	CheckAudience(ctx context.Context, p guard.Phase, audience, from string) error
}

// The guard runs three times for a phase, each time on the variables as
// they are then: when the phase is claimed (before its job token exists),
// when the agent reads its inputs (the variables it will act on) and before
// every mint. A refusal ends the run errored with the guard's message,
// names the variable, its writer and the allowlist in the audit log, and
// mints nothing.

// guardedPhase resolves phase phaseID's credential settings from vars by the
// agent's own grammar.
func guardedPhase(w workspace.Workspace, r Run, phaseID string, vars []variable.RunVariable) (guard.Phase, error) {
	env := map[string]string{}
	p := guard.Phase{Organization: w.Organization, ProjectID: w.ProjectID,
		Writers: map[string]resource.Writer{}, Sensitive: map[string]bool{}}
	for _, v := range vars {
		if v.Category != variable.CategoryEnv {
			continue
		}
		env[v.Key] = v.Value.RevealString()
		p.Writers[v.Key], p.Sensitive[v.Key] = v.WrittenBy, v.Sensitive
	}
	phase := jobapi.Plan
	if phaseID == r.ApplyID {
		phase = jobapi.Apply
	}
	spec, err := credspec.Parse(env, phase)
	if err != nil {
		// The agent would refuse the same settings; refusing them here
		// mints nothing for settings nobody can check.
		return p, fail.Invalidf("the run's credential settings are invalid: %v", err)
	}
	p.Spec = spec
	return p, nil
}

// guardPhase checks phase phaseID of r against the guard; a refusal errors
// the run.
func (s *Service) guardPhase(ctx context.Context, r Run, w workspace.Workspace, phaseID string, vars []variable.RunVariable) (guard.Phase, error) {
	if s.guard == nil {
		return guard.Phase{}, nil
	}
	p, err := guardedPhase(w, r, phaseID, vars)
	if err == nil {
		err = s.guard.Check(ctx, p)
	}
	if err != nil {
		return p, s.refuse(ctx, r, w, phaseID, err)
	}
	return p, nil
}

// refuse audits the guard's refusal and ends the phase errored with its
// message. It returns the refusal (a denial), or why it could not be
// recorded.
func (s *Service) refuse(ctx context.Context, r Run, w workspace.Workspace, phaseID string, cause error) error {
	ctx = context.WithoutCancel(ctx)
	body := map[string]any{"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID,
		"run_id": r.ID, "phase_id": phaseID, "message": fail.Message(cause)}
	if v, ok := guard.AsViolation(cause); ok {
		body["findings"] = v.Findings
	}
	if err := s.base.Record(ctx, "platform.run.credential_guard.refuse", body); err != nil {
		return err
	}
	msg := resource.ClipTo(fail.Message(cause), resource.MaxDescriptionLen)
	if _, err := s.advance(ctx, r.ID, step{through: []Status{Errored}, check: s.runningCheck(phaseID),
		edit: func(r *Run) { r.ErrorMessage = msg }}); err != nil && !fail.Is(err, fail.Conflict) {
		return fail.Wrap(fail.Internal, err, "the credential guard refused the phase, and the run could not be ended: "+err.Error())
	}
	if fail.KindOf(cause) == fail.Internal {
		return cause
	}
	return fail.Wrap(fail.Denied, cause, fail.Message(cause))
}

// guardClaim checks a phase just claimed, before its job token is issued;
// refused reports that the guard errored its run.
func (s *Service) guardClaim(ctx context.Context, job *Job) (refused bool, err error) {
	if s.guard == nil {
		return false, nil
	}
	vars, err := s.vars.Variables(ctx, job.Workspace)
	if err == nil {
		_, err = s.guardPhase(ctx, job.Run, job.Workspace, job.PhaseID, vars)
		if fail.Is(err, fail.Denied) {
			return true, nil
		}
	}
	if err != nil {
		// Nothing can be checked, so nothing may run: end the phase.
		msg := resource.ClipTo("the credential guard could not check the phase: "+fail.Message(err), resource.MaxDescriptionLen)
		if _, ferr := s.advance(context.WithoutCancel(ctx), job.Run.ID, step{through: []Status{Errored},
			check: s.runningCheck(job.PhaseID), edit: func(r *Run) { r.ErrorMessage = msg }}); ferr != nil && !fail.Is(ferr, fail.Conflict) {
			err = fail.Wrap(fail.Internal, err, "and the claimed phase could not be ended: "+ferr.Error())
		}
		return false, err
	}
	return false, nil
}

// guardMint checks the phase's settings as they are now, and that the
// audience the agent asks for is one of them and allowed.
func (s *Service) guardMint(ctx context.Context, r Run, w workspace.Workspace, phaseID, audience string) error {
	if s.guard == nil {
		return nil
	}
	vars, err := s.vars.Variables(ctx, w)
	if err != nil {
		return err
	}
	p, err := s.guardPhase(ctx, r, w, phaseID, vars)
	if err != nil {
		return err
	}
	from := ""
	for _, a := range p.Spec.Audiences() {
		if a.Audience == audience {
			from = a.From
			break
		}
	}
	if from == "" {
		from = "the agent's mint request (no TFC_* variable asks for this audience)"
	}
	if err := s.guard.CheckAudience(ctx, p, audience, from); err != nil {
		return s.refuse(ctx, r, w, phaseID, err)
	}
	return nil
}

// PhaseRunning reports whether phase ("plan" or "apply") of run runID is
// in progress, for the broker's JWT login, which refuses a runcred token
// whose phase has ended. known is false for a run the platform has no
// record of (a token from the operators' own mint API names any run). It
// authorizes nothing: it tells only a yes or no about a run the caller's
// signed token already names.
func (s *Service) PhaseRunning(ctx context.Context, runID, phase string) (known, running bool, err error) {
	if !resource.ValidID("run", runID) {
		return false, false, nil
	}
	// Every JWT login with a run token asks: the run's status alone, not
	// the whole run.
	var status string
	err = s.base.DB.QueryRow(ctx, `SELECT status FROM runs WHERE id = ?`, runID).Scan(&status)
	if store.IsNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	want := map[string]Status{string(jobapi.Plan): Planning, string(jobapi.Apply): Applying}[phase]
	return true, want != "" && Status(status) == want, nil
}
