package credspec

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/jobapi"
)

// FuzzParse feeds arbitrary variables to the grammar: it must never panic,
// and whatever it accepts must be a configuration the variables enabled.
func FuzzParse(f *testing.F) {
	f.Add("TFC_AWS_PROVIDER_AUTH", "true", "TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::1:role/x", "TFC_WORKLOAD_IDENTITY_AUDIENCE_A", "aud", true)
	f.Add("TFC_VAULT_PROVIDER_AUTH_X", "true", "TFC_DEFAULT_VAULT_ADDR", "https://v", "TFC_VAULT_PLAN_ROLE_X", "r", false)
	f.Add("TFC_VAULT_BACKED_AWS_AUTH", "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE", "iam_user", "TFC_VAULT_PROVIDER_AUTH", "true", true)
	f.Add("TFC_VAULT_PROVIDER_AUTH", "true", "TFC_VAULT_ADDR", "http://127.0.0.1:8200", "TFC_VAULT_AUTH_TYPE", "approle", false)
	f.Add("TFC_VAULT_AUTH_TYPE_A", "approle", "TFC_VAULT_PROVIDER_AUTH_A", "true", "TFC_VAULT_APPLY_APPROLE_SECRET_ID_VARIABLE_A", "sid", true)
	f.Add("TFC_GCP_PROVIDER_AUTH_", "TRUE", "TFC_GCP_WORKLOAD_PROVIDER_NAME", "projects/1/locations/global/workloadIdentityPools/p/providers/q", "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", "a@b", false)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string, apply bool) {
		env := map[string]string{k1: v1, k2: v2, k3: v3}
		phase := jobapi.Plan
		if apply {
			phase = jobapi.Apply
		}
		p, err := Parse(env, phase)
		if err != nil {
			return
		}
		enabled := func(name string) bool { return strings.EqualFold(strings.TrimSpace(env[name]), "true") }
		for _, c := range p.AWS {
			if !enabled(settings{provider: "AWS", tag: c.Tag}.explicit("PROVIDER_AUTH")) || !tagOK(c.Tag) || !strings.HasPrefix(c.RoleARN, "arn:") {
				t.Fatalf("aws config not enabled by the input: %+v", c)
			}
		}
		for _, c := range p.Vault {
			if !enabled(settings{provider: "VAULT", tag: c.Tag}.explicit("PROVIDER_AUTH")) || !tagOK(c.Tag) {
				t.Fatalf("vault config not enabled by the input: %+v", c)
			}
			switch c.AuthType {
			case JWT:
				if c.Role == "" || c.Audience == "" || c.SecretIDVar != "" {
					t.Fatalf("jwt login: %+v", c)
				}
			case AppRole:
				if c.Role != "" || c.Audience != "" || !varName.MatchString(c.RoleIDVar) || !varName.MatchString(c.SecretIDVar) || c.RoleIDVar == c.SecretIDVar {
					t.Fatalf("approle login: %+v", c)
				}
			default:
				t.Fatalf("auth type %q", c.AuthType)
			}
			if strings.Contains("/"+c.AuthPath+"/", "/../") {
				t.Fatalf("auth path escapes: %q", c.AuthPath)
			}
		}
		for _, c := range p.VaultAWS {
			if !enabled(settings{provider: "VAULT_BACKED_AWS", tag: c.Tag}.explicit("AUTH")) || !p.hasVault(c.VaultTag) {
				t.Fatalf("vault-backed aws config not enabled by the input: %+v", c)
			}
			if strings.ContainsAny(c.Role, "/?#") || strings.Contains("/"+c.Mount+"/", "/../") {
				t.Fatalf("vault path escapes: %+v", c)
			}
		}
		for _, c := range p.Manual {
			if !tagOK(c.Tag) || c.Audience == "" {
				t.Fatalf("manual token: %+v", c)
			}
		}
	})
}

func tagOK(tag string) bool { return tag == "" || (tagPattern.MatchString(tag) && tag != reservedTag) }
