package engine

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
)

// TokenParams are Vault's token fields shared by every auth method's roles
// (sdk/helper/tokenutil.TokenParams): what a token minted through a role
// gets. Auth engines embed it in their stored roles, so the JSON names are
// the storage format (durations as time.Duration, CIDRs as CanonicalCIDRs
// writes them) and the Go names are Vault's.
type TokenParams struct {
	TokenPolicies        []string      `json:"token_policies"` // canonical: see Parse
	TokenTTL             time.Duration `json:"token_ttl"`
	TokenMaxTTL          time.Duration `json:"token_max_ttl"`
	TokenExplicitMaxTTL  time.Duration `json:"token_explicit_max_ttl"`
	TokenPeriod          time.Duration `json:"token_period"`
	TokenNumUses         int           `json:"token_num_uses"`
	TokenBoundCIDRs      []string      `json:"token_bound_cidrs"`
	TokenNoDefaultPolicy bool          `json:"token_no_default_policy"`
	TokenType            string        `json:"token_type"` // "default" (or "" before one is set), "service" or "batch"
}

// TokenFieldNames are the fields Parse reads under their current names.
var TokenFieldNames = []string{
	"token_policies", "token_ttl", "token_max_ttl", "token_explicit_max_ttl", "token_period",
	"token_num_uses", "token_bound_cidrs", "token_no_default_policy", "token_type",
}

// tokenAliases are the deprecated names Vault's auth methods still accept,
// with the current name of each. Which of them a method accepts is its own
// choice (jwt takes all, approle only policies and period), so Parse reads
// only those it is given.
var tokenAliases = map[string]string{
	"policies": "token_policies", "ttl": "token_ttl", "max_ttl": "token_max_ttl",
	"period": "token_period", "num_uses": "token_num_uses", "bound_cidrs": "token_bound_cidrs",
}

// Parse updates t from the token fields present in f, as Vault's
// tokenutil.ParseTokenFields and UpgradeValue do, with their messages: a
// deprecated name in aliases stands for its current name when that is not
// sent (when both are, the current one wins). A null value counts as not
// sent. Policy names are trimmed, lower-cased, de-duplicated and sorted,
// and "root" in any spelling is refused, so no role can mint a root token
// (CVE-2025-5999). On an error t may be partly updated: discard it.
func (t *TokenParams) Parse(f Fields, aliases ...string) error {
	given := func(name string) string {
		if f[name] != nil {
			return name
		}
		for _, a := range aliases {
			if tokenAliases[a] == name && f[a] != nil {
				return a
			}
		}
		return ""
	}

	if name := given("token_policies"); name != "" {
		raw, _, err := f.Strings(name)
		if err != nil {
			return err
		}
		if t.TokenPolicies, err = canonicalPolicies(raw); err != nil {
			return err
		}
	}
	if name := given("token_bound_cidrs"); name != "" {
		raw, _, err := f.Strings(name)
		if err != nil {
			return err
		}
		if t.TokenBoundCIDRs, err = CanonicalCIDRs("token_bound_cidrs", raw); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"token_ttl", &t.TokenTTL},
		{"token_max_ttl", &t.TokenMaxTTL},
		{"token_explicit_max_ttl", &t.TokenExplicitMaxTTL},
		{"token_period", &t.TokenPeriod},
	} {
		name := given(d.name)
		if name == "" {
			continue
		}
		v, _, err := f.Duration(name)
		if err != nil {
			return err
		}
		if v < 0 { // ParseDuration lets -1 through for fields where it means "off"
			return fail.Invalidf("'%s' cannot be negative", d.name)
		}
		*d.dst = v
	}
	if name := given("token_num_uses"); name != "" {
		v, _, err := f.Int(name)
		if err != nil {
			return err
		}
		if v < 0 {
			return fail.Invalidf("'token_num_uses' cannot be negative")
		}
		t.TokenNumUses = v
	}
	if v, ok, err := f.Bool("token_no_default_policy"); err != nil {
		return err
	} else if ok {
		t.TokenNoDefaultPolicy = v
	}
	if v, ok, err := f.String("token_type"); err != nil {
		return err
	} else if ok {
		switch v {
		case "", "default":
			t.TokenType = "default"
		case "service", "batch":
			t.TokenType = v
		default:
			return fail.Invalidf("invalid 'token_type' value %q", v)
		}
	}
	return t.Validate()
}

// Validate checks the fields against each other, as the end of Vault's
// ParseTokenFields does. Parse calls it; an engine that changes t another
// way (resetting one field) calls it again.
func (t *TokenParams) Validate() error {
	if t.TokenType == "batch" {
		if t.TokenPeriod != 0 {
			return fail.Invalidf("'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens")
		}
		if t.TokenNumUses != 0 {
			return fail.Invalidf("'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count")
		}
	}
	if t.TokenTTL > 0 && t.TokenMaxTTL > 0 && t.TokenTTL > t.TokenMaxTTL {
		return fail.Invalidf("'token_ttl' cannot be greater than 'token_max_ttl'")
	}
	return nil
}

// Render adds the token fields to a role read response with Vault's types
// (PopulateTokenData): durations in whole seconds, empty lists as [].
func (t TokenParams) Render(into map[string]any) {
	into["token_policies"] = nonNil(t.TokenPolicies)
	into["token_bound_cidrs"] = nonNil(t.TokenBoundCIDRs)
	into["token_ttl"] = seconds(t.TokenTTL)
	into["token_max_ttl"] = seconds(t.TokenMaxTTL)
	into["token_explicit_max_ttl"] = seconds(t.TokenExplicitMaxTTL)
	into["token_period"] = seconds(t.TokenPeriod)
	into["token_num_uses"] = t.TokenNumUses
	into["token_no_default_policy"] = t.TokenNoDefaultPolicy
	tokenType := t.TokenType
	if tokenType == "" {
		tokenType = "default"
	}
	into["token_type"] = tokenType
}

// Auth describes the token for a login through a role with these fields
// (PopulateTokenAuth). cidrs are the addresses the token is bound to: the
// role's TokenBoundCIDRs parsed with Prefixes, or a narrower list the
// method has (an AppRole secret ID's). A "default" token type is left ""
// for the core to resolve by the mount's tuning.
func (t TokenParams) Auth(displayName, alias string, meta map[string]string, cidrs []netip.Prefix) *Auth {
	tokenType := t.TokenType
	if tokenType == "default" {
		tokenType = ""
	}
	if len(cidrs) == 0 {
		cidrs = nil
	}
	return &Auth{
		DisplayName:     displayName,
		Alias:           alias,
		Policies:        slices.Clone(t.TokenPolicies),
		NoDefaultPolicy: t.TokenNoDefaultPolicy,
		Metadata:        meta,
		TTL:             t.TokenTTL,
		MaxTTL:          t.TokenMaxTTL,
		ExplicitMaxTTL:  t.TokenExplicitMaxTTL,
		Period:          t.TokenPeriod,
		NumUses:         t.TokenNumUses,
		BoundCIDRs:      cidrs,
		Renewable:       true,
		TokenType:       tokenType,
	}
}

// canonicalPolicies trims, lower-cases, de-duplicates and sorts policy
// names (Vault's policyutil.SanitizePolicies), so " Root" cannot pass for
// something other than root, and refuses root itself.
func canonicalPolicies(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, p := range raw {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "root" {
			return nil, fail.Invalidf(`the "root" policy cannot be granted by an auth role`)
		}
		if p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
