package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/runtrigger"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Run tokens. Besides its job token (the agent's, to drive the phase), a
// claimed phase gets a run token for the run's own code: the agent puts it
// in the phase's environment as TFE_TOKEN and TF_TOKEN_<host>, so the tfe
// provider and OpenTofu reach runcred's API as the run. Its ACL policy is
// compiled for the phase from what its workspace was granted
// (runTokenPolicyBody); its metadata names the run and workspace, so every
// write it makes is recorded as that run's (resource.WriterOf), and it
// carries no phase, so it can never act as the agent. It lives as long as
// the job token: both are revoked when the phase ends (endJob), and it
// expires with the phase's limit.

// runTokenPolicyName names the ACL policy of phase phaseID's run token.
// Policy names are lower case; the hash keeps two ids that differ only
// in case apart.
func runTokenPolicyName(phaseID string) string {
	h := sha256.Sum256([]byte(phaseID))
	return "runcred-run-" + strings.ToLower(phaseID) + "-" + hex.EncodeToString(h[:4])
}

// runTokenPolicyBody compiles the ACL of a run token of workspace w (in
// organization org) whose reach beyond w is sc. It is the one place that
// turns run-token grants into rules:
//
//   - its own workspace: read the workspace, its state versions and
//     outputs, and name it as a run trigger's source (read on its runs
//     path, which reads no run: each run is a path below it);
//   - each workspace sharing its state with w: read the workspace and its
//     outputs (sensitive values need the state, which is not granted);
//   - each managed workspace: read and update it, read, write and
//     delete its variables, and add and remove its run triggers (so a
//     manager's apply can queue runs of the workspaces it manages);
//   - each granted project: put new workspaces in it (creating a
//     workspace needs create on its name and update on its project).
//
// Nothing else: not runs, not the agent's paths, not decrypted run
// variables, not the broker's secrets.
func runTokenPolicyBody(org string, w workspace.Workspace, sc workspace.RunTokenScope) string {
	var rules []resource.Rule
	grant := func(path string, caps ...string) { rules = append(rules, resource.Rule{Path: path, Caps: caps}) }
	own := resource.WorkspacePath(org, w.Name)
	grant(resource.OrgPath(org), access.Read)
	grant(own, access.Read)
	grant(own+"/state-versions", access.Read, access.List)
	grant(workspace.StateOutputsPath(org, w.Name), access.Read)
	grant(own+"/runs", access.Read)
	for _, name := range sc.SharedFrom {
		grant(resource.WorkspacePath(org, name), access.Read)
		grant(workspace.StateOutputsPath(org, name), access.Read)
	}
	for _, name := range sc.Managed {
		grant(resource.WorkspacePath(org, name), access.Read, access.Update)
		grant(resource.VarsPath(org, name), access.Read, access.List)
		grant(resource.VarsPath(org, name)+"/*", access.Create, access.Read, access.Update, access.Delete, access.List)
		grant(runtrigger.TriggersPath(org, name), access.Create, access.Read, access.Delete, access.List)
	}
	if len(sc.Projects) > 0 {
		grant(resource.WorkspacesPath(org)+"/+", access.Create)
		for _, name := range sc.Projects {
			grant(resource.ProjectPath(org, name), access.Read, access.Update)
		}
	}
	ws := resource.WorkspacesPath(org) + "/+"
	for _, p := range []string{ws + "/agent", ws + "/run-variables", ws + "/runs/+/actions/override"} {
		grant(p, "deny")
	}
	return resource.PolicyBody("runcred run token of workspace "+w.Name+" ("+w.ID+") of organization "+org, rules)
}

// issueRunToken writes the run token's policy for the claimed job and
// issues the token; it returns the token and what endJob revokes.
func (s *Service) issueRunToken(ctx context.Context, job *Job) (resource.IssuedToken, string, error) {
	policy := runTokenPolicyName(job.PhaseID)
	if err := s.putRunTokenPolicy(ctx, job.Workspace, policy); err != nil {
		return resource.IssuedToken{}, "", err
	}
	ttl := JobTokenTTL
	if job.Workspace.PhaseTimeout > 0 {
		ttl = min(ttl, job.Workspace.PhaseTimeout)
	}
	tok, err := s.tokens.IssueToken(ctx, resource.TokenRequest{
		DisplayName: "run-" + job.Run.ID + "-" + string(job.Phase),
		Policies:    []string{policy},
		Meta:        map[string]string{resource.MetaRunID: job.Run.ID, resource.MetaWorkspaceID: job.Workspace.ID},
		TTL:         ttl,
	})
	if err != nil {
		if derr := s.tokens.DeletePolicy(context.WithoutCancel(ctx), policy); derr != nil {
			err = fail.Wrap(fail.Internal, err, "and its policy could not be deleted: "+derr.Error())
		}
		return resource.IssuedToken{}, "", err
	}
	return tok, policy, nil
}

func (s *Service) putRunTokenPolicy(ctx context.Context, w workspace.Workspace, policy string) error {
	sc, err := s.ws.RunTokenScope(ctx, w)
	if err != nil {
		return err
	}
	return s.tokens.PutPolicy(ctx, policy, runTokenPolicyBody(w.Organization, w, sc))
}

// RefreshRunTokens compiles again the policies of the run tokens of org's
// running phases, after a change of what they may reach (the workspace
// service calls it: a workspace created in a granted project, a grant
// changed). A policy that cannot be written keeps what it had until the
// next change or the phase's end.
func (s *Service) RefreshRunTokens(ctx context.Context, org string) {
	if s.tokens == nil {
		return
	}
	live, err := liveRunTokens(ctx, s.base.DB, org)
	if err != nil {
		return
	}
	for _, l := range live {
		w, err := s.ws.Workspace(ctx, l.workspaceID)
		if err != nil {
			continue
		}
		if s.putRunTokenPolicy(ctx, w, l.policy) != nil {
			continue
		}
		// A phase that ended meanwhile has deleted its policy, maybe before
		// this wrote it again: it goes now.
		if live, err := runTokenLive(ctx, s.base.DB, l.policy); err == nil && !live {
			_ = s.tokens.DeletePolicy(ctx, l.policy)
		}
	}
}

// endRunToken takes back run id's run token: its policy first, which
// leaves a token that could not be revoked with nothing it may do, then
// the token. What fails is kept for the next end of the run to try again.
func (s *Service) endRunToken(ctx context.Context, id string, t jobTokens) {
	if t.runAccessor == "" && t.runPolicy == "" {
		return
	}
	if t.runPolicy != "" {
		if err := s.tokens.DeletePolicy(ctx, t.runPolicy); err != nil && !store.IsNotFound(err) {
			return
		}
	}
	if t.runAccessor != "" {
		if err := s.tokens.RevokeAccessor(ctx, t.runAccessor); err != nil && !gone(err) {
			clearRunTokenPolicy(ctx, s.base.DB, id, t.runPolicy) // the policy went: only the token is left
			return
		}
	}
	clearRunToken(ctx, s.base.DB, id, t.runAccessor)
}

// RevokeEndedPhaseTokens tries again to revoke the job and run tokens of
// phases that have ended but whose revocation failed (endJob keeps what
// it could not revoke). The daemon calls it periodically; it returns how
// many runs it looked at.
func (s *Service) RevokeEndedPhaseTokens(ctx context.Context) (int, error) {
	if s.tokens == nil {
		return 0, nil
	}
	ids, err := endedWithTokens(ctx, s.base.DB)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		s.endJob(ctx, id)
	}
	return len(ids), nil
}
