package policy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func recordedPlan(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "plans", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var allowedRoles = []any{"arn:aws:iam::111111111111:role/terraform", "arn:aws:iam::222222222222:role/deploy-*"}

// managedVar is the vault_role_id variable the vault-admin workspace
// manages, as the manager left it.
func managedVar() Variable {
	return Variable{
		Key: "vault_role_id", Category: CategoryTerraform, Sensitive: true,
		ManagedBy:  "vault-admin",
		LastWriter: Writer{Kind: WriterRun, Name: "run-1", Workspace: "vault-admin"},
		ValueHMAC:  "5f2a", ManagerValueHMAC: "5f2a",
	}
}

// TestLibraryOnRecordedPlans evaluates the built-in library, through the
// engine, on plans recorded with OpenTofu, and holds each policy's exact
// messages.
func TestLibraryOnRecordedPlans(t *testing.T) {
	e := New(Options{})
	overwritten := managedVar()
	overwritten.LastWriter = Writer{Kind: WriterUser, Name: "mallory"}
	overwritten.ValueHMAC = "9c41"
	restoredByManager := managedVar()
	restoredByManager.LastWriter.Name = "run-2"

	for _, c := range []struct {
		name, plan string
		params     map[string]any
		run        Run
		want       map[string][]string // by policy; absent = passed
	}{
		{name: "literal roles, one hop of a chain outside the list", plan: "roles",
			want: map[string][]string{"allowed-assume-roles": {
				`provider "aws.chain": assume_role[1].role_arn is "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`,
			}}},
		{name: "literal roles all allowed", plan: "roles",
			params: map[string]any{"allowed_role_arns": append(slices.Clone(allowedRoles), "arn:aws:iam::999999999999:role/admin")}},
		{name: "variables resolved through modules, a local fails closed", plan: "variables",
			want: map[string][]string{"allowed-assume-roles": {
				`provider "aws.local": assume_role[0].role_arn (refers to local.hidden) cannot be resolved from the plan: only literals and variables can be`,
				`provider "module.outer.module.inner:aws": assume_role[0].role_arn is "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`,
			}}},
		{name: "variables resolved, admin allowed: only the local fails", plan: "variables",
			params: map[string]any{"allowed_role_arns": append(slices.Clone(allowedRoles), "arn:aws:iam::999999999999:role/*")},
			want: map[string][]string{"allowed-assume-roles": {
				`provider "aws.local": assume_role[0].role_arn (refers to local.hidden) cannot be resolved from the plan: only literals and variables can be`,
			}}},
		{name: "module default outside the list", plan: "variables",
			params: map[string]any{"allowed_role_arns": []any{"arn:aws:iam::111111111111:role/terraform", "arn:aws:iam::999999999999:role/admin"}},
			want: map[string][]string{"allowed-assume-roles": {
				`provider "aws.local": assume_role[0].role_arn (refers to local.hidden) cannot be resolved from the plan: only literals and variables can be`,
				`provider "module.outer:aws.outer": assume_role[0].role_arn is "arn:aws:iam::222222222222:role/deploy-default", which is not in allowed_role_arns`,
			}}},
		{name: "dynamic block invisible: passes unless a role is required", plan: "dynamic"},
		{name: "dynamic block with require_assume_role", plan: "dynamic",
			params: map[string]any{"allowed_role_arns": allowedRoles, "require_assume_role": true},
			want: map[string][]string{"allowed-assume-roles": {
				`provider "aws" assumes no role, and require_assume_role is set`,
			}}},
		{name: "run credentials outside the list", plan: "dynamic",
			run: Run{Credentials: Credentials{Apply: PhaseCredentials{AWS: []AWSCredential{{RoleARN: "arn:aws:iam::999999999999:role/admin"}}}}},
			want: map[string][]string{"allowed-assume-roles": {
				`the run's apply-phase AWS credentials name role "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`,
			}}},
		// A function of a variable looks like the variable in a plan: it
		// is taken for it unless only literals are accepted.
		{name: "function of a variable taken for the variable", plan: "functions"},
		{name: "function of a variable, literal role ARNs only", plan: "functions",
			params: map[string]any{"allowed_role_arns": allowedRoles, "literal_role_arns_only": true},
			want: map[string][]string{"allowed-assume-roles": {
				`provider "aws": assume_role[0].role_arn (refers to var.role_arn) cannot be resolved from the plan: only literal ARNs are accepted (literal_role_arns_only)`,
				`provider "aws.template": assume_role[0].role_arn (refers to var.role_arn) cannot be resolved from the plan: only literal ARNs are accepted (literal_role_arns_only)`,
			}}},
		{name: "no allow-list configured", plan: "dynamic", params: map[string]any{},
			want: map[string][]string{"allowed-assume-roles": {"parameter allowed_role_arns is not set to a list of role ARN patterns"}}},
		{name: "credentials from vault in state", plan: "vault-creds",
			want: map[string][]string{"no-credentials-in-state": {
				`data.vault_aws_access_credentials.creds (vault_aws_access_credentials) puts AWS credentials from Vault into the state: use the run's dynamic credentials instead (workload identity: TFC_AWS_PROVIDER_AUTH, TFC_VAULT_BACKED_AWS_AUTH, TFC_GCP_PROVIDER_AUTH, TFC_AZURE_PROVIDER_AUTH)`,
				`data.vault_generic_secret.sts (vault_generic_secret) reads "aws/sts/deploy", cloud credentials that end up in the state: use the run's dynamic credentials instead (workload identity: TFC_AWS_PROVIDER_AUTH, TFC_VAULT_BACKED_AWS_AUTH, TFC_GCP_PROVIDER_AUTH, TFC_AZURE_PROVIDER_AUTH)`,
				`data.vault_generic_secret.computed (vault_generic_secret) reads "aws/creds/deploy", cloud credentials that end up in the state: use the run's dynamic credentials instead (workload identity: TFC_AWS_PROVIDER_AUTH, TFC_VAULT_BACKED_AWS_AUTH, TFC_GCP_PROVIDER_AUTH, TFC_AZURE_PROVIDER_AUTH)`,
			}}},
		{name: "managed variable as its manager wrote it", plan: "roles",
			params: map[string]any{"allowed_role_arns": append(slices.Clone(allowedRoles), "arn:aws:iam::999999999999:role/admin")},
			run:    Run{Workspace: Workspace{Name: "app"}, Variables: []Variable{managedVar()}}},
		{name: "operator overwrote a managed variable", plan: "roles",
			params: map[string]any{"allowed_role_arns": append(slices.Clone(allowedRoles), "arn:aws:iam::999999999999:role/admin")},
			run:    Run{Workspace: Workspace{Name: "app"}, Variables: []Variable{overwritten}},
			want: map[string][]string{"protected-variables": {
				`variable "vault_role_id" (terraform) differs from the value workspace "vault-admin" last wrote`,
				`variable "vault_role_id" (terraform) is managed by workspace "vault-admin" but was last written by user "mallory"`,
			}}},
		{name: "manager restored the value", plan: "roles",
			params: map[string]any{"allowed_role_arns": append(slices.Clone(allowedRoles), "arn:aws:iam::999999999999:role/admin")},
			run:    Run{Workspace: Workspace{Name: "app"}, Variables: []Variable{restoredByManager}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			params := c.params
			if params == nil {
				params = map[string]any{"allowed_role_arns": allowedRoles}
			}
			in, err := NewInput(recordedPlan(t, c.plan), c.run)
			if err != nil {
				t.Fatal(err)
			}
			res := e.EvaluateSet(t.Context(), in, Library(params))
			for _, r := range res.Policies {
				want := c.want[r.Name]
				var got []string
				for _, v := range r.Violations {
					got = append(got, v.Message)
				}
				slices.Sort(got)
				slices.Sort(want)
				wantStatus := Passed
				if len(want) > 0 {
					wantStatus = Failed
				}
				if r.Status != wantStatus || !slices.Equal(got, want) {
					t.Errorf("%s: %s %s\n got %q\nwant %q", r.Name, r.Status, r.Error, got, want)
				}
			}
		})
	}
}
