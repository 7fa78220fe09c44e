package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// DefaultAudiences are allowed everywhere: the contract's fixed audiences
// (§1.6), which a variable writer can only switch on, not choose. Any
// other audience, a GCP provider's included, needs an allowlist entry.
var DefaultAudiences = []string{credspec.AWSAudience, credspec.VaultAudience, credspec.AzureAudience}

// Phase is what the guard checks: a phase's resolved settings and who last
// wrote each variable.
type Phase struct {
	Organization string // name
	ProjectID    string
	Spec         *credspec.Spec
	Writers      map[string]resource.Writer // by variable key
	Sensitive    map[string]bool            // keys whose values no message may show
}

// Finding is one setting no allowlist holds.
type Finding struct {
	Variable string          `json:"variable"`
	Value    string          `json:"value"`
	Writer   resource.Writer `json:"written_by"`
	Field    string          `json:"allowlist"` // FieldAudiences, …
	Allowed  []string        `json:"allowed"`
}

func (f Finding) String() string {
	allowed := "nothing"
	if len(f.Allowed) > 0 {
		allowed = strings.Join(f.Allowed, ", ")
	}
	return fmt.Sprintf("%s = %q (last written by %s) is not on the %s allowlist (allowed: %s)",
		f.Variable, f.Value, WriterString(f.Writer), f.Field, allowed)
}

// Violation is the guard's refusal of a phase: every finding.
type Violation struct {
	Organization string
	ProjectID    string
	Findings     []Finding
}

func (v *Violation) Error() string {
	parts := make([]string, len(v.Findings))
	for i, f := range v.Findings {
		parts[i] = f.String()
	}
	return fmt.Sprintf("credential guard of organization %q refused the phase, no token was minted: %s", v.Organization, strings.Join(parts, "; "))
}

// AsViolation returns the Violation err carries, if any.
func AsViolation(err error) (*Violation, bool) {
	var v *Violation
	ok := errors.As(err, &v)
	return v, ok
}

// WriterString names a writer for people.
func WriterString(w resource.Writer) string {
	switch w.Kind {
	case resource.WriterUser:
		return fmt.Sprintf("user %q", w.Name)
	case resource.WriterTeam:
		return fmt.Sprintf("team %s (%q)", w.ID, w.Name)
	case resource.WriterRun:
		return fmt.Sprintf("run %s of workspace %s", w.ID, w.WorkspaceID)
	}
	return "an unknown writer"
}

// effective is the union of the built-in allowances and the
// organization's and project's lists.
type effective struct {
	audiences, addresses, authPaths, roles, arns []string
}

func (s *Service) effective(ctx context.Context, org, projectID string) (effective, error) {
	o, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return effective{}, err
	}
	lists := []Allowlist{}
	for _, scope := range []string{o.ID, projectID} {
		if scope == "" {
			continue
		}
		a, err := s.db.get(ctx, scope)
		if err != nil {
			return effective{}, err
		}
		lists = append(lists, a)
	}
	e := effective{audiences: slices.Clone(DefaultAudiences), addresses: slices.Clone(s.own)}
	for _, a := range lists {
		e.audiences = append(e.audiences, a.Audiences...)
		e.addresses = append(e.addresses, a.VaultAddresses...)
		e.authPaths = append(e.authPaths, a.VaultAuthPaths...)
		e.roles = append(e.roles, a.VaultRoles...)
		e.arns = append(e.arns, a.AWSRoleARNs...)
	}
	return e, nil
}

func matchAny(patterns []string, v string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return Match(p, v) })
}

// Check holds a phase's settings against its organization's and project's
// allowlists. It returns nil when all are allowed, a fail.Denied error
// carrying a *Violation when some are not, and any other error when the
// allowlists could not be read, which the caller must treat as a refusal.
// It authorizes nothing: the run lifecycle calls it for a phase it has
// already authorized.
func (s *Service) Check(ctx context.Context, p Phase) error {
	if p.Spec == nil {
		return fail.Wrap(fail.Internal, nil, "credential guard: no settings to check")
	}
	e, err := s.effective(ctx, p.Organization, p.ProjectID)
	if err != nil {
		return fail.Wrap(fail.KindOf(err), err, "credential guard: the allowlists could not be read; the phase is refused")
	}
	v := &Violation{Organization: p.Organization, ProjectID: p.ProjectID}
	add := func(variable, value, field string, allowed []string) {
		if p.Sensitive[variable] {
			value = "(sensitive value)"
		}
		v.Findings = append(v.Findings, Finding{Variable: variable, Value: value, Writer: p.Writers[variable], Field: field, Allowed: allowed})
	}
	for _, a := range p.Spec.Audiences() {
		if !matchAny(e.audiences, a.Audience) {
			add(a.From, a.Audience, FieldAudiences, e.audiences)
		}
	}
	for _, c := range p.Spec.Vault {
		if n, err := NormalizeAddress(c.Addr); err != nil || !slices.Contains(e.addresses, n) {
			add(c.AddrFrom, c.Addr, FieldVaultAddresses, e.addresses)
		}
		if len(e.authPaths) > 0 && !matchAny(e.authPaths, c.AuthPath) {
			add(c.AuthPathFrom, c.AuthPath, FieldVaultAuthPaths, e.authPaths)
		}
		// An AppRole login names no role: its role ID, a secret, picks it.
		// Its address is checked all the same, for the secret ID goes there.
		if c.AuthType != credspec.AppRole && len(e.roles) > 0 && !matchAny(e.roles, c.Role) {
			add(c.RoleFrom, c.Role, FieldVaultRoles, e.roles)
		}
	}
	if len(e.arns) > 0 {
		for _, c := range p.Spec.AWS {
			if !matchAny(e.arns, c.RoleARN) {
				add(c.RoleARNFrom, c.RoleARN, FieldAWSRoleARNs, e.arns)
			}
		}
		for _, c := range p.Spec.VaultAWS {
			if c.RoleARN != "" && !matchAny(e.arns, c.RoleARN) {
				add(c.RoleARNFrom, c.RoleARN, FieldAWSRoleARNs, e.arns)
			}
		}
	}
	if len(v.Findings) == 0 {
		return nil
	}
	return fail.Wrap(fail.Denied, v, v.Error())
}

// CheckAudience holds one audience a phase asks a token for against the
// allowlists: the run lifecycle calls it before every mint, with from
// naming where the audience came from.
func (s *Service) CheckAudience(ctx context.Context, p Phase, audience, from string) error {
	e, err := s.effective(ctx, p.Organization, p.ProjectID)
	if err != nil {
		return fail.Wrap(fail.KindOf(err), err, "credential guard: the allowlists could not be read; no token is minted")
	}
	if matchAny(e.audiences, audience) {
		return nil
	}
	if p.Sensitive[from] {
		audience = "(sensitive value)"
	}
	v := &Violation{Organization: p.Organization, ProjectID: p.ProjectID, Findings: []Finding{{
		Variable: from, Value: audience, Writer: p.Writers[from], Field: FieldAudiences, Allowed: e.audiences}}}
	return fail.Wrap(fail.Denied, v, v.Error())
}
