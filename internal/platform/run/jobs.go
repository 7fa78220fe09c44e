package run

import (
	"context"
	"errors"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// A claimed phase is driven with a job token, not the agent's own: the
// token names its run and phase (resource.MetaRunID, MetaPhaseID), its policy allows
// only agent operations, and authorizeAgent refuses it for any other run.
// It is revoked when the phase ends, however it ends, and expires after
// JobTokenTTL if the agent vanishes.

// JobPolicy is the ACL policy of job tokens.
const JobPolicy = "runcred-job"

const jobPolicyBody = `# Job tokens: agent operations on the one run phase the token names
# (the platform checks the token's run_id against the run).
path "runcred/orgs/+/workspaces/+/agent" {
  capabilities = ["update"]
}
`

// MetaPhaseID names, on a job token, the plan or apply it drives.
const MetaPhaseID = "phase_id"

// JobTokenTTL bounds a job token, and so a phase whose agent disappeared.
const JobTokenTTL = 3 * time.Hour

// MaxPlanFile bounds a saved plan.
const MaxPlanFile = 256 << 20

// JobsChanged returns a channel that is closed the next time a run on this
// node may have become claimable (queued, or its workspace freed). Agents'
// long polls wait on it; runs queued by other nodes are found by polling.
func (s *Service) JobsChanged() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake
}

func (s *Service) wakeAgents() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeMu.Unlock()
}

// EnsurePolicies installs the platform's built-in ACL policies.
func (s *Service) EnsurePolicies(ctx context.Context) error {
	if s.tokens == nil {
		return nil
	}
	if err := s.tokens.PutPolicy(ctx, JobPolicy, jobPolicyBody); err != nil {
		return err
	}
	return s.tokens.PutPolicy(ctx, DefaultAgentPolicy, defaultAgentPolicyBody)
}

// DefaultAgentPolicy lets an agent token claim the jobs of workspaces that
// have no agent pool.
const DefaultAgentPolicy = "runcred-agent-default"

const defaultAgentPolicyBody = `# Agents serving workspaces without an agent pool.
path "runcred/agent-pools/default/jobs" {
  capabilities = ["update"]
}
`

// ClaimedJob is a claimed phase and the token that drives it.
type ClaimedJob struct {
	Job
	Subject identity.Subject // whom the phase's tokens are minted for
	Token   secret.Value
	Expires time.Time
	// RunToken is the phase's run token, for the run's own use of
	// runcred's API (see runtoken.go).
	RunToken secret.Value
}

// Claim claims the next job of agent pool poolID ("" for workspaces without
// a pool), marks it running and issues its job token. It returns nil when
// there is nothing to do.
func (s *Service) Claim(ctx context.Context, poolID string) (*ClaimedJob, error) {
	if s.tokens == nil {
		return nil, fail.Unsupportedf("this server issues no job tokens")
	}
	var job *Job
	for {
		var err error
		if job, err = s.claimPhase(ctx, poolID); err != nil || job == nil {
			return nil, err
		}
		// A token left by a revocation that failed earlier goes before the
		// run gets a new one, so its accessor is never forgotten.
		s.endJob(ctx, job.Run.ID)
		refused, err := s.guardClaim(ctx, job)
		if err != nil {
			return nil, err
		}
		if !refused {
			break
		}
		// The guard errored that run; the next one may be claimable.
	}
	var tok, runTok resource.IssuedToken
	var runPolicy string
	sub, err := s.subject(ctx, job.Run, job.Workspace, job.PhaseID)
	if err == nil {
		tok, err = s.tokens.IssueToken(ctx, resource.TokenRequest{
			DisplayName: "job-" + job.PhaseID,
			Policies:    []string{JobPolicy},
			Meta:        map[string]string{resource.MetaRunID: job.Run.ID, resource.MetaWorkspaceID: job.Workspace.ID, MetaPhaseID: job.PhaseID},
			TTL:         JobTokenTTL,
		})
		if err == nil {
			if runTok, runPolicy, err = s.issueRunToken(ctx, job); err != nil {
				if rerr := s.tokens.RevokeAccessor(context.WithoutCancel(ctx), tok.Accessor); rerr != nil {
					err = fail.Wrap(fail.Internal, err, "and the job token could not be revoked: "+rerr.Error())
				}
			}
		}
	}
	if err == nil {
		// Only while the phase still runs: a cancel in between would have
		// found no token to revoke, so these go now.
		given := jobTokens{jobAccessor: tok.Accessor, runAccessor: runTok.Accessor, runPolicy: runPolicy}
		res, uerr := setJobTokens(ctx, s.base.DB, job.Run.ID, given)
		if err = resource.Swapped(res, uerr, "run %s stopped before its job token was recorded", job.Run.ID); err != nil {
			bg := context.WithoutCancel(ctx)
			rerr := errors.Join(s.tokens.RevokeAccessor(bg, tok.Accessor), s.tokens.DeletePolicy(bg, runPolicy),
				s.tokens.RevokeAccessor(bg, runTok.Accessor))
			if rerr != nil {
				err = fail.Wrap(fail.Internal, err, "and its tokens could not be revoked: "+rerr.Error())
			}
			return nil, err
		}
	}
	if err != nil {
		// Nobody can drive the phase now: end it rather than leave it running.
		msg := "could not issue the job token: " + err.Error()
		if _, ferr := s.advance(context.WithoutCancel(ctx), job.Run.ID, step{through: []Status{Errored},
			check: s.runningCheck(job.PhaseID), edit: func(r *Run) { r.ErrorMessage = resource.ClipTo(msg, resource.MaxDescriptionLen) }}); ferr != nil {
			err = fail.Wrap(fail.Internal, err, "and the claimed phase could not be ended: "+ferr.Error())
		}
		return nil, err
	}
	return &ClaimedJob{Job: *job, Subject: sub, Token: tok.Token, Expires: tok.Expires, RunToken: runTok.Token}, nil
}

// endJob revokes the job token and the run token of run id once its phase
// has ended. A job token whose revocation fails is refused by every agent
// operation (the phase is no longer running) and expires after
// JobTokenTTL; a run token's policy goes before the token, so one whose
// revocation fails may do nothing. What fails is kept, so a later end of
// the run (or its next claim) tries again.
func (s *Service) endJob(ctx context.Context, id string) {
	if s.tokens == nil {
		return
	}
	ctx = context.WithoutCancel(ctx) // a request that ends now must not skip the revocation
	t, err := jobTokensOf(ctx, s.base.DB, id)
	if err != nil {
		return
	}
	if t.jobAccessor != "" {
		if err := s.tokens.RevokeAccessor(ctx, t.jobAccessor); err == nil || gone(err) {
			clearJobToken(ctx, s.base.DB, id, t.jobAccessor)
		}
	}
	s.endRunToken(ctx, id, t)
}

// gone reports whether a revocation failed because the token is no
// longer there.
func gone(err error) bool {
	return fail.Is(err, fail.Unauthenticated) || fail.Is(err, fail.NotFound) || store.IsNotFound(err)
}

// JobStatus is the status of the run of phaseID and whether a user asked
// to cancel it, for an agent watching for cancellation.
func (s *Service) JobStatus(ctx context.Context, phaseID string) (status Status, cancelRequested bool, err error) {
	r, w, err := s.runByPhase(ctx, phaseID)
	if err != nil {
		return "", false, err
	}
	if err := s.authorizeAgent(ctx, w, r, phaseID); err != nil {
		return "", false, err
	}
	return r.Status, r.CancelRequested, nil
}

// AuthorizeJob checks that the caller may act as the agent of phase
// phaseID, before a request's body is read.
func (s *Service) AuthorizeJob(ctx context.Context, phaseID string) error {
	if _, ok := access.CallerFrom(ctx); !ok { // before the lookup: no oracle of phase ids
		return fail.Unauthenticatedf("missing client token")
	}
	_, _, err := s.JobStatus(ctx, phaseID)
	return err
}

// Minter mints workload identity tokens (identity.Issuer).
type Minter interface {
	MintForRun(ctx context.Context, req identity.MintRequest) (identity.Token, error)
}

// MintForJob mints a workload identity token for running phase phaseID,
// after checking the caller's job token against the phase: the subject is
// the phase's, which the agent cannot choose. audience reads the token's
// audience from the request; it is called only once the phase is known to
// be running, so a request for a phase that has ended is refused as a
// conflict whatever its body holds.
func (s *Service) MintForJob(ctx context.Context, phaseID string, audience func() (string, error)) (identity.Token, error) {
	r, w, err := s.agentRun(ctx, phaseID)
	if err != nil {
		return identity.Token{}, err
	}
	if s.minter == nil {
		return identity.Token{}, fail.Unsupportedf("this server mints no workload identity tokens")
	}
	sub, err := s.subject(ctx, r, w, phaseID)
	if err != nil {
		return identity.Token{}, err
	}
	aud, err := audience()
	if err != nil {
		return identity.Token{}, err
	}
	if err := identity.ValidAudience(aud); err != nil {
		return identity.Token{}, err // a bad request, which ends nothing
	}
	if err := s.guardMint(ctx, r, w, phaseID, aud); err != nil {
		return identity.Token{}, err
	}
	ttl, err := s.tokenTTL(r, w, phaseID)
	if err != nil {
		return identity.Token{}, err
	}
	return s.minter.MintForRun(ctx, identity.MintRequest{Subject: sub, Audience: aud, TTL: ttl})
}

// DefaultPhaseTokenTTL is how long a phase's workload-identity tokens live
// unless configured otherwise: a token copied out of a run is useless soon
// after, and the agent fetches fresh ones while the phase runs.
const DefaultPhaseTokenTTL = 15 * time.Minute

// tokenTTL is the lifetime of a token minted now for phase phaseID of r:
// the configured lifetime, cut to what is left of the phase's limit (the
// workspace's phase timeout when it has one; in any case a phase ends,
// abandoned, JobTokenTTL after it started), in whole seconds.
func (s *Service) tokenTTL(r Run, w workspace.Workspace, phaseID string) (time.Duration, error) {
	status := Planning
	if phaseID == r.ApplyID {
		status = Applying
	}
	limit := JobTokenTTL
	if w.PhaseTimeout > 0 {
		limit = min(limit, w.PhaseTimeout)
	}
	ttl := s.ttl
	if started, ok := r.Timestamps[status]; ok {
		ttl = min(ttl, started.Add(limit).Sub(s.base.Now()))
	}
	ttl = ttl.Truncate(time.Second)
	if ttl < time.Second {
		return 0, fail.Conflictf("run %s has reached its phase's time limit: no more tokens", r.ID)
	}
	return ttl, nil
}

func (s *Service) subject(ctx context.Context, r Run, w workspace.Workspace, phaseID string) (identity.Subject, error) {
	o, err := s.orgs.Organization(ctx, w.Organization)
	if err != nil {
		return identity.Subject{}, err
	}
	p, err := s.orgs.Project(ctx, w.ProjectID)
	if err != nil {
		return identity.Subject{}, err
	}
	phase := jobapi.Plan
	if phaseID == r.ApplyID {
		phase = jobapi.Apply
	}
	return identity.Subject{
		Organization: o.Name, OrganizationID: o.ID, Project: p.Name, ProjectID: p.ID,
		Workspace: w.Name, WorkspaceID: w.ID, RunID: r.ID, Phase: phase,
	}, nil
}

// JobInputs is what an agent needs to run a claimed phase.
type JobInputs struct {
	Archive   []byte                 // the configuration version, .tar.gz
	Variables []variable.RunVariable // decrypted, sensitive ones included
	State     []byte                 // the workspace's current state; nil for none
	PlanFile  []byte                 // apply: the plan phase's saved plan
}

// JobInputs returns the inputs of running phase phaseID. Reading them is
// audited like any read of variable values.
func (s *Service) JobInputs(ctx context.Context, phaseID string) (JobInputs, error) {
	r, w, err := s.agentRun(ctx, phaseID)
	if err != nil {
		return JobInputs{}, err
	}
	var in JobInputs
	cv, _, err := s.cvs.Version(ctx, r.ConfigurationVersionID)
	if err != nil {
		return JobInputs{}, err
	}
	if in.Archive, err = s.cvs.Archive(ctx, cv); err != nil {
		return JobInputs{}, err
	}
	if in.Variables, err = s.vars.Variables(ctx, w); err != nil {
		return JobInputs{}, err
	}
	if _, err := s.guardPhase(ctx, r, w, phaseID, in.Variables); err != nil {
		return JobInputs{}, err
	}
	// Run variables are Terraform variables only: they cannot change the
	// credential settings the guard has just checked.
	if in.Variables, err = s.withRunVariables(ctx, r, w, in.Variables); err != nil {
		return JobInputs{}, err
	}
	if in.State, err = s.states.CurrentContent(ctx, w.ID); err != nil {
		return JobInputs{}, err
	}
	if phaseID == r.ApplyID {
		sealed, err := planFile(ctx, s.base.DB, r.ID)
		if err != nil {
			return JobInputs{}, err
		}
		if len(sealed) == 0 {
			return JobInputs{}, fail.Conflictf("run %s has no saved plan to apply", r.ID)
		}
		if in.PlanFile, err = s.base.Seal.Decrypt(sealed, planFileAAD(r.ID)); err != nil {
			return JobInputs{}, fail.Wrap(fail.Internal, err, "could not open the saved plan of run "+r.ID)
		}
	}
	return in, nil
}

func planFileAAD(runID string) string { return "platform/runs/" + runID + "/plan_file" }

// StorePlanFile stores the saved plan of a running plan, which its apply
// will apply.
func (s *Service) StorePlanFile(ctx context.Context, planID string, plan []byte) error {
	r, _, err := s.agentRun(ctx, planID)
	if err != nil {
		return err
	}
	if planID != r.PlanID {
		return fail.Invalidf("%s is not a plan", fail.Clip(planID))
	}
	if len(plan) == 0 || len(plan) > MaxPlanFile {
		return fail.Invalidf("a saved plan must hold 1 to %d bytes", MaxPlanFile)
	}
	sealed, err := s.base.Seal.Encrypt(plan, planFileAAD(r.ID))
	if err != nil {
		return fail.Wrap(fail.Internal, err, "could not seal the saved plan")
	}
	res, err := storePlanFile(ctx, s.base.DB, r.ID, sealed)
	return resource.Swapped(res, err, "run %s is no longer planning", r.ID)
}

// AbandonStalePhases ends as errored every plan or apply that has run for
// longer than JobTokenTTL: its job token has expired, so no agent can
// report it any more, and it would hold its workspace for good. The
// daemon calls it periodically, as runcred itself.
func (s *Service) AbandonStalePhases(ctx context.Context) (int, error) {
	runs, err := runsIn(ctx, s.base.DB, Planning, Applying)
	if err != nil {
		return 0, err
	}
	ctx = access.WithCaller(ctx, access.Caller{DisplayName: "runcred", Accessor: "runcred"})
	n := 0
	for _, r := range runs {
		started, ok := r.Timestamps[r.Status]
		if !ok || s.base.Now().Sub(started) <= JobTokenTTL {
			continue
		}
		w, err := s.ws.Workspace(ctx, r.WorkspaceID)
		if err != nil {
			return n, err
		}
		msg := "no agent reported on this phase for " + JobTokenTTL.String() + ": it was abandoned (the agent stopped or lost its job token)"
		if err := s.base.Record(ctx, "platform.run.abandon", map[string]any{
			"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "status": r.Status, "started": started,
		}); err != nil {
			return n, err
		}
		status := r.Status
		_, err = s.advance(ctx, r.ID, step{through: []Status{Errored}, check: func(cur Run) error {
			if cur.Status != status {
				return fail.Conflictf("run %s moved on", cur.ID)
			}
			return nil
		}, edit: func(r *Run) { r.ErrorMessage = msg }})
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
