package creds

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/secret"
)

// vaultAWS reads AWS credentials from Vault's AWS secrets engine with a
// Vault configuration's token (§2.4) and writes them as an AWS shared
// credentials file. The lease is a child of that token, so the token's
// revocation in Close revokes it too.
//
// iam_user reads <mount>/creds/<role>; assumed_role and federation_token
// write <mount>/sts/<role>, with role_arn for assumed_role. No
// role_session_name is sent: runcred's broker names a run's session after the
// run itself and refuses one from the caller.
func (b *builder) vaultAWS(ctx context.Context, c credspec.VaultAWS) error {
	by := flagName("VAULT_BACKED_AWS", "AUTH", c.Tag)
	t := b.vault[c.VaultTag]
	if t == nil { // parse checked that the configuration exists
		return fmt.Errorf("%s: Vault configuration %q was not logged in", by, c.VaultTag)
	}
	var (
		resp *vaultResponse
		err  error
	)
	role := escapePath(c.Mount) + "/%s/" + escapePath(c.Role)
	switch c.AuthType {
	case credspec.IAMUser:
		resp, err = t.call(ctx, http.MethodGet, fmt.Sprintf(role, "creds"), nil)
	default:
		body := map[string]any{}
		if c.RoleARN != "" {
			body["role_arn"] = c.RoleARN
		}
		resp, err = t.call(ctx, http.MethodPut, fmt.Sprintf(role, "sts"), body)
	}
	if err != nil {
		return fmt.Errorf("%s: reading AWS credentials from Vault: %w", by, err)
	}
	if resp.LeaseID != "" {
		b.res.Leases = append(b.res.Leases, resp.LeaseID)
	}
	keys := map[string]string{}
	for _, k := range []string{"access_key", "secret_key", "security_token"} {
		v, _ := resp.Data[k].(string)
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("%s: Vault's %s holds a line break", by, k)
		}
		keys[k] = v
		b.addSecret(secret.FromString(v))
	}
	if keys["access_key"] == "" || keys["secret_key"] == "" {
		return fmt.Errorf("%s: Vault's answer holds no access_key/secret_key", by)
	}
	ini := "[default]\naws_access_key_id = " + keys["access_key"] + "\naws_secret_access_key = " + keys["secret_key"] + "\n"
	if keys["security_token"] != "" {
		ini += "aws_session_token = " + keys["security_token"] + "\n"
	}
	path, err := b.writeFile(fileName("tfc-vault-backed-aws-shared-credentials", c.Tag), []byte(ini))
	if err != nil {
		return err
	}
	b.expose("vault_backed_aws", c.Tag, map[string]string{"shared_credentials_file": path}, "shared_credentials_file")
	if c.Tag == "" {
		if err := b.setEnv("AWS_SHARED_CREDENTIALS_FILE", path, by); err != nil {
			return err
		}
	}
	if c.Sleep > 0 {
		// IAM is eventually consistent: a fresh iam_user key can be refused
		// for a while.
		select {
		case <-b.cfg.After(c.Sleep):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
