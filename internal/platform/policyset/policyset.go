package policyset

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/policy"
)

// KindOPA is the only policy kind runcred evaluates.
const KindOPA = "opa"

// Policy is one individually managed OPA policy of an organization.
type Policy struct {
	ID           string
	Organization string // name
	Name         string
	Description  string
	Query        string
	Level        policy.Level
	Source       string // the Rego module; "" until uploaded
	SetCount     int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// PolicyOptions are a policy's settable fields; nil leaves one unchanged.
type PolicyOptions struct {
	Name        *string
	Kind        *string
	Description *string
	Query       *string
	Level       *string
}

// Scope kinds: what a policy set applies to, or is kept from.
const (
	ScopeWorkspace          = "workspace"
	ScopeWorkspaceExclusion = "workspace-exclusion"
	ScopeProject            = "project"
	ScopeProjectExclusion   = "project-exclusion"
)

// Set is a policy set.
type Set struct {
	ID           string
	Organization string // name
	Name         string
	Description  string
	Overridable  bool
	Global       bool
	// Revision grows on every edit; policy.Set.Version is its decimal form.
	Revision         int64
	CurrentVersionID string // the newest ready upload, "" for none
	PolicyIDs        []string
	Scope            map[string][]string // by Scope* kind: workspace or project ids
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// SetOptions are a set's settable fields; nil leaves one unchanged.
type SetOptions struct {
	Name        *string
	Description *string
	Kind        *string
	Overridable *bool
	Global      *bool
	// On create only: the initial members and scope.
	PolicyIDs []string
	Scope     map[string][]string
}

// Parameter is a policy set's parameter; policies read it as
// data.params.<key>. A value that is JSON arrives typed, else as a string.
type Parameter struct {
	ID        string
	SetID     string
	Key       string
	Value     string // "" when sensitive
	Sensitive bool
}

// ParameterOptions are a parameter's settable fields.
type ParameterOptions struct {
	Key       *string
	Value     *string
	Category  *string // "policy-set", as go-tfe sends it
	Sensitive *bool
}

// Version statuses, as HCP Terraform's policy set versions.
const (
	VersionPending = "pending"
	VersionReady   = "ready"
	VersionErrored = "errored"
)

// Version is one upload of a policy set's files.
type Version struct {
	ID          string
	SetID       string
	Status      string
	Error       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	UploadToken string // while pending, to callers who created it
}

// Limits.
const (
	MaxQueryLen       = 512
	MaxSourceLen      = policy.MaxSetBytes
	MaxParamValueLen  = 64 << 10
	MaxMembers        = 1000 // policies, workspaces or projects of one set
	maxParamKeyLen    = 128
	categoryPolicySet = "policy-set"
)

func checkKind(kind *string) error {
	if kind == nil || *kind == "" {
		return nil // runcred evaluates only OPA: an omitted kind is OPA
	}
	return policy.CheckKind(*kind)
}

func (o PolicyOptions) apply(p *Policy) error {
	if err := checkKind(o.Kind); err != nil {
		return err
	}
	if o.Name != nil {
		if err := resource.ValidName("policy", *o.Name); err != nil {
			return err
		}
		p.Name = *o.Name
	}
	if o.Description != nil {
		if err := resource.ValidDescription(*o.Description); err != nil {
			return err
		}
		p.Description = *o.Description
	}
	if o.Query != nil {
		q := strings.TrimSpace(*o.Query)
		if q == "" || len(q) > MaxQueryLen || !strings.HasPrefix(q, "data.") {
			return fail.Invalidf("query must be a reference into data (data.terraform.policies.<name>.deny) of at most %d bytes", MaxQueryLen)
		}
		p.Query = q
	}
	if o.Level != nil {
		l, err := policy.ParseLevel(*o.Level)
		if err != nil {
			return err
		}
		p.Level = l
	}
	if p.Query == "" {
		return fail.Invalidf("query is required for an OPA policy")
	}
	return nil
}

func (o SetOptions) apply(s *Set) error {
	if err := checkKind(o.Kind); err != nil {
		return err
	}
	if o.Name != nil {
		if err := resource.ValidName("policy set", *o.Name); err != nil {
			return err
		}
		s.Name = *o.Name
	}
	if o.Description != nil {
		if err := resource.ValidDescription(*o.Description); err != nil {
			return err
		}
		s.Description = *o.Description
	}
	if o.Overridable != nil {
		s.Overridable = *o.Overridable
	}
	if o.Global != nil {
		s.Global = *o.Global
	}
	return nil
}

func validScopeKind(kind string) error {
	switch kind {
	case ScopeWorkspace, ScopeWorkspaceExclusion, ScopeProject, ScopeProjectExclusion:
		return nil
	}
	return fail.Invalidf("unknown policy set relationship %q", fail.Clip(kind))
}

func (o ParameterOptions) apply(p *Parameter) error {
	if o.Category != nil && *o.Category != categoryPolicySet {
		return fail.Invalidf("category must be %q", categoryPolicySet)
	}
	if o.Key != nil {
		k := *o.Key
		if k == "" || len(k) > maxParamKeyLen || !paramKeyOK(k) {
			return fail.Invalidf("parameter key must be 1 to %d letters, digits or '_', starting with a letter or '_'", maxParamKeyLen)
		}
		p.Key = k
	}
	if o.Value != nil {
		if len(*o.Value) > MaxParamValueLen {
			return fail.Invalidf("parameter value is longer than %d bytes", MaxParamValueLen)
		}
		p.Value = *o.Value
	}
	if o.Sensitive != nil {
		if p.Sensitive && !*o.Sensitive {
			return fail.Invalidf("a sensitive parameter cannot be made non-sensitive")
		}
		p.Sensitive = *o.Sensitive
	}
	return nil
}

// paramKeyOK: a key is a Rego identifier, so data.params.<key> works.
func paramKeyOK(k string) bool {
	for i, r := range k {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// paramValue is what a policy sees: the value as JSON when it is JSON, else
// the string, as HCP Terraform passes parameters.
func paramValue(v string) any {
	var out any
	if json.Unmarshal([]byte(v), &out) == nil {
		return out
	}
	return v
}
