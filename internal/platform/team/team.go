package team

import (
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Team is a group of an organization's people who share a team token.
type Team struct {
	ID           string
	Organization string // name
	Name         string
	Visibility   string // VisibilitySecret or VisibilityOrganization
	// AllowMemberTokenManagement is HCP Terraform's setting, kept and
	// returned; runcred has no team members, so a team's tokens are managed
	// by whoever its broker policy lets.
	AllowMemberTokenManagement bool
	CreatedAt                  time.Time
}

// Team visibilities, as in HCP Terraform.
const (
	VisibilitySecret       = "secret"
	VisibilityOrganization = "organization"
)

// Options are the settable fields of a team.
type Options struct {
	Name       *string
	Visibility *string // default VisibilitySecret
	// AllowMemberTokenManagement defaults to true.
	AllowMemberTokenManagement *bool
}

// TokenOptions describe a team token.
type TokenOptions struct {
	// Description makes the token one of the team's several described
	// tokens; without it, the token is the team's single legacy token and
	// replaces (revokes) the one before.
	Description *string
	ExpiresAt   *time.Time // nil: never
}

// Filter narrows a team list.
type Filter struct {
	Names  []string // exact names (filter[names])
	Search string   // part of the name (q)
	Page   resource.Page
}

func (o Options) apply(t *Team) error {
	if o.Name != nil {
		t.Name = *o.Name
	}
	if o.Visibility != nil {
		t.Visibility = *o.Visibility
	}
	if o.AllowMemberTokenManagement != nil {
		t.AllowMemberTokenManagement = *o.AllowMemberTokenManagement
	}
	if err := resource.ValidName("team", t.Name); err != nil {
		return err
	}
	if t.Visibility != VisibilitySecret && t.Visibility != VisibilityOrganization {
		return fail.Invalidf("team visibility must be %q or %q", VisibilitySecret, VisibilityOrganization)
	}
	return nil
}
