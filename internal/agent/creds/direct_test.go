package creds

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/jobapi"
)

func TestAWSDirect(t *testing.T) {
	m := &countingMinter{}
	r, dir, err := prepare(t, map[string]string{
		"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::111:role/run", "TFC_AWS_PLAN_ROLE_ARN": "arn:aws:iam::111:role/plan",
		"TFC_AWS_PROVIDER_AUTH_PROD": "true", "TFC_DEFAULT_AWS_RUN_ROLE_ARN": "arn:aws:iam::222:role/default",
		"TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE_PROD": "prod.aud",
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.audiences, []string{"aws.workload.identity", "prod.aud"}) {
		t.Fatalf("minted for %q", m.audiences)
	}
	tokenFile := filepath.Join(dir, "tfc-aws-token")
	wantEnv := map[string]string{
		"AWS_ROLE_ARN": "arn:aws:iam::111:role/plan", "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ROLE_SESSION_NAME": "runcred-run-X3n1AUXNGWbfECsJ-plan",
	}
	for k, v := range wantEnv {
		if r.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Env[k], v)
		}
	}
	if tok := readFile(t, dir, tokenFile); tok != "jwt.1.aws.workload.identity" || !hasSecret(r, tok) {
		t.Errorf("token file %q (in Secrets: %v)", tok, hasSecret(r, tok))
	}
	prodToken := filepath.Join(dir, "tfc-aws-token-PROD")
	if tok := readFile(t, dir, prodToken); tok != "jwt.2.prod.aud" || !hasSecret(r, tok) {
		t.Errorf("PROD token file %q", tok)
	}
	for file, want := range map[string]string{
		"tfc-aws-shared-config":      "[default]\nrole_arn = arn:aws:iam::111:role/plan\nweb_identity_token_file = " + tokenFile + "\nrole_session_name = runcred-run-X3n1AUXNGWbfECsJ-plan\n",
		"tfc-aws-shared-config-PROD": "[default]\nrole_arn = arn:aws:iam::222:role/default\nweb_identity_token_file = " + prodToken + "\nrole_session_name = runcred-run-X3n1AUXNGWbfECsJ-plan\n",
	} {
		if got := readFile(t, dir, filepath.Join(dir, file)); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", file, got, want)
		}
	}
	var dyn struct {
		Default struct {
			SharedConfigFile string `json:"shared_config_file"`
		} `json:"default"`
		Aliases map[string]struct {
			SharedConfigFile string `json:"shared_config_file"`
		} `json:"aliases"`
	}
	if err := json.Unmarshal([]byte(r.Env["TF_VAR_tfc_aws_dynamic_credentials"]), &dyn); err != nil {
		t.Fatal(err)
	}
	if dyn.Default.SharedConfigFile != filepath.Join(dir, "tfc-aws-shared-config") || dyn.Aliases["PROD"].SharedConfigFile != filepath.Join(dir, "tfc-aws-shared-config-PROD") {
		t.Errorf("tfc_aws_dynamic_credentials = %s", r.Env["TF_VAR_tfc_aws_dynamic_credentials"])
	}
	if len(r.Files) != 4 {
		t.Errorf("files %q", r.Files)
	}
	checkClosed(t, r, dir)
}

func TestGCPDirect(t *testing.T) {
	m := &countingMinter{}
	const provider = "projects/123/locations/global/workloadIdentityPools/pool/providers/prov"
	r, dir, err := prepare(t, map[string]string{
		"TFC_GCP_PROVIDER_AUTH": "true", "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL": "deploy@p.iam.gserviceaccount.com",
		"TFC_GCP_WORKLOAD_PROVIDER_NAME": provider,
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	if m.audiences[0] != "//iam.googleapis.com/"+provider {
		t.Fatalf("audience %q", m.audiences[0])
	}
	cred := filepath.Join(dir, "tfc-google-application-credentials")
	if r.Env["GOOGLE_APPLICATION_CREDENTIALS"] != cred {
		t.Fatalf("env %v", r.Env)
	}
	want := `{
  "type": "external_account",
  "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov",
  "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
  "token_url": "https://sts.googleapis.com/v1/token",
  "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/deploy@p.iam.gserviceaccount.com:generateAccessToken",
  "credential_source": {
    "file": "` + filepath.Join(dir, "tfc-gcp-token") + `",
    "format": {
      "type": "text"
    }
  }
}
`
	if got := readFile(t, dir, cred); got != want {
		t.Errorf("credential config:\n%s\nwant\n%s", got, want)
	}
	if tok := readFile(t, dir, filepath.Join(dir, "tfc-gcp-token")); !hasSecret(r, tok) {
		t.Error("gcp token not in Secrets")
	}
	if !strings.Contains(r.Env["TF_VAR_tfc_gcp_dynamic_credentials"], `"credentials":"`+cred+`"`) {
		t.Errorf("tfc_gcp_dynamic_credentials = %s", r.Env["TF_VAR_tfc_gcp_dynamic_credentials"])
	}
	checkClosed(t, r, dir)
}

func TestAzureDirect(t *testing.T) {
	m := &countingMinter{}
	r, dir, err := prepare(t, map[string]string{
		"TFC_AZURE_PROVIDER_AUTH": "true", "TFC_AZURE_RUN_CLIENT_ID": "run-id", "TFC_AZURE_PLAN_CLIENT_ID": "plan-id",
		"TFC_AZURE_PROVIDER_AUTH_X": "true", "TFC_AZURE_RUN_CLIENT_ID_X": "x-id", "TFC_AZURE_WORKLOAD_IDENTITY_AUDIENCE_X": "x.aud",
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "tfc-azure-token")
	want := map[string]string{"ARM_CLIENT_ID": "plan-id", "ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": "jwt.1.api://AzureADTokenExchange", "ARM_OIDC_TOKEN_FILE_PATH": tokenFile}
	for k, v := range want {
		if r.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Env[k], v)
		}
	}
	if !hasSecret(r, r.Env["ARM_OIDC_TOKEN"]) {
		t.Error("ARM_OIDC_TOKEN not in Secrets")
	}
	for file, want := range map[string]string{
		"tfc-azure-token": "jwt.1.api://AzureADTokenExchange", "tfc-azure-client-id": "plan-id",
		"tfc-azure-token-X": "jwt.2.x.aud", "tfc-azure-client-id-X": "x-id",
	} {
		if got := readFile(t, dir, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	var dyn struct {
		Aliases map[string]map[string]string `json:"aliases"`
	}
	if err := json.Unmarshal([]byte(r.Env["TF_VAR_tfc_azure_dynamic_credentials"]), &dyn); err != nil {
		t.Fatal(err)
	}
	if dyn.Aliases["X"]["client_id_file_path"] != filepath.Join(dir, "tfc-azure-client-id-X") || dyn.Aliases["X"]["oidc_token_file_path"] != filepath.Join(dir, "tfc-azure-token-X") {
		t.Errorf("aliases %v", dyn.Aliases)
	}
	checkClosed(t, r, dir)
}

func TestManualTokens(t *testing.T) {
	m := &countingMinter{}
	r, dir, err := prepare(t, map[string]string{"TFC_WORKLOAD_IDENTITY_AUDIENCE": "consul", "TFC_WORKLOAD_IDENTITY_AUDIENCE_JFROG": "jfrog"}, m)
	if err != nil {
		t.Fatal(err)
	}
	if r.Env["TFC_WORKLOAD_IDENTITY_TOKEN"] != "jwt.1.consul" || r.Env["TFC_WORKLOAD_IDENTITY_TOKEN_JFROG"] != "jwt.2.jfrog" || len(r.Env) != 2 {
		t.Fatalf("env %v", r.Env)
	}
	if !hasSecret(r, "jwt.1.consul") || !hasSecret(r, "jwt.2.jfrog") {
		t.Fatal("manual tokens not in Secrets")
	}
	checkClosed(t, r, dir)
}

// TestTaggedOnlyHasDefaultObject: the variable's type needs a default
// object even when only aliases are configured.
func TestTaggedOnlyHasDefaultObject(t *testing.T) {
	r, _, err := prepare(t, map[string]string{"TFC_AWS_PROVIDER_AUTH_A": "true", "TFC_AWS_RUN_ROLE_ARN_A": "arn:aws:iam::1:role/a"}, &countingMinter{})
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Env["TF_VAR_tfc_aws_dynamic_credentials"]; !strings.HasPrefix(v, `{"default":{"shared_config_file":""},"aliases":{"A":`) {
		t.Fatalf("value %s", v)
	}
	if _, ok := r.Env["AWS_ROLE_ARN"]; ok {
		t.Fatal("a tagged configuration set AWS_ROLE_ARN")
	}
}

// TestErrorsLeaveNothing: a failure after files were written removes them,
// and nothing is returned.
func TestErrorsLeaveNothing(t *testing.T) {
	aws := map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/a"}
	cases := []struct {
		name string
		env  map[string]string
		m    *countingMinter
		want []string
	}{
		{"mint fails after aws files", map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/a",
			"TFC_AZURE_PROVIDER_AUTH": "true", "TFC_AZURE_RUN_CLIENT_ID": "c"}, &countingMinter{failOn: "api://AzureADTokenExchange"}, []string{"TFC_AZURE_PROVIDER_AUTH", "mint refused"}},
		{"workspace sets AWS_ROLE_ARN", merge(aws, "AWS_ROLE_ARN", "arn:aws:iam::9:role/mine"), &countingMinter{}, []string{"workspace variable AWS_ROLE_ARN", "TFC_AWS_PROVIDER_AUTH"}},
		{"workspace sets the dynamic variable", merge(aws, "TF_VAR_tfc_aws_dynamic_credentials", "{}"), &countingMinter{}, []string{"TF_VAR_tfc_aws_dynamic_credentials"}},
		{"vault unreachable after aws files", merge(aws, "TFC_VAULT_PROVIDER_AUTH", "true", "TFC_VAULT_ADDR", "http://127.0.0.1:1", "TFC_VAULT_RUN_ROLE", "r"),
			&countingMinter{}, []string{"TFC_VAULT_PROVIDER_AUTH", "logging in to Vault"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, dir, err := prepare(t, c.env, c.m)
			mustContain(t, err, c.want...)
			if r != nil {
				t.Fatal("a Result came with the error")
			}
			if left := dirEntries(t, dir); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}

func merge(base map[string]string, kv ...string) map[string]string {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func TestPrepareRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"TFC_WORKLOAD_IDENTITY_AUDIENCE": "a"}
	for name, cfg := range map[string]Config{
		"bad phase":    {Dir: dir, Env: env, Run: Run{ID: "run-1", Phase: "destroy"}, Minter: &countingMinter{}},
		"relative dir": {Dir: "runs/1", Env: env, Run: testRun(), Minter: &countingMinter{}},
		"missing dir":  {Dir: filepath.Join(dir, "nope"), Env: env, Run: testRun(), Minter: &countingMinter{}},
		"no minter":    {Dir: dir, Env: env, Run: testRun()},
	} {
		if r, err := Prepare(context.Background(), cfg); err == nil || r != nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A file already in the way is not written through.
	if err := os.WriteFile(filepath.Join(dir, "tfc-aws-token"), []byte("planted"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Prepare(context.Background(), Config{Dir: dir, Env: map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/a"},
		Run: testRun(), Minter: &countingMinter{}})
	mustContain(t, err, "file exists")
	if b, _ := os.ReadFile(filepath.Join(dir, "tfc-aws-token")); string(b) != "planted" {
		t.Fatal("the planted file was changed or removed")
	}
	// Nothing configured: nothing minted, nothing written, Close is a no-op.
	r, err := Prepare(context.Background(), Config{Dir: dir, Env: map[string]string{"FOO": "bar"}, Run: testRun()})
	if err != nil || len(r.Env) != 0 || len(r.Files) != 0 {
		t.Fatalf("empty config: %v %+v", err, r)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var nilResult *Result
	if err := nilResult.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSessionName(t *testing.T) {
	long := strings.Repeat("r", 80)
	cases := map[Run]string{
		{ID: "run-X3n1AUXNGWbfECsJ", Phase: jobapi.Plan}: "runcred-run-X3n1AUXNGWbfECsJ-plan",
		{ID: "run 1/é", Phase: jobapi.Apply}:             "runcred-run-1---apply",
		{ID: "", Phase: jobapi.Plan}:                     "runcred-unknown-plan",
		{ID: long, Phase: jobapi.Apply}:                  "runcred-" + long[:64-len("runcred-")-len("-apply")] + "-apply",
	}
	for run, want := range cases {
		got := sessionName(run)
		if got != want || len(got) > 64 || sessionInvalid.MatchString(got) {
			t.Errorf("sessionName(%q) = %q, want %q", run.ID, got, want)
		}
	}
}
