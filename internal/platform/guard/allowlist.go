package guard

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Allowlist is one organization's or project's guard settings. Audiences,
// VaultAuthPaths, VaultRoles and AWSRoleARNs hold patterns (see Match);
// VaultAddresses hold http(s) base URLs, compared exactly once normalized.
type Allowlist struct {
	Audiences      []string
	VaultAddresses []string
	VaultAuthPaths []string
	VaultRoles     []string
	AWSRoleARNs    []string

	UpdatedAt time.Time
	UpdatedBy resource.Writer
}

// Limits on what an allowlist may hold.
const (
	MaxEntries  = 100
	MaxEntryLen = 512
)

// Field names, as the API spells them; messages name them too.
const (
	FieldAudiences      = "audiences"
	FieldVaultAddresses = "vault-addresses"
	FieldVaultAuthPaths = "vault-auth-paths"
	FieldVaultRoles     = "vault-roles"
	FieldAWSRoleARNs    = "aws-role-arns"
)

// Validate checks every entry and normalizes the Vault addresses in place.
// An error names the field and the entry's index.
func (a *Allowlist) Validate() error {
	for _, f := range []struct {
		name    string
		entries []string
	}{
		{FieldAudiences, a.Audiences}, {FieldVaultAddresses, a.VaultAddresses}, {FieldVaultAuthPaths, a.VaultAuthPaths},
		{FieldVaultRoles, a.VaultRoles}, {FieldAWSRoleARNs, a.AWSRoleARNs},
	} {
		if len(f.entries) > MaxEntries {
			return fail.Invalidf("%s: at most %d entries", f.name, MaxEntries)
		}
		for i, e := range f.entries {
			if e == "" || len(e) > MaxEntryLen {
				return fail.Invalidf("%s[%d]: an entry holds 1 to %d bytes", f.name, i, MaxEntryLen)
			}
			if strings.IndexFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
				return fail.Invalidf("%s[%d]: %q holds a space or a control character", f.name, i, fail.Clip(e))
			}
		}
	}
	for i, addr := range a.VaultAddresses {
		n, err := NormalizeAddress(addr)
		if err != nil {
			return fail.Invalidf("%s[%d]: %v", FieldVaultAddresses, i, err)
		}
		a.VaultAddresses[i] = n
	}
	return nil
}

// NormalizeAddress is the form Vault addresses are compared in: scheme and
// host in lower case, the scheme's default port dropped, no trailing
// slash. Only http(s) URLs without user, query or fragment are addresses.
func NormalizeAddress(addr string) (string, error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "HTTP" && u.Scheme != "HTTPS") ||
		u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an http(s) address", fail.Clip(addr))
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// Match reports whether value matches pattern, as a whole. A pattern is
// literal text in which '*' stands for any run of characters (none
// included, '/' and ':' too) and '?' for exactly one; matching is
// case-sensitive, as ARNs and audiences are. This is the wildcard syntax of
// IAM policies, so "arn:aws:iam::123456789012:role/tf-*" means what it
// means there.
func Match(pattern, value string) bool {
	// The classic linear-backtracking glob: on a mismatch, retry from the
	// last '*' with one more character consumed.
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]) && pattern[p] != '*':
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
