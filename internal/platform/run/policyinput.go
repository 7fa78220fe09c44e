package run

import (
	"context"

	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/policy"
)

// policyInput builds what run r's policies see: its stored JSON plan
// (secrets already masked by the agent) and facts from runcred's own
// records. It returns the plan's hash with it.
func (s *Service) policyInput(ctx context.Context, r Run, w workspace.Workspace) (*policy.Input, string, error) {
	plan, err := s.storedPlanJSON(ctx, r)
	if err != nil {
		return nil, "", err
	}
	hash := planHash(plan)
	org, err := s.orgs.Organization(ctx, w.Organization)
	if err != nil {
		return nil, hash, err
	}
	prj, err := s.orgs.Project(ctx, w.ProjectID)
	if err != nil {
		return nil, hash, err
	}
	vars, err := s.vars.Variables(ctx, w)
	if err != nil {
		return nil, hash, err
	}
	run := policy.Run{
		ID: r.ID, CreatedAt: r.CreatedAt, Message: r.Message, IsDestroy: r.IsDestroy, Refresh: true,
		Speculative: r.PlanOnly, Organization: policy.Organization{Name: org.Name},
		Project: policy.Project{ID: prj.ID, Name: prj.Name},
		Workspace: policy.Workspace{ID: w.ID, Name: w.Name, CreatedAt: w.CreatedAt, Description: w.Description,
			ExecutionMode: w.ExecutionMode, AutoApply: w.AutoApply, WorkingDirectory: w.WorkingDirectory},
	}
	if r.CreatedBy.Kind == resource.WriterUser {
		run.CreatedBy = r.CreatedBy.ID
	}
	names := map[string]string{w.ID: w.Name}
	wsName := func(id string) string {
		if id == "" {
			return ""
		}
		if n, ok := names[id]; ok {
			return n
		}
		n := id // a deleted manager stays named by its id: no run can match it
		if mw, err := s.ws.Workspace(ctx, id); err == nil {
			n = mw.Name
		}
		names[id] = n
		return n
	}
	env := map[string]string{}
	for _, v := range vars {
		pv, err := s.policyVariable(v, wsName)
		if err != nil {
			return nil, hash, err
		}
		run.Variables = append(run.Variables, pv)
		if v.Category == variable.CategoryEnv {
			env[v.Key] = v.Value.RevealString()
		}
	}
	if run.Credentials, err = credentials(env); err != nil {
		return nil, hash, err
	}
	in, err := policy.NewInput(plan, run)
	return in, hash, err
}

func (s *Service) policyVariable(v variable.RunVariable, wsName func(string) string) (policy.Variable, error) {
	h, err := policy.ValueHMAC(s.policyKey, v.Value)
	if err != nil {
		return policy.Variable{}, err
	}
	pv := policy.Variable{Key: v.Key, Category: v.Category, Sensitive: v.Sensitive, HCL: v.HCL, ValueHMAC: h,
		ManagedBy: wsName(v.ManagingWorkspaceID)}
	switch v.WrittenBy.Kind {
	case resource.WriterRun:
		pv.LastWriter = policy.Writer{Kind: policy.WriterRun, Name: v.WrittenBy.ID, Workspace: wsName(v.WrittenBy.WorkspaceID)}
	case resource.WriterTeam:
		pv.LastWriter = policy.Writer{Kind: policy.WriterTeamToken, Name: orID(v.WrittenBy)}
	default:
		pv.LastWriter = policy.Writer{Kind: policy.WriterUser, Name: orID(v.WrittenBy)}
	}
	// runcred keeps no history of values, so what the manager last wrote
	// is known only while its write is the last one.
	if pv.ManagedBy != "" && pv.LastWriter.Kind == policy.WriterRun && pv.LastWriter.Workspace == pv.ManagedBy {
		pv.ManagerValueHMAC = h
	}
	return pv, nil
}

func orID(w resource.Writer) string {
	if w.Name != "" {
		return w.Name
	}
	return w.ID
}

// credentials resolves the workload-identity settings each phase's TFC_*
// variables ask for, with the grammar the agent and the credential guard
// read them with (internal/credspec), so a policy judges exactly what the
// phase will do. Settings the agent would refuse are an error: the check
// then fails closed rather than judging a guess.
func credentials(env map[string]string) (policy.Credentials, error) {
	var c policy.Credentials
	for _, ph := range []struct {
		phase jobapi.Phase
		out   *policy.PhaseCredentials
	}{{jobapi.Plan, &c.Plan}, {jobapi.Apply, &c.Apply}} {
		spec, err := credspec.Parse(env, ph.phase)
		if err != nil {
			// The agent would refuse the phase with this message too.
			return policy.Credentials{}, fail.Invalidf("the %s phase's credential settings: %s", ph.phase, err.Error())
		}
		pc := ph.out
		for _, a := range spec.AWS {
			pc.AWS = append(pc.AWS, policy.AWSCredential{Tag: a.Tag, RoleARN: a.RoleARN, Audience: a.Audience})
		}
		for _, v := range spec.Vault {
			pc.Vault = append(pc.Vault, policy.VaultCredential{Tag: v.Tag, Address: v.Addr, Namespace: v.Namespace, AuthType: v.AuthType,
				AuthPath: v.AuthPath, Role: v.Role, Audience: v.Audience, RoleIDVariable: v.RoleIDVar, SecretIDVariable: v.SecretIDVar})
		}
		for _, v := range spec.VaultAWS {
			pc.VaultBackedAWS = append(pc.VaultBackedAWS, policy.VaultBackedAWS{Tag: v.Tag, MountPath: v.Mount,
				VaultRole: v.Role, AuthType: v.AuthType, RoleARN: v.RoleARN})
		}
		for _, g := range spec.GCP {
			pc.Other = append(pc.Other, policy.GenericCredential{Kind: "gcp", Tag: g.Tag, Audience: g.Audience,
				Settings: map[string]string{"service_account_email": g.ServiceAccount, "workload_provider_name": g.ProviderName}})
		}
		for _, a := range spec.Azure {
			pc.Other = append(pc.Other, policy.GenericCredential{Kind: "azure", Tag: a.Tag, Audience: a.Audience,
				Settings: map[string]string{"client_id": a.ClientID}})
		}
		for _, m := range spec.Manual {
			pc.Other = append(pc.Other, policy.GenericCredential{Kind: "workload_identity_token", Tag: m.Tag, Audience: m.Audience})
		}
	}
	return c, nil
}
