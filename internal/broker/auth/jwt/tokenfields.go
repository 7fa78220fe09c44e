package jwt

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// tokenParams are Vault's shared token fields (tokenutil.TokenParams): what
// a login through a role gets.
type tokenParams struct {
	TokenPolicies        []string      `json:"token_policies"`
	TokenTTL             time.Duration `json:"token_ttl"`
	TokenMaxTTL          time.Duration `json:"token_max_ttl"`
	TokenExplicitMaxTTL  time.Duration `json:"token_explicit_max_ttl"`
	TokenPeriod          time.Duration `json:"token_period"`
	TokenNumUses         int           `json:"token_num_uses"`
	TokenBoundCIDRs      []string      `json:"token_bound_cidrs"` // canonical prefixes
	TokenNoDefaultPolicy bool          `json:"token_no_default_policy"`
	TokenType            string        `json:"token_type"` // "default", "service" or "batch"
}

// tokenFieldNames are the fields parseTokenFields reads, deprecated
// aliases included.
var tokenFieldNames = []string{
	"token_policies", "policies", "token_ttl", "ttl", "token_max_ttl", "max_ttl",
	"token_explicit_max_ttl", "token_period", "period", "token_num_uses", "num_uses",
	"token_bound_cidrs", "bound_cidrs", "token_no_default_policy", "token_type",
}

// given returns the name under which a field was sent: the current name,
// else its deprecated alias (Vault's tokenutil.UpgradeValue: when both are
// sent the current one wins), else "".
func given(f engine.Fields, name, alias string) string {
	switch {
	case f.Has(name):
		return name
	case alias != "" && f.Has(alias):
		return alias
	}
	return ""
}

// parseTokenFields updates t from the fields present in f, with Vault's
// checks and messages.
func (t *tokenParams) parseTokenFields(f engine.Fields) error {
	if name := given(f, "token_policies", "policies"); name != "" {
		raw, _, err := f.Strings(name)
		if err != nil {
			return err
		}
		if t.TokenPolicies, err = canonicalPolicies(raw); err != nil {
			return err
		}
	}
	if name := given(f, "token_bound_cidrs", "bound_cidrs"); name != "" {
		raw, _, err := f.Strings(name)
		if err != nil {
			return err
		}
		if t.TokenBoundCIDRs, err = canonicalCIDRs(raw); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name, alias string
		dst         *time.Duration
	}{
		{"token_ttl", "ttl", &t.TokenTTL},
		{"token_max_ttl", "max_ttl", &t.TokenMaxTTL},
		{"token_explicit_max_ttl", "", &t.TokenExplicitMaxTTL},
		{"token_period", "period", &t.TokenPeriod},
	} {
		name := given(f, d.name, d.alias)
		if name == "" {
			continue
		}
		v, _, err := f.Duration(name)
		if err != nil {
			return err
		}
		if v < 0 {
			return fail.Invalidf("'%s' cannot be negative", d.name)
		}
		*d.dst = v
	}
	if name := given(f, "token_num_uses", "num_uses"); name != "" {
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

// canonicalPolicies trims, lower-cases and de-duplicates policy names, so
// " Root" cannot pass for something other than root (CVE-2025-5999), and
// refuses root itself: no login should ever mint a root token.
func canonicalPolicies(raw []string) ([]string, error) {
	out := []string{}
	for _, p := range raw {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" || slices.Contains(out, p) {
			continue
		}
		if p == "root" {
			return nil, fail.Invalidf(`the "root" policy cannot be granted by an auth role`)
		}
		out = append(out, p)
	}
	return out, nil
}

// canonicalCIDRs accepts CIDR blocks and bare addresses (a single host), as
// Vault's parseutil.ParseAddrs does.
func canonicalCIDRs(raw []string) ([]string, error) {
	out := []string{}
	for _, s := range raw {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, fail.Invalidf("invalid CIDR or address %q in token_bound_cidrs", s)
		}
		out = append(out, formatCIDR(p))
	}
	return out, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func formatCIDR(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// prefixes returns the bound CIDRs parsed; they were checked when stored.
func (t *tokenParams) prefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range t.TokenBoundCIDRs {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("stored token_bound_cidrs value %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// tokenData adds the token fields to a read response, with Vault's types.
func (t *tokenParams) tokenData(m map[string]any) {
	m["token_policies"] = nonNil(t.TokenPolicies)
	m["token_bound_cidrs"] = nonNil(t.TokenBoundCIDRs)
	m["token_ttl"] = seconds(t.TokenTTL)
	m["token_max_ttl"] = seconds(t.TokenMaxTTL)
	m["token_explicit_max_ttl"] = seconds(t.TokenExplicitMaxTTL)
	m["token_period"] = seconds(t.TokenPeriod)
	m["token_num_uses"] = t.TokenNumUses
	m["token_no_default_policy"] = t.TokenNoDefaultPolicy
	m["token_type"] = t.tokenType()
}

func (t *tokenParams) tokenType() string {
	if t.TokenType == "" {
		return "default"
	}
	return t.TokenType
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }
