package run

import (
	"reflect"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/policy"
)

// TestCredentials: the run's TFC_* variables resolve as the agent reads
// them: per phase (the phase's own setting over the run's) and per tag, a
// tagged configuration falling back to TFC_DEFAULT_*, never to the
// untagged one's settings, with the agent's defaults; a flag that is not
// "true" resolves to nothing; settings the agent would refuse are an error.
func TestCredentials(t *testing.T) {
	got, err := credentials(map[string]string{
		"TFC_AWS_PROVIDER_AUTH":                          "true",
		"TFC_AWS_RUN_ROLE_ARN":                           "arn:aws:iam::1:role/run",
		"TFC_AWS_APPLY_ROLE_ARN":                         "arn:aws:iam::1:role/apply",
		"TFC_AWS_PROVIDER_AUTH_PROD":                     "true",
		"TFC_AWS_RUN_ROLE_ARN_PROD":                      "arn:aws:iam::2:role/prod",
		"TFC_DEFAULT_AWS_APPLY_ROLE_ARN":                 "arn:aws:iam::5:role/default-apply",
		"TFC_AWS_PROVIDER_AUTH_OFF":                      "false",
		"TFC_AWS_RUN_ROLE_ARN_OFF":                       "arn:aws:iam::3:role/off",
		"TFC_VAULT_PROVIDER_AUTH":                        "true",
		"TFC_VAULT_ADDR":                                 "https://vault.example",
		"TFC_VAULT_RUN_ROLE":                             "deploy",
		"TFC_VAULT_BACKED_AWS_AUTH_VB":                   "true",
		"TFC_VAULT_BACKED_AWS_AUTH_TYPE_VB":              "assumed_role",
		"TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE_VB":         "vrole",
		"TFC_VAULT_BACKED_AWS_PLAN_ROLE_ARN_VB":          "arn:aws:iam::4:role/plan",
		"TFC_WORKLOAD_IDENTITY_AUDIENCE_EXTRA":           "sts.example",
		"TFC_VAULT_PROVIDER_AUTH_OPS":                    "true",
		"TFC_VAULT_ADDR_OPS":                             "https://vault.example",
		"TFC_VAULT_AUTH_TYPE_OPS":                        "approle",
		"TFC_VAULT_APPLY_APPROLE_SECRET_ID_VARIABLE_OPS": "apply_secret_id",
	})
	if err != nil {
		t.Fatal(err)
	}
	extra := []policy.GenericCredential{{Kind: "workload_identity_token", Tag: "EXTRA", Audience: "sts.example"}}
	want := policy.Credentials{
		Plan: policy.PhaseCredentials{
			AWS: []policy.AWSCredential{
				{Tag: "", RoleARN: "arn:aws:iam::1:role/run", Audience: "aws.workload.identity"},
				{Tag: "PROD", RoleARN: "arn:aws:iam::2:role/prod", Audience: "aws.workload.identity"},
			},
			Vault: []policy.VaultCredential{
				{Address: "https://vault.example", AuthType: "jwt", AuthPath: "jwt", Role: "deploy", Audience: "vault.workload.identity"},
				{Tag: "OPS", Address: "https://vault.example", AuthType: "approle", AuthPath: "approle", RoleIDVariable: "role_id", SecretIDVariable: "secret_id"},
			},
			VaultBackedAWS: []policy.VaultBackedAWS{{Tag: "VB", MountPath: "aws", VaultRole: "vrole", AuthType: "assumed_role", RoleARN: "arn:aws:iam::4:role/plan"}},
			Other:          extra,
		},
		Apply: policy.PhaseCredentials{
			AWS: []policy.AWSCredential{
				{Tag: "", RoleARN: "arn:aws:iam::1:role/apply", Audience: "aws.workload.identity"},
				{Tag: "PROD", RoleARN: "arn:aws:iam::5:role/default-apply", Audience: "aws.workload.identity"},
			},
			Vault: []policy.VaultCredential{
				{Address: "https://vault.example", AuthType: "jwt", AuthPath: "jwt", Role: "deploy", Audience: "vault.workload.identity"},
				{Tag: "OPS", Address: "https://vault.example", AuthType: "approle", AuthPath: "approle", RoleIDVariable: "role_id", SecretIDVariable: "apply_secret_id"},
			},
			VaultBackedAWS: []policy.VaultBackedAWS{{Tag: "VB", MountPath: "aws", VaultRole: "vrole", AuthType: "assumed_role"}},
			Other:          extra,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("credentials =\n%+v\nwant\n%+v", got, want)
	}
	if c, err := credentials(map[string]string{"TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/x"}); err != nil || !reflect.DeepEqual(c, policy.Credentials{}) {
		t.Fatalf("without provider auth: %+v, %v", c, err)
	}
	// Both on the default AWS configuration: the agent refuses the phase,
	// so the check does not judge it.
	_, err = credentials(map[string]string{
		"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/run",
		"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": "https://vault.example", "TFC_VAULT_RUN_ROLE": "deploy",
		"TFC_VAULT_BACKED_AWS_AUTH": "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE": "iam_user", "TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "r",
	})
	if err == nil || !strings.Contains(err.Error(), "TFC_VAULT_BACKED_AWS_AUTH") || !strings.Contains(err.Error(), "plan phase") {
		t.Fatalf("conflicting defaults: %v", err)
	}
}
