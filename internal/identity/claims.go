package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"regexp"
	"strings"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
)

// Name rules. `sub` joins names with ':' (HCP Terraform's format), so a name
// that could hold ':' would let workspace "a:project:x" impersonate another.
// runcred therefore never accepts ':' in a name: organization and workspace
// names are letters, digits, '-' and '_' (as in HCP Terraform); project names
// may also hold inner spaces ("Default Project"). With these rules every sub
// splits back into exactly one (org, project, workspace, phase).
var (
	orgOrWorkspaceRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	projectRe        = regexp.MustCompile(`^[A-Za-z0-9_-]([A-Za-z0-9 _-]*[A-Za-z0-9_-])?$`)
	idRe             = regexp.MustCompile(`^[a-z]+-[A-Za-z0-9]{1,64}$`)
)

// Length limits on what goes into a token.
const (
	MaxNameLen     = 90
	MaxAudienceLen = 512
)

// Subject is the run phase a token is minted for.
type Subject struct {
	Organization   string       `json:"organization"`
	OrganizationID string       `json:"organization_id,omitempty"`
	Project        string       `json:"project"`
	ProjectID      string       `json:"project_id,omitempty"`
	Workspace      string       `json:"workspace"`
	WorkspaceID    string       `json:"workspace_id,omitempty"`
	RunID          string       `json:"run_id"`
	Phase          jobapi.Phase `json:"phase"`
}

// Validate checks every field against the name rules and fills IDs that were
// not given with ones derived from the names (used when minting for a
// workspace runcred does not manage, e.g. to test a trust policy).
func (s *Subject) Validate() error {
	if err := checkName("organization", s.Organization, orgOrWorkspaceRe); err != nil {
		return err
	}
	if err := checkName("project", s.Project, projectRe); err != nil {
		return err
	}
	if err := checkName("workspace", s.Workspace, orgOrWorkspaceRe); err != nil {
		return err
	}
	if !s.Phase.Valid() {
		return fail.Invalidf("run phase must be %q or %q, got %q", jobapi.Plan, jobapi.Apply, fail.Clip(string(s.Phase)))
	}
	if !strings.HasPrefix(s.RunID, "run-") || !idRe.MatchString(s.RunID) {
		return fail.Invalidf("run id must look like run-<letters and digits>, got %q", fail.Clip(s.RunID))
	}
	for _, f := range []struct {
		field, prefix string
		id            *string
		name          string
	}{
		{"organization id", "org-", &s.OrganizationID, s.Organization},
		{"project id", "prj-", &s.ProjectID, s.Organization + "/" + s.Project},
		{"workspace id", "ws-", &s.WorkspaceID, s.Organization + "/" + s.Workspace},
	} {
		if *f.id == "" {
			*f.id = derivedID(f.prefix, f.name)
			continue
		}
		if !strings.HasPrefix(*f.id, f.prefix) || !idRe.MatchString(*f.id) {
			return fail.Invalidf("%s must look like %s<letters and digits>, got %q", f.field, f.prefix, fail.Clip(*f.id))
		}
	}
	return nil
}

// ValidOrganizationName, ValidProjectName and ValidWorkspaceName check a
// name against the rules every runcred name follows, so that any name the
// platform stores can appear in a token's sub and split back exactly.
func ValidOrganizationName(v string) error { return checkName("organization", v, orgOrWorkspaceRe) }
func ValidProjectName(v string) error      { return checkName("project", v, projectRe) }
func ValidWorkspaceName(v string) error    { return checkName("workspace", v, orgOrWorkspaceRe) }

// checkName uses ifs rather than a tagless switch so that mutation testing
// runs its conditions (Go's coverage has no block for a case's condition).
func checkName(field, v string, re *regexp.Regexp) error {
	if v == "" {
		return fail.Invalidf("%s name is required", field)
	}
	if len(v) > MaxNameLen {
		return fail.Invalidf("%s name is longer than %d characters", field, MaxNameLen)
	}
	if re.MatchString(v) {
		return nil
	}
	if field == "project" {
		return fail.Invalidf("project name %q may hold only letters, digits, '-', '_' and inner spaces", fail.Clip(v))
	}
	return fail.Invalidf("%s name %q may hold only letters, digits, '-' and '_'", field, fail.Clip(v))
}

// FullWorkspace is the terraform_full_workspace claim.
func (s Subject) FullWorkspace() string {
	return "organization:" + s.Organization + ":project:" + s.Project + ":workspace:" + s.Workspace
}

// Sub is the token's sub claim, HCP Terraform's format exactly.
func (s Subject) Sub() string { return s.FullWorkspace() + ":run_phase:" + string(s.Phase) }

// ParseSub splits a sub claim back into names. It accepts only what Sub can
// produce from valid names.
func ParseSub(sub string) (org, project, workspace string, phase jobapi.Phase, err error) {
	parts := strings.Split(sub, ":")
	if len(parts) != 8 || parts[0] != "organization" || parts[2] != "project" || parts[4] != "workspace" || parts[6] != "run_phase" {
		return "", "", "", "", fail.Invalidf("sub is not organization:<org>:project:<project>:workspace:<workspace>:run_phase:<phase>")
	}
	s := Subject{Organization: parts[1], Project: parts[3], Workspace: parts[5], Phase: jobapi.Phase(parts[7]), RunID: "run-x"}
	if err := s.Validate(); err != nil {
		return "", "", "", "", err
	}
	return s.Organization, s.Project, s.Workspace, s.Phase, nil
}

// derivedID is a stable ID for a name runcred does not manage: the prefix and
// 16 characters of a hash, so the same names always give the same IDs.
func derivedID(prefix, name string) string {
	h := sha256.Sum256([]byte("runcred derived id\x00" + prefix + name))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:])
	return prefix + strings.ToLower(enc[:16])
}
