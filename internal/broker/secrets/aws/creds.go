package aws

import (
	"context"
	"slices"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	cloudaws "github.com/runcred/runcred/internal/cloud/aws"
	"github.com/runcred/runcred/internal/fail"
)

// defaultTTL is the lifetime asked of STS when neither the request nor the
// role says.
const defaultTTL = time.Hour

var credsFields = []string{"role_arn", "role_session_name", "ttl", "mfa_code"}

// credsRequest is what a creds/:name or sts/:name call asks for.
type credsRequest struct {
	roleARN     string
	sessionName string
	ttl         time.Duration // 0: not given
	mfaCode     string
}

func parseCredsRequest(f engine.Fields) (credsRequest, error) {
	var c credsRequest
	for _, s := range []struct {
		name string
		dst  *string
	}{{"role_arn", &c.roleARN}, {"role_session_name", &c.sessionName}, {"mfa_code", &c.mfaCode}} {
		v, _, err := f.String(s.name)
		if err != nil {
			return c, err
		}
		*s.dst = v
	}
	ttl, _, err := f.Duration("ttl")
	if err != nil {
		return c, err
	}
	if ttl < 0 {
		return c, fail.Invalidf("ttl must not be negative")
	}
	c.ttl = ttl
	return c, nil
}

// creds issues STS credentials for role name. Both paths serve every STS
// type, as in Vault for roles that are not legacy.
func (b *Backend) creds(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	in, err := parseCredsRequest(f)
	if err != nil {
		return nil, err
	}
	r, err := loadRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fail.Invalidf("Role %q not found", name)
	}
	ttl := b.ttl(in.ttl, r)

	root, err := loadRoot(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if root == nil || root.AccessKey == "" {
		return nil, fail.Invalidf("no AWS credentials configured: write access_key and secret_key to %sconfig/root", req.MountPath)
	}
	client := b.stsClient(root)
	now := b.opts.Now()

	var (
		creds    cloudaws.Credentials
		username string
	)
	switch r.CredentialType {
	case assumedRole:
		arn, err := chooseRoleARN(in.roleARN, r, name)
		if err != nil {
			return nil, err
		}
		username = in.sessionName
		if run, _ := runOf(req.Token); run != "" && username != "" {
			// A run's session is named after the run so the cloud's audit
			// log joins back to it; a run may not name itself otherwise.
			return nil, fail.Invalidf("role_session_name cannot be set with a run's token: its session is named after the run (runcred-<run id>-<phase>)")
		}
		if username == "" {
			username, err = defaultSessionName(req.Token, name, now)
			if err != nil {
				return nil, err
			}
		}
		username = truncate(normalize(username), 64)
		creds, err = client.AssumeRole(ctx, cloudaws.AssumeRoleInput{
			RoleARN: arn, SessionName: username, Duration: ttl,
			Policy: r.PolicyDocument, PolicyARNs: r.PolicyARNs,
			ExternalID: r.ExternalID, Tags: r.SessionTags,
		})
		if err != nil {
			return nil, upstream("Error assuming role: ", err)
		}
	case federationToken:
		if r.PolicyDocument == "" && len(r.PolicyARNs) == 0 {
			// validate refuses such roles; this guards roles stored before.
			return nil, fail.Invalidf("must specify at least one of policy_arns or policy_document with %s credential_type", federationToken)
		}
		if username, err = federationName(req.Token, now); err != nil {
			return nil, err
		}
		creds, err = client.GetFederationToken(ctx, cloudaws.FederationTokenInput{
			Name: username, Duration: ttl, Policy: r.PolicyDocument, PolicyARNs: r.PolicyARNs,
		})
		if err != nil {
			return nil, upstream("Error generating STS keys: ", err)
		}
	case sessionToken:
		creds, err = client.GetSessionToken(ctx, cloudaws.SessionTokenInput{
			Duration: ttl, SerialNumber: r.MFASerialNumber, TokenCode: in.mfaCode,
		})
		if err != nil {
			return nil, upstream("Error generating STS keys: ", err)
		}
	default:
		return nil, fail.Invalidf("unknown credential_type: %q", r.CredentialType)
	}
	return b.credsResponse(r.CredentialType, name, username, creds, now, ttl, unknownWarning(f, credsFields...)), nil
}

// ttl is the lifetime to ask for: the request's, else the role's default,
// else an hour; capped at the role's maximum, else the mount's.
func (b *Backend) ttl(asked time.Duration, r *role) time.Duration {
	ttl := asked
	switch {
	case ttl > 0:
	case r.DefaultSTSTTL > 0:
		ttl = r.DefaultSTSTTL
	default:
		ttl = defaultTTL
	}
	limit := r.MaxSTSTTL
	if limit <= 0 {
		limit = b.conf.MaxLeaseTTL
	}
	if limit > 0 && ttl > limit {
		ttl = limit
	}
	return ttl
}

// chooseRoleARN picks the ARN to assume, with Vault's messages.
func chooseRoleARN(asked string, r *role, name string) (string, error) {
	switch {
	case asked == "":
		if len(r.RoleARNs) != 1 {
			return "", fail.Invalidf("did not supply a role_arn parameter and unable to determine one")
		}
		return r.RoleARNs[0], nil
	case !slices.Contains(r.RoleARNs, asked):
		return "", fail.Invalidf("role_arn %q not in allowed role arns for Vault role %q", asked, name)
	}
	return asked, nil
}

// upstream prefixes an STS error's safe message, keeping its kind.
func upstream(prefix string, err error) error {
	return fail.Wrap(fail.KindOf(err), err, prefix+fail.Message(err))
}

func (b *Backend) credsResponse(credType, roleName, username string, c cloudaws.Credentials, now time.Time, asked time.Duration, warnings []string) *engine.Response {
	data := map[string]any{
		"access_key": c.AccessKeyID,
		"secret_key": c.SecretAccessKey.RevealString(),
		// Terraform reads security_token; Vault 1.16+ also sends
		// session_token with the same value.
		"security_token": c.SessionToken.RevealString(),
		"session_token":  c.SessionToken.RevealString(),
	}
	if credType == assumedRole {
		data["arn"] = c.ARN
	}
	internal := map[string]any{"is_sts": true, "access_key": c.AccessKeyID, "role": roleName}
	if username != "" {
		internal["username"] = username
	}
	// The lease lasts as long as the credentials, measured on the
	// whole-second clock leases are set on (STS expirations are whole
	// seconds, so from the exact instant 900 s granted would read 899), and
	// no longer than asked (a call that crossed a second boundary would read
	// 901). A TTL of 0 would mean the mount's default to the core, so an
	// already expired (or skewed) expiration still gets a one-second lease.
	ttl := min(c.Expiration.Sub(now.Truncate(time.Second)), asked).Truncate(time.Second)
	if ttl < time.Second {
		ttl = time.Second
	}
	return &engine.Response{
		Data:     data,
		Warnings: warnings,
		Secret:   &engine.Secret{TTL: ttl, Renewable: false, Internal: internal},
	}
}
