package resource

import (
	"crypto/rand"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

// Organization, project and workspace names follow internal/identity's
// rules: a workload-identity `sub` joins names with ':', so no name may hold
// one, and none may hold '/', '*' or '+', so a name is always one segment
// of an authorization path.
var (
	idRe           = regexp.MustCompile(`^[a-z]+-[A-Za-z0-9]{1,64}$`)
	resourceNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// Limits every domain applies.
const (
	MaxNameLen        = identity.MaxNameLen
	MaxDescriptionLen = 1024
)

// ValidOrganizationName, ValidWorkspaceName and ValidProjectName check a
// name against runcred's rules (internal/identity's).
var (
	ValidOrganizationName = identity.ValidOrganizationName
	ValidWorkspaceName    = identity.ValidWorkspaceName
	ValidProjectName      = identity.ValidProjectName
)

// ValidID checks an id of the given prefix ("ws", "var", …) before it is
// used in a query, so junk never reaches the database or an error message.
func ValidID(prefix, id string) bool {
	return strings.HasPrefix(id, prefix+"-") && idRe.MatchString(id)
}

// ValidDescription checks a description.
func ValidDescription(d string) error {
	if len(d) > MaxDescriptionLen || !utf8.ValidString(d) {
		return fail.Invalidf("description must be valid UTF-8 of at most %d bytes", MaxDescriptionLen)
	}
	return nil
}

// ValidName checks the name of a team, an agent pool or a
// variable set; what names the kind in messages.
func ValidName(what, name string) error {
	switch {
	case name == "":
		return fail.Invalidf("%s name is required", what)
	case len(name) > MaxNameLen:
		return fail.Invalidf("%s name is longer than %d characters", what, MaxNameLen)
	case !resourceNameRe.MatchString(name):
		return fail.Invalidf("%s name %q may hold only letters, digits, '.', '-' and '_'", what, fail.Clip(name))
	}
	return nil
}

// ValidAgentPoolID checks an agent pool id; "" (no pool) is valid.
func ValidAgentPoolID(id string) error {
	if id != "" && !ValidID("apool", id) {
		return fail.Invalidf("agent pool id must look like apool-<letters and digits>")
	}
	return nil
}

// idAlphabet is base58, as HCP Terraform's ids use: no 0, O, I or l.
// terraform-provider-tfe tells an id from a name by it (importing a team
// as ORG/ID), so an id outside it is taken for a name.
const idAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// NewID returns prefix-<16 random base58 characters>, as HCP Terraform's
// ids look (~93 bits).
func NewID(prefix string) string {
	const n = 16
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand panics instead)
		for _, b := range buf {
			// 232 = 4*58: rejecting above it keeps every letter equally likely.
			if b < 232 && len(out) < n {
				out = append(out, idAlphabet[b%58])
			}
		}
	}
	return prefix + "-" + string(out)
}

// ClipTo shortens s to at most n bytes of valid UTF-8.
func ClipTo(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "") // drops a rune cut in half
}

// LikeContains is a LIKE pattern (with ESCAPE '\') matching s anywhere.
func LikeContains(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// OrgNotFound is the answer for organization name when it cannot exist (an
// invalid name) or is not there, echoing the name clipped.
func OrgNotFound(name string) error {
	return fail.NotFoundf("organization %q not found", fail.Clip(name))
}
