package creds

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/runcred/runcred/internal/credspec"
)

// manual exposes a token for hooks and providers that read it themselves
// (§1.8): TFC_WORKLOAD_IDENTITY_AUDIENCE[_TAG] → TFC_WORKLOAD_IDENTITY_TOKEN[_TAG].
func (b *builder) manual(ctx context.Context, c credspec.Manual) error {
	by, name := "TFC_WORKLOAD_IDENTITY_AUDIENCE", "TFC_WORKLOAD_IDENTITY_TOKEN"
	if c.Tag != "" {
		by, name = by+"_"+c.Tag, name+"_"+c.Tag
	}
	tok, _, err := b.mint(ctx, c.Audience, by)
	if err != nil {
		return err
	}
	return b.setEnv(name, tok.RevealString(), by)
}

// aws writes the token file and a shared config file naming it (§2.1). The
// AWS SDK in the provider calls AssumeRoleWithWebIdentity itself and
// refreshes as needed; the default configuration is also given as
// AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_SESSION_NAME, which
// the SDK prefers to any shared file.
func (b *builder) aws(ctx context.Context, c credspec.AWS) error {
	by := flagName("AWS", "PROVIDER_AUTH", c.Tag)
	tokenFile, _, err := b.tokenFile(ctx, fileName("tfc-aws-token", c.Tag), c.Audience, by)
	if err != nil {
		return err
	}
	session := sessionName(b.cfg.Run)
	conf := fmt.Sprintf("[default]\nrole_arn = %s\nweb_identity_token_file = %s\nrole_session_name = %s\n", c.RoleARN, tokenFile, session)
	confFile, err := b.writeFile(fileName("tfc-aws-shared-config", c.Tag), []byte(conf))
	if err != nil {
		return err
	}
	b.expose("aws", c.Tag, map[string]string{"shared_config_file": confFile}, "shared_config_file")
	if c.Tag != "" {
		return nil
	}
	for _, kv := range [][2]string{{"AWS_ROLE_ARN", c.RoleARN}, {"AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile}, {"AWS_ROLE_SESSION_NAME", session}} {
		if err := b.setEnv(kv[0], kv[1], by); err != nil {
			return err
		}
	}
	return nil
}

// sessionInvalid is every character STS refuses in a role session name.
var sessionInvalid = regexp.MustCompile(`[^\w+=,.@-]`)

// sessionName is runcred-<run id>-<phase> made to fit STS's rules (2-64 of
// [\w+=,.@-]), so the cloud's audit log joins back to the run. Truncation
// keeps the phase, which tells plan from apply.
func sessionName(r Run) string {
	run := sessionInvalid.ReplaceAllString(r.ID, "-")
	if run == "" {
		run = "unknown"
	}
	suffix := "-" + string(r.Phase)
	head := "runcred-" + run
	if len(head)+len(suffix) > 64 {
		head = head[:64-len(suffix)]
	}
	return head + suffix
}

// gcpCredentials is Google's external_account credential configuration for
// a token read from a file (§2.2).
type gcpCredentials struct {
	Type                           string `json:"type"`
	Audience                       string `json:"audience"`
	SubjectTokenType               string `json:"subject_token_type"`
	TokenURL                       string `json:"token_url"`
	ServiceAccountImpersonationURL string `json:"service_account_impersonation_url"`
	CredentialSource               struct {
		File   string `json:"file"`
		Format struct {
			Type string `json:"type"`
		} `json:"format"`
	} `json:"credential_source"`
}

// gcp writes the token file and the credential configuration pointing at it;
// the provider exchanges the token at Google's STS and impersonates the
// service account itself.
func (b *builder) gcp(ctx context.Context, c credspec.GCP) error {
	by := flagName("GCP", "PROVIDER_AUTH", c.Tag)
	tokenFile, _, err := b.tokenFile(ctx, fileName("tfc-gcp-token", c.Tag), c.Audience, by)
	if err != nil {
		return err
	}
	cred := gcpCredentials{
		Type:                           "external_account",
		Audience:                       credspec.GCPAudiencePrefix + c.ProviderName,
		SubjectTokenType:               "urn:ietf:params:oauth:token-type:jwt",
		TokenURL:                       "https://sts.googleapis.com/v1/token",
		ServiceAccountImpersonationURL: "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + c.ServiceAccount + ":generateAccessToken",
	}
	cred.CredentialSource.File = tokenFile
	cred.CredentialSource.Format.Type = "text"
	raw, err := json.MarshalIndent(cred, "", "  ")
	if err != nil {
		return err
	}
	credFile, err := b.writeFile(fileName("tfc-google-application-credentials", c.Tag), append(raw, '\n'))
	if err != nil {
		return err
	}
	b.expose("gcp", c.Tag, map[string]string{"credentials": credFile}, "credentials")
	if c.Tag != "" {
		return nil
	}
	return b.setEnv("GOOGLE_APPLICATION_CREDENTIALS", credFile, by)
}

// azure hands the token to azurerm/azuread for OIDC federation (§2.6):
// ARM_CLIENT_ID, ARM_USE_OIDC, ARM_OIDC_TOKEN and the same token as a file
// (ARM_OIDC_TOKEN_FILE_PATH); tagged configurations get files only.
func (b *builder) azure(ctx context.Context, c credspec.Azure) error {
	by := flagName("AZURE", "PROVIDER_AUTH", c.Tag)
	tokenFile, tok, err := b.tokenFile(ctx, fileName("tfc-azure-token", c.Tag), c.Audience, by)
	if err != nil {
		return err
	}
	idFile, err := b.writeFile(fileName("tfc-azure-client-id", c.Tag), []byte(c.ClientID))
	if err != nil {
		return err
	}
	b.expose("azure", c.Tag, map[string]string{"client_id_file_path": idFile, "oidc_token_file_path": tokenFile},
		"client_id_file_path", "oidc_token_file_path")
	if c.Tag != "" {
		return nil
	}
	for _, kv := range [][2]string{{"ARM_CLIENT_ID", c.ClientID}, {"ARM_USE_OIDC", "true"},
		{"ARM_OIDC_TOKEN", tok.RevealString()}, {"ARM_OIDC_TOKEN_FILE_PATH", tokenFile}} {
		if err := b.setEnv(kv[0], kv[1], by); err != nil {
			return err
		}
	}
	return nil
}

// flagName is the enable flag of a configuration, for messages.
func flagName(provider, flag, tag string) string {
	name := "TFC_" + provider + "_" + flag
	if tag != "" {
		name += "_" + tag
	}
	return name
}
