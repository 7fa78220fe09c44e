package jwt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// maxTokenBytes caps the jwt field. CI tokens are a few KiB, and an
// unauthenticated caller should not get megabytes parsed and verified.
const maxTokenBytes = 64 << 10

// runClaims are copied into token metadata when a token runcred's own
// issuer minted names a Terraform run, so leases, audit records and the
// AWS engine's session names issued under the token name the run. They are
// the metadata keys no other login may set (access.RunMeta).
var runClaims = access.RunMeta

// login is Vault's pathLogin for role_type jwt. The order of checks is
// Vault's: config and role, oidc refusal, missing token, CIDR binding,
// signature and registered claims, unbound aud, identity and claim
// mappings, bound_claims. Every failure returns a nil Response.
func (b *Backend) login(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	c, err := loadConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fail.Invalidf("could not load configuration")
	}

	name, _, err := f.String("role")
	if err != nil {
		return nil, err
	}
	name = strings.ToLower(name)
	if name == "" {
		name = c.DefaultRole
	}
	if name == "" {
		return nil, fail.Invalidf("missing role")
	}
	var r *role
	if _, nameErr := roleName(name); nameErr == nil { // a bad name is just a role that does not exist
		if r, err = loadRole(ctx, req.Storage, name); err != nil {
			return nil, err
		}
	}
	if r == nil {
		return nil, fail.Invalidf("role %q could not be found", name)
	}
	if r.RoleType == "oidc" {
		return nil, fail.Invalidf("role with oidc role_type is not allowed")
	}

	token, _, err := f.String("jwt")
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fail.Invalidf("missing token")
	}

	cidrs, err := engine.Prefixes(r.TokenBoundCIDRs)
	if err != nil {
		return nil, err
	}
	if len(cidrs) > 0 && !engine.AddrIn(req.RemoteAddr, cidrs) {
		return nil, fail.Deniedf("permission denied")
	}

	cl, err := b.validate(ctx, c, r, token)
	if err != nil {
		var fe *fetchError
		if errors.As(err, &fe) {
			return nil, fail.Wrap(fail.Invalid, err, "error validating token: error verifying token signature: could not fetch the signing keys")
		}
		return nil, fail.Invalidf("error validating token: %s", err)
	}
	if cl.audPresent && len(r.BoundAudiences) == 0 {
		return nil, fail.Invalidf("audience claim found in JWT but no audiences bound to the role")
	}

	user, err := userName(r, cl.all)
	if err != nil {
		return nil, fail.Invalidf("%s", err)
	}
	meta, err := metadata(r, name, cl.all)
	if err != nil {
		return nil, fail.Invalidf("%s", err)
	}
	if err := checkBoundClaims(r.BoundClaimsType, r.BoundClaims, cl.all); err != nil {
		return nil, fail.Invalidf("error validating claims: %s", err)
	}
	run, err := b.runAttested(ctx, cl)
	if err != nil {
		return nil, err
	}
	if run {
		// runcred's own run token logs in only while its phase runs.
		if err := b.checkPhase(ctx, cl.all); err != nil {
			return nil, err
		}
		copyRunClaims(meta, cl.all)
	}
	// Last: a single-use role spends the token's jti only on a login that
	// is otherwise granted.
	if r.JWTSingleUse {
		if err := b.useOnce(ctx, req.Storage, cl); err != nil {
			return nil, err
		}
	}

	auth := r.TokenParams.Auth(user, user, meta, cidrs)
	auth.RunAttested = run
	return &engine.Response{Auth: auth}, nil
}

// runAttested reports whether token may name a run: it carries run
// claims and runcred's own issuer signed it. A token of another issuer
// carrying any run claim is refused, so nothing but runcred's own run
// tokens can make the AWS engine or the audit log name a run.
func (b *Backend) runAttested(ctx context.Context, cl *claims) (bool, error) {
	all := cl.all
	var named string
	for _, k := range runClaims {
		if all[k] != nil {
			named = k
			break
		}
	}
	if named == "" {
		return false, nil
	}
	// The signature verified with cl.signer: a key of runcred's issuer
	// signed it if that key is one, and then the token is runcred's own
	// if it names that issuer.
	if b.own == nil || !b.own.SignsWith(ctx, cl.signer, cl.iss) {
		return false, fail.Invalidf("claim %q is reserved: only tokens runcred's own issuer mints for a run may name a run, and this token's issuer is not runcred's", named)
	}
	runID, _ := all["terraform_run_id"].(string)
	phase, _ := all["terraform_run_phase"].(string)
	return runID != "" && phase != "", nil
}

// copyRunClaims puts a run token's own claims into meta. They win over
// anything a mapping put under these names (role writes refuse such
// mappings; one stored before that still cannot name another run).
func copyRunClaims(meta map[string]string, all map[string]any) {
	for _, k := range runClaims {
		delete(meta, k)
		if s, ok := all[k].(string); ok {
			meta[k] = s
		}
	}
}

// validate verifies the token's signature and its registered claims
// (hashicorp/cap's jwt.Validator.Validate, which Vault uses) and returns its
// claims.
func (b *Backend) validate(ctx context.Context, c *config, r *role, token string) (*claims, error) {
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("token is larger than %d bytes", maxTokenBytes)
	}
	alg, err := checkHeader(token)
	if err != nil {
		return nil, fmt.Errorf("error verifying token signature: %w", err)
	}
	// Only asymmetric algorithms get past parsing: "none" and HS* are
	// refused here, before any key is looked at.
	jws, err := jose.ParseSignedCompact(token, c.algorithms())
	if err != nil {
		return nil, fmt.Errorf("error verifying token signature: %w", parseError(err, alg))
	}
	if len(jws.Signatures) != 1 || len(jws.Signatures[0].Signature) == 0 {
		return nil, errors.New("error verifying token signature: token must be signed")
	}
	payload, signer, err := b.verifySignature(ctx, c, jws)
	if err != nil {
		return nil, fmt.Errorf("error verifying token signature: %w", err)
	}
	cl, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	cl.signer = signer

	switch {
	case c.BoundIssuer != "" && c.BoundIssuer != cl.iss:
		return nil, errors.New("invalid issuer (iss) claim")
	case r.BoundSubject != "" && r.BoundSubject != cl.sub:
		return nil, errors.New("invalid subject (sub) claim")
	case len(r.BoundAudiences) > 0 && !slices.ContainsFunc(r.BoundAudiences, func(a string) bool { return slices.Contains(cl.aud, a) }):
		// cl.aud holds a single-string aud too (CVE-2024-5798).
		return nil, errors.New("invalid audience (aud) claim: audience claim does not match any expected audience")
	}
	if err := checkTimes(cl, r, b.now()); err != nil {
		return nil, err
	}
	return cl, nil
}

// checkTimes applies cap's time rules. Deliberately stricter than Vault:
// exp is required (cap would make one up from iat or nbf plus
// expiration_leeway). A missing nbf is iat, or else exp minus
// not_before_leeway. Only the clock-skew leeway widens the window:
//
//	not yet valid: now + skew < nbf
//	expired:       now - skew > exp
//	issued later:  now + skew < iat
func checkTimes(cl *claims, r *role, now time.Time) error {
	if cl.exp == nil {
		return errors.New("no expiration time (exp) claim in token")
	}
	exp := time.Unix(*cl.exp, 0)
	var nbf time.Time
	switch {
	case cl.nbf != nil:
		nbf = time.Unix(*cl.nbf, 0)
	case cl.iat != nil:
		nbf = time.Unix(*cl.iat, 0)
	default:
		nbf = exp.Add(-leeway(r.NotBeforeLeeway, defaultLeeway))
	}
	skew := leeway(r.ClockSkewLeeway, defaultClockSkew)
	switch {
	case now.Add(skew).Before(nbf):
		return errors.New("invalid not before (nbf) claim: token not yet valid")
	case now.Add(-skew).After(exp):
		return errors.New("invalid expiration time (exp) claim: token is expired")
	case cl.iat != nil && now.Add(skew).Before(time.Unix(*cl.iat, 0)):
		return errors.New("invalid issued at (iat) claim: token issued in the future")
	}
	return nil
}

// userName is the role's user_claim value: the alias and display name.
func userName(r *role, all map[string]any) (string, error) {
	var v any
	if r.UserClaimJSONPointer {
		v = getClaim(all, r.UserClaim)
	} else {
		v = all[r.UserClaim]
	}
	if v == nil {
		return "", fmt.Errorf("claim %q not found in token", r.UserClaim)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("claim %q could not be converted to string", r.UserClaim)
	}
	if s == "" {
		// Vault's core refuses an alias without a name; say so here.
		return "", fmt.Errorf("claim %q is empty", r.UserClaim)
	}
	return s, nil
}

// metadata builds the token metadata: the role's claim_mappings and the
// role name under "role". A run's claims are added by the login, once it
// knows runcred's own issuer signed the token.
func metadata(r *role, roleName string, all map[string]any) (map[string]string, error) {
	meta := map[string]string{}
	for source, dest := range r.ClaimMappings {
		v := getClaim(all, source)
		if v == nil {
			continue
		}
		s, ok := claimString(v)
		if !ok {
			return nil, fmt.Errorf("error converting claim '%s' to string", source)
		}
		meta[dest] = s
	}
	meta["role"] = roleName
	return meta, nil
}
