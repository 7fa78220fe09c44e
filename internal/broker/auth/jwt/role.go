package jwt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

const (
	roleKeyPrefix = "role/"

	boundClaimsString = "string"
	boundClaimsGlob   = "glob"

	// Vault's defaults for a leeway of 0; -1 turns a leeway off.
	defaultClockSkew = 60 * time.Second
	defaultLeeway    = 150 * time.Second
)

// roleNameRE is Vault's GenericNameRegex in spirit: a name segment that
// cannot be empty, start with punctuation or contain a slash.
var roleNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]*$`)

// roleName checks a role name and lower-cases it, as Vault's
// TypeLowerCaseString name field does.
func roleName(raw string) (string, error) {
	if len(raw) > 256 || !roleNameRE.MatchString(raw) {
		return "", fail.Invalidf("invalid role name %q", raw)
	}
	return strings.ToLower(raw), nil
}

// pathRoleName is roleName for a name in a request path, which must already
// be lower case: ACL policies match the path as sent, so a deny on
// role/admin must not be passed by writing role/ADMIN.
func pathRoleName(raw string) (string, error) {
	name, err := roleName(raw)
	if err == nil && name != raw {
		return "", fail.Invalidf("role names are case-insensitive and must be given in lower case: use %q", name)
	}
	return name, err
}

// role is one login role, stored as JSON under roleKeyPrefix+name.
type role struct {
	RoleType             string            `json:"role_type"`
	UserClaim            string            `json:"user_claim"`
	UserClaimJSONPointer bool              `json:"user_claim_json_pointer"`
	GroupsClaim          string            `json:"groups_claim"` // stored; the broker has no identity groups
	BoundAudiences       []string          `json:"bound_audiences"`
	BoundSubject         string            `json:"bound_subject"`
	BoundClaimsType      string            `json:"bound_claims_type"`
	BoundClaims          map[string]any    `json:"bound_claims"` // values: string, bool, json.Number or lists of them
	ClaimMappings        map[string]string `json:"claim_mappings"`
	ClockSkewLeeway      time.Duration     `json:"clock_skew_leeway"`
	// ExpirationLeeway is stored and read back for compatibility. In
	// hashicorp/cap it only builds an exp for tokens that lack one, and this
	// method refuses such tokens, so it has no effect here.
	ExpirationLeeway    time.Duration `json:"expiration_leeway"`
	NotBeforeLeeway     time.Duration `json:"not_before_leeway"`
	AllowedRedirectURIs []string      `json:"allowed_redirect_uris"` // oidc roles only
	OIDCScopes          []string      `json:"oidc_scopes"`           // oidc roles only
	// JWTSingleUse is runcred's, not Vault's: a JWT (by its jti) logs in
	// through the role once; a second login with it is refused.
	JWTSingleUse bool `json:"jwt_single_use"`
	engine.TokenParams
}

// tokenAliases are the deprecated token field names Vault's jwt method
// still reads.
var tokenAliases = []string{"policies", "ttl", "max_ttl", "period", "num_uses", "bound_cidrs"}

var roleFields = slices.Concat([]string{
	"role_type", "user_claim", "user_claim_json_pointer", "groups_claim", "bound_audiences",
	"bound_subject", "bound_claims_type", "bound_claims", "claim_mappings", "clock_skew_leeway",
	"expiration_leeway", "not_before_leeway", "allowed_redirect_uris", "oidc_scopes", "jwt_single_use",
}, engine.TokenFieldNames, tokenAliases)

// loadRole returns the named role, or nil when there is none. Numbers in
// bound_claims stay json.Number so they compare as Vault compares them.
func loadRole(ctx context.Context, st engine.Storage, name string) (*role, error) {
	raw, err := st.Get(ctx, roleKeyPrefix+name)
	if err != nil || raw == nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var r role
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding jwt role %q: %w", name, err)
	}
	if r.BoundClaimsType == "" {
		r.BoundClaimsType = boundClaimsString
	}
	return &r, nil
}

func listRoles(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	keys, err := req.Storage.List(ctx, roleKeyPrefix)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return &engine.Response{Data: map[string]any{"keys": keys}}, nil
}

func readRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	r, err := loadRole(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	d := map[string]any{
		"role_type":               r.RoleType,
		"user_claim":              r.UserClaim,
		"user_claim_json_pointer": r.UserClaimJSONPointer,
		"groups_claim":            r.GroupsClaim,
		"bound_audiences":         nonNil(r.BoundAudiences),
		"bound_subject":           r.BoundSubject,
		"bound_claims_type":       r.BoundClaimsType,
		"bound_claims":            r.BoundClaims,
		"claim_mappings":          r.ClaimMappings,
		"clock_skew_leeway":       seconds(r.ClockSkewLeeway),
		"expiration_leeway":       seconds(r.ExpirationLeeway),
		"not_before_leeway":       seconds(r.NotBeforeLeeway),
		"allowed_redirect_uris":   nonNil(r.AllowedRedirectURIs),
		"oidc_scopes":             nonNil(r.OIDCScopes),
		"jwt_single_use":          r.JWTSingleUse,
	}
	r.TokenParams.Render(d)
	return &engine.Response{Data: d}, nil
}

// writeRole creates or updates a role. Fields not sent keep their stored
// values; the read-modify-write runs under the role's lock so two writers
// cannot lose each other's fields.
func (b *Backend) writeRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	var warnings []string
	err := req.Storage.Atomic(ctx, roleKeyPrefix+name, func(st engine.Storage) error {
		r, err := loadRole(ctx, st, name)
		if err != nil {
			return err
		}
		isNew := r == nil
		if isNew {
			r = &role{}
		}
		if warnings, err = r.update(f, isNew, b.conf); err != nil {
			return err
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return st.Put(ctx, roleKeyPrefix+name, raw)
	})
	if err != nil {
		return nil, err
	}
	if w := warnUnknown(f, roleFields); w != nil {
		warnings = append(warnings, w.Warnings...)
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &engine.Response{Warnings: warnings}, nil
}

// update applies the fields present in f to r, in the order and with the
// messages of Vault's pathRoleCreateUpdate, and returns its warnings.
func (r *role) update(f engine.Fields, isNew bool, mount engine.MountConfig) ([]string, error) {
	roleType, ok, err := f.String("role_type")
	switch {
	case err != nil:
		return nil, err
	case ok && roleType != "jwt" && roleType != "oidc":
		return nil, fail.Invalidf("invalid 'role_type': %s", roleType)
	case ok:
		r.RoleType = roleType
	case isNew:
		// Vault's default, and the reason a CI role must say "jwt". Unlike
		// Vault, an update that omits role_type keeps the stored type
		// rather than resetting it to oidc.
		r.RoleType = "oidc"
	}

	if err := r.TokenParams.Parse(f, tokenAliases...); err != nil {
		return nil, err
	}
	if mount.MaxLeaseTTL > 0 && r.TokenPeriod > mount.MaxLeaseTTL {
		return nil, fail.Invalidf("'period' of %q is greater than the backend's maximum lease TTL of %q",
			r.TokenPeriod.String(), mount.MaxLeaseTTL.String())
	}

	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"expiration_leeway", &r.ExpirationLeeway},
		{"not_before_leeway", &r.NotBeforeLeeway},
		{"clock_skew_leeway", &r.ClockSkewLeeway},
	} {
		if v, ok, err := f.Duration(d.name); err != nil {
			return nil, err
		} else if ok {
			*d.dst = v
		}
	}

	for _, s := range []struct {
		name string
		dst  *[]string
	}{
		{"bound_audiences", &r.BoundAudiences},
		{"allowed_redirect_uris", &r.AllowedRedirectURIs},
		{"oidc_scopes", &r.OIDCScopes},
	} {
		if v, ok, err := f.Strings(s.name); err != nil {
			return nil, err
		} else if ok {
			*s.dst = v
		}
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"bound_subject", &r.BoundSubject},
		{"user_claim", &r.UserClaim},
		{"groups_claim", &r.GroupsClaim},
	} {
		if v, ok, err := f.String(s.name); err != nil {
			return nil, err
		} else if ok {
			*s.dst = v
		}
	}
	if v, ok, err := f.Bool("user_claim_json_pointer"); err != nil {
		return nil, err
	} else if ok {
		r.UserClaimJSONPointer = v
	}
	if v, ok, err := f.Bool("jwt_single_use"); err != nil {
		return nil, err
	} else if ok {
		r.JWTSingleUse = v
	}

	if v, ok, err := f.String("bound_claims_type"); err != nil {
		return nil, err
	} else if ok {
		if v != boundClaimsString && v != boundClaimsGlob {
			return nil, fail.Invalidf("invalid 'bound_claims_type': %s", v)
		}
		r.BoundClaimsType = v
	} else if r.BoundClaimsType == "" {
		r.BoundClaimsType = boundClaimsString
	}
	if v, ok, err := f.Map("bound_claims"); err != nil {
		return nil, err
	} else if ok {
		if r.BoundClaims, err = normalizeBoundClaims(v); err != nil {
			return nil, err
		}
	}
	if r.BoundClaimsType == boundClaimsGlob {
		// Checked on every write, so switching an existing role to glob
		// cannot leave a number or bool that would never match.
		for _, v := range r.BoundClaims {
			vals, _ := asList(v)
			for _, e := range vals {
				if _, isString := e.(string); !isString {
					return nil, fail.Invalidf("claim is not a string: %v", e)
				}
			}
		}
	}

	if v, ok, err := f.StringMap("claim_mappings"); err != nil {
		return nil, err
	} else if ok {
		seen := map[string]bool{}
		for _, dest := range v {
			if dest == "role" {
				return nil, fail.Invalidf("metadata key %q is reserved and may not be a mapping destination", dest)
			}
			// Checked here, not only at login: a role that could never log
			// in is refused when written.
			if err := access.CheckMeta(map[string]string{dest: ""}); err != nil {
				return nil, err
			}
			if seen[dest] {
				return nil, fail.Invalidf("multiple keys are mapped to metadata key %q", dest)
			}
			seen[dest] = true
		}
		r.ClaimMappings = v
	}

	if r.UserClaim == "" {
		return nil, fail.Invalidf("a user claim must be defined on the role")
	}
	if r.RoleType == "oidc" && len(r.AllowedRedirectURIs) == 0 {
		return nil, fail.Invalidf("'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.")
	}
	if r.RoleType == "jwt" && len(r.BoundAudiences) == 0 && len(r.TokenBoundCIDRs) == 0 &&
		r.BoundSubject == "" && len(r.BoundClaims) == 0 {
		return nil, fail.Invalidf("must have at least one bound constraint when creating/updating a role")
	}

	var warnings []string
	if mount.MaxLeaseTTL > 0 && r.TokenMaxTTL > mount.MaxLeaseTTL {
		warnings = append(warnings, "token max ttl is greater than the system or backend mount's maximum TTL value; issued tokens' max TTL value will be truncated")
	}
	return warnings, nil
}

// normalizeBoundClaims checks bound_claims values (string, bool, number, or
// a list of those) and turns numbers into json.Number, whatever type the
// request decoder produced.
func normalizeBoundClaims(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in))
	for name, v := range in {
		if list, isList := v.([]any); isList {
			vals := make([]any, 0, len(list))
			for _, e := range list {
				s, err := boundScalar(e)
				if err != nil {
					return nil, err
				}
				vals = append(vals, s)
			}
			out[name] = vals
			continue
		}
		if list, isList := v.([]string); isList {
			vals := make([]any, 0, len(list))
			for _, e := range list {
				vals = append(vals, e)
			}
			out[name] = vals
			continue
		}
		s, err := boundScalar(v)
		if err != nil {
			return nil, err
		}
		out[name] = s
	}
	return out, nil
}

func boundScalar(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, json.Number:
		return x, nil
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	}
	return nil, fail.Invalidf("bound claim is not a string, bool, int or list: %v", v)
}

// leeway is a role leeway as the checks use it: 0 means the default, a
// negative value means none.
func leeway(d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return def
	}
	return d
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }
