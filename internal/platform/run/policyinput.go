package run

import (
	"context"
	"slices"
	"strings"

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
	run.Credentials = credentials(env)
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

// credentials resolves the workload-identity settings the run's TFC_*
// environment variables ask for, as the agent reads them: the default
// configuration and each tagged one (TFC_AWS_PROVIDER_AUTH_<TAG>).
func credentials(env map[string]string) policy.Credentials {
	var c policy.Credentials
	for _, tag := range tags(env, "TFC_AWS_PROVIDER_AUTH") {
		get := tagged(env, tag)
		if get("TFC_AWS_PROVIDER_AUTH") != "true" {
			continue
		}
		aud := get("TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE")
		if aud == "" {
			aud = "aws.workload.identity"
		}
		plan, apply := phaseValues(get, "TFC_AWS_RUN_ROLE_ARN", "TFC_AWS_PLAN_ROLE_ARN", "TFC_AWS_APPLY_ROLE_ARN")
		c.Plan.AWS = append(c.Plan.AWS, policy.AWSCredential{Tag: tag, RoleARN: plan, Audience: aud})
		c.Apply.AWS = append(c.Apply.AWS, policy.AWSCredential{Tag: tag, RoleARN: apply, Audience: aud})
	}
	for _, tag := range tags(env, "TFC_VAULT_PROVIDER_AUTH") {
		get := tagged(env, tag)
		if get("TFC_VAULT_PROVIDER_AUTH") != "true" {
			continue
		}
		aud := get("TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE")
		if aud == "" {
			aud = "vault.workload.identity"
		}
		auth := get("TFC_VAULT_AUTH_PATH")
		if auth == "" {
			auth = "jwt"
		}
		plan, apply := phaseValues(get, "TFC_VAULT_RUN_ROLE", "TFC_VAULT_PLAN_ROLE", "TFC_VAULT_APPLY_ROLE")
		vc := policy.VaultCredential{Tag: tag, Address: get("TFC_VAULT_ADDR"), Namespace: get("TFC_VAULT_NAMESPACE"), AuthPath: auth, Audience: aud}
		p, a := vc, vc
		p.Role, a.Role = plan, apply
		c.Plan.Vault, c.Apply.Vault = append(c.Plan.Vault, p), append(c.Apply.Vault, a)
	}
	for _, tag := range tags(env, "TFC_VAULT_BACKED_AWS_AUTH") {
		get := tagged(env, tag)
		if get("TFC_VAULT_BACKED_AWS_AUTH") != "true" {
			continue
		}
		mount := get("TFC_VAULT_BACKED_AWS_MOUNT_PATH")
		if mount == "" {
			mount = "aws"
		}
		plan, apply := phaseValues(get, "TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "TFC_VAULT_BACKED_AWS_PLAN_VAULT_ROLE", "TFC_VAULT_BACKED_AWS_APPLY_VAULT_ROLE")
		planARN, applyARN := phaseValues(get, "TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN", "TFC_VAULT_BACKED_AWS_PLAN_ROLE_ARN", "TFC_VAULT_BACKED_AWS_APPLY_ROLE_ARN")
		authType := get("TFC_VAULT_BACKED_AWS_AUTH_TYPE")
		c.Plan.VaultBackedAWS = append(c.Plan.VaultBackedAWS, policy.VaultBackedAWS{Tag: tag, MountPath: mount, VaultRole: plan, AuthType: authType, RoleARN: planARN})
		c.Apply.VaultBackedAWS = append(c.Apply.VaultBackedAWS, policy.VaultBackedAWS{Tag: tag, MountPath: mount, VaultRole: apply, AuthType: authType, RoleARN: applyARN})
	}
	return c
}

// tags are "" (when base is set) and every TAG of a base_TAG variable.
func tags(env map[string]string, base string) []string {
	var out []string
	if _, ok := env[base]; ok {
		out = append(out, "")
	}
	for k := range env {
		if t, ok := strings.CutPrefix(k, base+"_"); ok && t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// tagged reads a setting of configuration tag: NAME_TAG, else NAME.
func tagged(env map[string]string, tag string) func(string) string {
	return func(name string) string {
		if tag != "" {
			if v, ok := env[name+"_"+tag]; ok {
				return v
			}
		}
		return env[name]
	}
}

// phaseValues reads a per-phase setting: the phase's own, else the run's.
func phaseValues(get func(string) string, run, plan, apply string) (string, string) {
	p, a := get(plan), get(apply)
	if p == "" {
		p = get(run)
	}
	if a == "" {
		a = get(run)
	}
	return p, a
}
