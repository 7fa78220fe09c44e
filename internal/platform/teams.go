package platform

import (
	"context"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Team is a group of an organization's people who share a team token.
// runcred has no user accounts: a team is the identity its tokens carry,
// which is what variable provenance records for their writes.
type Team struct {
	ID           string
	Organization string // name
	Name         string
	Visibility   string // TeamSecret or TeamOrganization
	CreatedAt    time.Time
}

// Team visibilities, as in HCP Terraform.
const (
	TeamSecret       = "secret"
	TeamOrganization = "organization"
)

// TeamOptions are the settable fields of a team.
type TeamOptions struct {
	Name       *string
	Visibility *string // default TeamSecret
}

// TeamTokenOptions describe a team token.
type TeamTokenOptions struct {
	// Description makes the token one of the team's several described
	// tokens; without it, the token is the team's single legacy token and
	// replaces (revokes) the one before.
	Description *string
	ExpiresAt   *time.Time // nil: never
}

func teamsPath(org string) string          { return resource.OrgPath(org) + "/teams" }
func teamPath(org, id string) string       { return teamsPath(org) + "/" + id }
func teamTokensPath(org, id string) string { return teamPath(org, id) + "/tokens" }

// teamPolicyBody is what an organization member may do, as HCP Terraform's
// "write" workspace permission on every workspace: read and list the
// organization's resources; write variables; queue,
// apply, discard and cancel runs; upload configuration; lock and unlock
// workspaces (not force-unlock another's lock). Not: create,
// change or delete workspaces (their settings choose where and how runs
// execute: agent pool, auto-apply, working directory),
// read run variables (decrypted sensitive values), act as a run's agent,
// override a policy check, or change the organization, its projects,
// pools, teams and variable sets. An admin widens it with another policy
// or by editing this one through the broker's sys/policies/acl API.
func teamPolicyBody(org, id string) string {
	o := resource.OrgPath(org)
	ws := resource.WorkspacesPath(org) + "/+"
	rules := []struct{ path, caps string }{
		{o, `"read"`},
		{o + "/*", `"read", "list"`},
		{ws, `"read"`},
		{ws + "/vars/*", `"create", "read", "update", "delete", "list"`},
		{ws + "/runs", `"create", "read", "list"`},
		{ws + "/runs/*", `"read", "update"`},
		{ws + "/configuration-versions", `"create", "read", "list"`},
		{ws + "/actions/lock", `"update"`},
		{ws + "/actions/unlock", `"update"`},
		{ws + "/run-variables", `"deny"`},
		{ws + "/agent", `"deny"`},
		{ws + "/runs/+/actions/override", `"deny"`},
	}
	var b strings.Builder
	b.WriteString("# runcred team " + id + " of organization " + org + ": an organization member.\n")
	for _, r := range rules {
		b.WriteString(`path "` + r.path + `" { capabilities = [` + r.caps + "] }\n")
	}
	return b.String()
}

func (o TeamOptions) apply(t *Team) error {
	if o.Name != nil {
		t.Name = *o.Name
	}
	if o.Visibility != nil {
		t.Visibility = *o.Visibility
	}
	if err := resource.ValidResourceName("team", t.Name); err != nil {
		return err
	}
	if t.Visibility != TeamSecret && t.Visibility != TeamOrganization {
		return fail.Invalidf("team visibility must be %q or %q", TeamSecret, TeamOrganization)
	}
	return nil
}

// CreateTeam creates a team in org and, when the service can issue
// tokens, the broker policy its tokens will hold.
func (s *Service) CreateTeam(ctx context.Context, org string, o TeamOptions) (Team, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Team{}, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, teamsPath(org), access.Create); err != nil {
		return Team{}, err
	}
	if o.Name == nil {
		return Team{}, fail.Invalidf("team name is required")
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Team{}, err
	}
	t := Team{ID: resource.NewID("team"), Organization: org, Visibility: TeamSecret, CreatedAt: resource.FromNanos(resource.Nanos(s.base.Now()))}
	if err := o.apply(&t); err != nil {
		return Team{}, err
	}
	if err := s.base.Record(ctx, "platform.team.create", map[string]any{"organization": org, "id": t.ID, "name": t.Name}); err != nil {
		return Team{}, err
	}
	if s.tokens != nil {
		if err := s.tokens.PutPolicy(ctx, apitoken.TeamPolicy(t.ID), teamPolicyBody(org, t.ID)); err != nil {
			return Team{}, err
		}
	}
	_, err = s.base.DB.Exec(ctx, `INSERT INTO teams (id, org_id, name, visibility, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, parent.ID, t.Name, t.Visibility, resource.Nanos(t.CreatedAt))
	if err != nil {
		return Team{}, resource.Conflict(err, "team %q already exists in organization %q", t.Name, org)
	}
	return t, nil
}

const teamColumns = `t.id, o.name, t.name, t.visibility, t.created_at`

const teamFrom = ` FROM teams t JOIN organizations o ON o.id = t.org_id `

func scanTeam(row interface{ Scan(...any) error }) (Team, error) {
	var t Team
	var created int64
	if err := row.Scan(&t.ID, &t.Organization, &t.Name, &t.Visibility, &created); err != nil {
		return Team{}, err
	}
	t.CreatedAt = resource.FromNanos(created)
	return t, nil
}

func (s *Service) team(ctx context.Context, id string) (Team, error) {
	if !resource.ValidID("team", id) {
		return Team{}, fail.NotFoundf("team %q not found", resource.Clip(id))
	}
	t, err := scanTeam(s.base.DB.QueryRow(ctx, `SELECT `+teamColumns+teamFrom+`WHERE t.id = ?`, id))
	return t, resource.NotFound(err, "team %q not found", id)
}

func (s *Service) teamFor(ctx context.Context, id, capability string) (Team, error) {
	t, err := s.team(ctx, id)
	if err != nil {
		return Team{}, err
	}
	if err := s.base.Authorize(ctx, teamPath(t.Organization, t.ID), capability); err != nil {
		return Team{}, err
	}
	return t, nil
}

// Team returns team id.
func (s *Service) Team(ctx context.Context, id string) (Team, error) {
	return s.teamFor(ctx, id, access.Read)
}

// TeamFilter narrows a team list.
type TeamFilter struct {
	Names  []string // exact names (filter[names])
	Search string   // part of the name (q)
	Page   resource.Page
}

// Teams lists org's teams by name, one page at a time, with the total count.
func (s *Service) Teams(ctx context.Context, org string, f TeamFilter) ([]Team, int, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return nil, 0, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, teamsPath(org), access.List); err != nil {
		return nil, 0, err
	}
	if _, err := s.orgs.Organization(ctx, org); err != nil {
		return nil, 0, err
	}
	where, args := `WHERE o.name = ?`, []any{org}
	if len(f.Names) > 0 {
		if len(f.Names) > resource.MaxPageSize {
			return nil, 0, fail.Invalidf("at most %d team names may be given", resource.MaxPageSize)
		}
		where += ` AND t.name IN (?` + strings.Repeat(", ?", len(f.Names)-1) + `)`
		for _, n := range f.Names {
			args = append(args, n)
		}
	}
	if f.Search != "" {
		where, args = where+` AND t.name LIKE ? ESCAPE '\'`, append(args, resource.LikeContains(f.Search))
	}
	var total int
	if err := s.base.DB.QueryRow(ctx, `SELECT COUNT(*)`+teamFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := f.Page.Normalize()
	rows, err := s.base.DB.Query(ctx, `SELECT `+teamColumns+teamFrom+where+` ORDER BY t.name LIMIT ? OFFSET ?`, append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanTeam)
	return out, total, err
}

// UpdateTeam renames team id or changes its visibility.
func (s *Service) UpdateTeam(ctx context.Context, id string, o TeamOptions) (Team, error) {
	t, err := s.teamFor(ctx, id, access.Update)
	if err != nil {
		return Team{}, err
	}
	if err := o.apply(&t); err != nil {
		return Team{}, err
	}
	if err := s.base.Record(ctx, "platform.team.update", map[string]any{"organization": t.Organization, "id": t.ID, "name": t.Name, "visibility": t.Visibility}); err != nil {
		return Team{}, err
	}
	res, err := s.base.DB.Exec(ctx, `UPDATE teams SET name = ?, visibility = ? WHERE id = ?`, t.Name, t.Visibility, t.ID)
	if err := resource.Affected(res, resource.Conflict(err, "team %q already exists in organization %q", t.Name, t.Organization), "team %q not found", id); err != nil {
		return Team{}, err
	}
	return t, nil
}

// DeleteTeam deletes team id, revoking its tokens and deleting their policy.
func (s *Service) DeleteTeam(ctx context.Context, id string) error {
	t, err := s.teamFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.team.delete", map[string]any{"organization": t.Organization, "id": t.ID, "name": t.Name}); err != nil {
		return err
	}
	if err := s.ledger.RevokeOwner(ctx, t.ID); err != nil {
		return err
	}
	if s.tokens != nil {
		if err := s.tokens.DeletePolicy(ctx, apitoken.TeamPolicy(t.ID)); err != nil {
			return err
		}
	}
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM platform_tokens WHERE owner_id = ?`, t.ID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM teams WHERE id = ?`, t.ID)
		return resource.Affected(res, err, "team %q not found", id)
	})
}

// CreateTeamToken issues a token for team id, carrying the team as its
// writer (resource.MetaTeamID) and holding the team's policy. The token is returned
// this once; runcred keeps only its accessor.
func (s *Service) CreateTeamToken(ctx context.Context, id string, o TeamTokenOptions) (apitoken.Token, error) {
	tm, err := s.team(ctx, id)
	if err != nil {
		return apitoken.Token{}, err
	}
	if err := s.base.Authorize(ctx, teamTokensPath(tm.Organization, tm.ID), access.Create); err != nil {
		return apitoken.Token{}, err
	}
	t := apitoken.Token{ID: resource.NewID("at"), Kind: apitoken.KindTeam, Organization: tm.Organization, OwnerID: tm.ID, Legacy: o.Description == nil}
	if o.Description != nil {
		if err := resource.ValidDescription(*o.Description); err != nil {
			return apitoken.Token{}, err
		}
		t.Description = *o.Description
	}
	if o.ExpiresAt != nil {
		if !o.ExpiresAt.After(s.base.Now()) {
			return apitoken.Token{}, fail.Invalidf("token expiry must be in the future")
		}
		t.ExpiresAt = *o.ExpiresAt
	}
	if s.tokens == nil {
		return apitoken.Token{}, apitoken.ErrNoTokens
	}
	if err := s.base.Record(ctx, "platform.team_token.create", apitoken.Audit(t)); err != nil {
		return apitoken.Token{}, err
	}
	if t.Legacy {
		// The new token replaces the old one, which goes first: for a moment
		// the team may have none, never two.
		if old, err := s.ledger.Legacy(ctx, tm.ID, tm.Name); err == nil {
			if err := s.ledger.Delete(ctx, old); err != nil {
				return apitoken.Token{}, err
			}
		} else if !fail.Is(err, fail.NotFound) {
			return apitoken.Token{}, err
		}
	}
	if err := s.tokens.EnsurePolicy(ctx, apitoken.TeamPolicy(tm.ID), teamPolicyBody(tm.Organization, tm.ID)); err != nil {
		return apitoken.Token{}, err
	}
	return s.ledger.Issue(ctx, t, resource.TokenRequest{
		DisplayName: "team-" + tm.Name, Policies: []string{apitoken.TeamPolicy(tm.ID)},
		Meta: map[string]string{resource.MetaTeamID: tm.ID},
	})
}

// TeamToken returns team id's legacy token, without the token.
func (s *Service) TeamToken(ctx context.Context, id string) (apitoken.Token, error) {
	tm, err := s.team(ctx, id)
	if err != nil {
		return apitoken.Token{}, err
	}
	if err := s.base.Authorize(ctx, teamTokensPath(tm.Organization, tm.ID), access.Read); err != nil {
		return apitoken.Token{}, err
	}
	return s.ledger.Legacy(ctx, tm.ID, tm.Name)
}

// DeleteTeamToken revokes team id's legacy token.
func (s *Service) DeleteTeamToken(ctx context.Context, id string) error {
	tm, err := s.team(ctx, id)
	if err != nil {
		return err
	}
	if err := s.base.Authorize(ctx, teamTokensPath(tm.Organization, tm.ID), access.Delete); err != nil {
		return err
	}
	t, err := s.ledger.Legacy(ctx, tm.ID, tm.Name)
	if err != nil {
		return err
	}
	return s.ledger.Delete(ctx, t)
}

// TeamTokens lists the tokens of every team of org, oldest first.
func (s *Service) TeamTokens(ctx context.Context, org string, pg resource.Page) ([]apitoken.Token, int, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return nil, 0, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, teamsPath(org), access.List); err != nil {
		return nil, 0, err
	}
	if _, err := s.orgs.Organization(ctx, org); err != nil {
		return nil, 0, err
	}
	return s.ledger.OfKind(ctx, org, apitoken.KindTeam, pg)
}
