package team

import (
	"slices"
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
	// Owners marks the organization's owners team, made with it: it has
	// every power in the organization and can be neither renamed nor
	// deleted.
	Owners bool
	// OrganizationAccess lists the organization-wide permissions the team
	// holds (OrganizationAccessNames), sorted.
	OrganizationAccess []string
	CreatedAt          time.Time
}

// OwnersTeamName is the name of every organization's owners team.
const OwnersTeamName = "owners"

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
	// OrganizationAccess sets (true) or clears (false) organization access
	// attributes by name; those not named keep their value.
	OrganizationAccess map[string]bool
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
		if t.Owners && *o.Name != t.Name {
			return fail.Invalidf("the owners team cannot be renamed")
		}
		t.Name = *o.Name
	}
	if o.Visibility != nil {
		t.Visibility = *o.Visibility
	}
	if o.AllowMemberTokenManagement != nil {
		t.AllowMemberTokenManagement = *o.AllowMemberTokenManagement
	}
	for name, on := range o.OrganizationAccess {
		if !slices.Contains(OrganizationAccessNames, name) {
			if !on {
				continue // HCP's attributes that govern nothing here read false
			}
			return fail.Invalidf("organization-access: %s cannot be granted: nothing in runcred is governed by it", name)
		}
		if t.Owners {
			continue // the owners have everything
		}
		t.OrganizationAccess = slices.DeleteFunc(t.OrganizationAccess, func(s string) bool { return s == name })
		if on {
			t.OrganizationAccess = append(t.OrganizationAccess, name)
		}
	}
	slices.Sort(t.OrganizationAccess)
	if err := resource.ValidName("team", t.Name); err != nil {
		return err
	}
	if t.Visibility != VisibilitySecret && t.Visibility != VisibilityOrganization {
		return fail.Invalidf("team visibility must be %q or %q", VisibilitySecret, VisibilityOrganization)
	}
	return nil
}
