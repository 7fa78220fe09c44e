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
// environment variables ask for, by the grammar the agent reads them with
// (internal/agent/creds): per configuration (the default one and each
// TFC_<P>_<FLAG>_<TAG>=true), a setting is TFC_<P>_<NAME>[_TAG], else
// TFC_DEFAULT_<P>_<NAME>; a per-phase one is the phase's own, else the
// run's, each explicit before default. The agent refuses settings that do
// not parse (the plan would not have run); this reads what they say.
func credentials(env map[string]string) policy.Credentials {
	var c policy.Credentials
	for _, phase := range []string{"PLAN", "APPLY"} {
		pc := &c.Plan
		if phase == "APPLY" {
			pc = &c.Apply
		}
		for _, tag := range enabledTags(env, "AWS", "PROVIDER_AUTH") {
			s := tfcSettings{env: env, provider: "AWS", tag: tag, phase: phase}
			pc.AWS = append(pc.AWS, policy.AWSCredential{Tag: tag, RoleARN: s.phased("ROLE_ARN"),
				Audience: s.or("WORKLOAD_IDENTITY_AUDIENCE", "aws.workload.identity")})
		}
		for _, tag := range enabledTags(env, "VAULT", "PROVIDER_AUTH") {
			s := tfcSettings{env: env, provider: "VAULT", tag: tag, phase: phase}
			pc.Vault = append(pc.Vault, policy.VaultCredential{Tag: tag, Address: strings.TrimRight(s.get("ADDR"), "/"),
				Namespace: s.get("NAMESPACE"), AuthPath: strings.Trim(s.or("AUTH_PATH", "jwt"), "/"), Role: s.phased("ROLE"),
				Audience: s.or("WORKLOAD_IDENTITY_AUDIENCE", "vault.workload.identity")})
		}
		for _, tag := range enabledTags(env, "VAULT_BACKED_AWS", "AUTH") {
			s := tfcSettings{env: env, provider: "VAULT_BACKED_AWS", tag: tag, phase: phase}
			pc.VaultBackedAWS = append(pc.VaultBackedAWS, policy.VaultBackedAWS{Tag: tag, MountPath: strings.Trim(s.or("MOUNT_PATH", "aws"), "/"),
				VaultRole: s.phased("VAULT_ROLE"), AuthType: s.get("AUTH_TYPE"), RoleARN: s.phased("ROLE_ARN")})
		}
		for _, tag := range enabledTags(env, "GCP", "PROVIDER_AUTH") {
			s := tfcSettings{env: env, provider: "GCP", tag: tag, phase: phase}
			pc.Other = append(pc.Other, policy.GenericCredential{Kind: "gcp", Tag: tag, Audience: s.get("WORKLOAD_IDENTITY_AUDIENCE"),
				Settings: map[string]string{"service_account_email": s.phased("SERVICE_ACCOUNT_EMAIL"),
					"workload_provider_name": s.get("WORKLOAD_PROVIDER_NAME"), "project_number": s.get("PROJECT_NUMBER")}})
		}
		for _, tag := range enabledTags(env, "AZURE", "PROVIDER_AUTH") {
			s := tfcSettings{env: env, provider: "AZURE", tag: tag, phase: phase}
			pc.Other = append(pc.Other, policy.GenericCredential{Kind: "azure", Tag: tag,
				Audience: s.or("WORKLOAD_IDENTITY_AUDIENCE", "api://AzureADTokenExchange"),
				Settings: map[string]string{"client_id": s.phased("CLIENT_ID")}})
		}
	}
	return c
}

// enabledTags are the configurations of provider whose flag is true: ""
// (the default one) first, then each tag, sorted. TYPE is no tag:
// TFC_VAULT_BACKED_AWS_AUTH_TYPE is a setting.
func enabledTags(env map[string]string, provider, flag string) []string {
	base := "TFC_" + provider + "_" + flag
	var out []string
	for k, v := range env {
		tag, ok := strings.CutPrefix(k, base)
		if !ok || strings.ToLower(strings.TrimSpace(v)) != "true" {
			continue
		}
		if tag != "" {
			if tag, ok = strings.CutPrefix(tag, "_"); !ok || tag == "" || tag == "TYPE" || strings.HasPrefix(tag, "TYPE_") {
				continue
			}
		}
		out = append(out, tag)
	}
	slices.Sort(out)
	return out
}

// tfcSettings reads one configuration's settings as the agent does.
type tfcSettings struct {
	env                  map[string]string
	provider, tag, phase string
}

func (s tfcSettings) explicit(name string) string {
	if s.tag == "" {
		return "TFC_" + s.provider + "_" + name
	}
	return "TFC_" + s.provider + "_" + name + "_" + s.tag
}

// get is TFC_<P>_<NAME>[_TAG], else TFC_DEFAULT_<P>_<NAME>; empty is unset.
func (s tfcSettings) get(name string) string {
	for _, k := range []string{s.explicit(name), "TFC_DEFAULT_" + s.provider + "_" + name} {
		if v := s.env[k]; v != "" {
			return v
		}
	}
	return ""
}

func (s tfcSettings) or(name, def string) string {
	if v := s.get(name); v != "" {
		return v
	}
	return def
}

// phased is the phase's own setting, else the run's.
func (s tfcSettings) phased(name string) string {
	for _, k := range []string{
		s.explicit(s.phase + "_" + name), "TFC_DEFAULT_" + s.provider + "_" + s.phase + "_" + name,
		s.explicit("RUN_" + name), "TFC_DEFAULT_" + s.provider + "_RUN_" + name,
	} {
		if v := s.env[k]; v != "" {
			return v
		}
	}
	return ""
}
