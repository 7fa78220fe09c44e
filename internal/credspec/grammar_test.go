package credspec

import (
	"slices"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/jobapi"
)

func TestPhasedPrecedence(t *testing.T) {
	const (
		plan      = "TFC_AWS_PLAN_ROLE_ARN"
		defPlan   = "TFC_DEFAULT_AWS_PLAN_ROLE_ARN"
		run       = "TFC_AWS_RUN_ROLE_ARN"
		defRun    = "TFC_DEFAULT_AWS_RUN_ROLE_ARN"
		tagPlan   = "TFC_AWS_PLAN_ROLE_ARN_A1"
		tagRun    = "TFC_AWS_RUN_ROLE_ARN_A1"
		applyOnly = "TFC_AWS_APPLY_ROLE_ARN"
	)
	cases := []struct {
		name  string
		set   []string
		tag   string
		phase jobapi.Phase
		want  string // the variable that should win; "" none
	}{
		{"phase beats run", []string{plan, run}, "", jobapi.Plan, plan},
		{"run when no phase value", []string{run, applyOnly}, "", jobapi.Plan, run},
		{"apply uses its own", []string{run, applyOnly}, "", jobapi.Apply, applyOnly},
		{"explicit run beats default run", []string{run, defRun}, "", jobapi.Plan, run},
		{"default phase beats explicit run (OTF order)", []string{defPlan, run}, "", jobapi.Plan, defPlan},
		{"default run alone", []string{defRun}, "", jobapi.Plan, defRun},
		{"explicit phase beats default phase", []string{plan, defPlan}, "", jobapi.Plan, plan},
		{"tag: default phase beats own run (OTF order)", []string{tagRun, defPlan}, "A1", jobapi.Plan, defPlan},
		{"tag: own phase", []string{tagPlan, plan, run}, "A1", jobapi.Plan, tagPlan},
		{"tag: untagged values are another configuration's", []string{plan, run}, "A1", jobapi.Plan, ""},
		{"tag: falls back to TFC_DEFAULT_", []string{defRun, run}, "A1", jobapi.Plan, defRun},
		{"untagged: tagged values are ignored", []string{tagPlan, tagRun}, "", jobapi.Plan, ""},
		{"nothing", nil, "", jobapi.Apply, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for _, k := range c.set {
				env[k] = "value-of-" + k
			}
			v, from := settings{env: env, provider: "AWS", tag: c.tag, phase: c.phase}.phased("ROLE_ARN")
			if from != c.want || (c.want != "" && v != "value-of-"+c.want) || (c.want == "" && v != "") {
				t.Fatalf("got %q from %q, want %q", v, from, c.want)
			}
		})
	}
}

func TestGetPrecedence(t *testing.T) {
	env := map[string]string{
		"TFC_VAULT_ADDR":         "explicit",
		"TFC_DEFAULT_VAULT_ADDR": "default",
		"TFC_VAULT_ADDR_B":       "",
	}
	for tag, want := range map[string]string{"": "explicit", "A": "default", "B": "default"} {
		if v, _ := (settings{env: env, provider: "VAULT", tag: tag}).get("ADDR"); v != want {
			t.Errorf("tag %q: %q, want %q", tag, v, want)
		}
	}
}

func TestEnabledTags(t *testing.T) {
	cases := []struct {
		name     string
		provider string
		flag     string
		env      map[string]string
		want     []string
		err      string
	}{
		{"default and tags", "AWS", "PROVIDER_AUTH", map[string]string{
			"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_PROVIDER_AUTH_b2": "TRUE", "TFC_AWS_PROVIDER_AUTH_A_1": "true",
			"TFC_AWS_PROVIDER_AUTH_OFF": "false", "TFC_AWS_PROVIDER_AUTHX": "true", "TFC_GCP_PROVIDER_AUTH": "true",
		}, []string{"", "A_1", "b2"}, ""},
		{"AUTH_TYPE is a setting, not a tag", "VAULT_BACKED_AWS", "AUTH", map[string]string{
			"TFC_VAULT_BACKED_AWS_AUTH": "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE": "iam_user", "TFC_VAULT_BACKED_AWS_AUTH_TYPE_X": "assumed_role",
		}, []string{""}, ""},
		{"not a boolean", "AWS", "PROVIDER_AUTH", map[string]string{"TFC_AWS_PROVIDER_AUTH": "yes"}, nil, "TFC_AWS_PROVIDER_AUTH must be true or false"},
		{"bad tag", "AWS", "PROVIDER_AUTH", map[string]string{"TFC_AWS_PROVIDER_AUTH_a-b": "true"}, nil, "TFC_AWS_PROVIDER_AUTH_a-b: tag"},
		{"no default form", "VAULT", "PROVIDER_AUTH", map[string]string{"TFC_DEFAULT_VAULT_PROVIDER_AUTH": "true"}, nil, "TFC_DEFAULT_VAULT_PROVIDER_AUTH is not supported"},
		{"none", "AWS", "PROVIDER_AUTH", map[string]string{"TFC_AWS_RUN_ROLE_ARN": "x"}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := enabledTags(c.env, c.provider, c.flag)
			if c.err != "" {
				mustContain(t, err, c.err)
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestManualTags(t *testing.T) {
	got, err := manualTags(map[string]string{"TFC_WORKLOAD_IDENTITY_AUDIENCE": "a", "TFC_WORKLOAD_IDENTITY_AUDIENCE_X": "b",
		"TFC_WORKLOAD_IDENTITY_AUDIENCE_EMPTY": "", "TFC_WORKLOAD_IDENTITY_AUDIENCEX": "c"})
	if err != nil || !slices.Equal(got, []string{"", "X"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, k := range []string{"TFC_WORKLOAD_IDENTITY_AUDIENCE_TYPE", "TFC_WORKLOAD_IDENTITY_AUDIENCE_a.b"} {
		_, err := manualTags(map[string]string{k: "aud"})
		mustContain(t, err, k)
	}
}

// TestParseErrors: every refusal names the variable to fix.
func TestParseErrors(t *testing.T) {
	vault := map[string]string{"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": "https://vault.example", "TFC_VAULT_RUN_ROLE": "r"}
	with := func(base map[string]string, kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	backed := with(vault, "TFC_VAULT_BACKED_AWS_AUTH", "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE", "assumed_role", "TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "ws1")
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"aws without role", map[string]string{"TFC_AWS_PROVIDER_AUTH": "true"}, []string{"TFC_AWS_PROVIDER_AUTH is true", "TFC_AWS_RUN_ROLE_ARN"}},
		{"aws apply role only, plan phase", map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_APPLY_ROLE_ARN": "arn:aws:iam::1:role/x"}, []string{"TFC_AWS_RUN_ROLE_ARN"}},
		{"aws tagged without role", map[string]string{"TFC_AWS_PROVIDER_AUTH_X": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/x"}, []string{"TFC_AWS_PROVIDER_AUTH_X", "TFC_AWS_RUN_ROLE_ARN_X"}},
		{"aws bad arn", map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_PLAN_ROLE_ARN": "arn:x\n[evil]"}, []string{"TFC_AWS_PLAN_ROLE_ARN", "not a role ARN"}},
		{"gcp without provider", map[string]string{"TFC_GCP_PROVIDER_AUTH": "true", "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL": "sa@p.iam.gserviceaccount.com", "TFC_GCP_PROJECT_NUMBER": "1"}, []string{"TFC_GCP_WORKLOAD_PROVIDER_NAME", "TFC_GCP_WORKLOAD_POOL_ID"}},
		{"gcp without service account", map[string]string{"TFC_GCP_PROVIDER_AUTH": "true"}, []string{"TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL"}},
		{"gcp bad provider name", map[string]string{"TFC_GCP_PROVIDER_AUTH": "true", "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL": "sa@p", "TFC_GCP_WORKLOAD_PROVIDER_NAME": "projects/1/x"}, []string{"TFC_GCP_WORKLOAD_PROVIDER_NAME"}},
		{"gcp bad email", map[string]string{"TFC_GCP_PROVIDER_AUTH": "true", "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL": "sa/../x@p"}, []string{"TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL"}},
		{"azure without client", map[string]string{"TFC_AZURE_PROVIDER_AUTH": "true"}, []string{"TFC_AZURE_RUN_CLIENT_ID"}},
		{"vault without addr", map[string]string{"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_RUN_ROLE": "r"}, []string{"TFC_VAULT_ADDR"}},
		{"vault bad addr", with(vault, "TFC_VAULT_ADDR", "vault.example:8200"), []string{"TFC_VAULT_ADDR", "not an http(s) address"}},
		{"vault default addr bad", with(vault, "TFC_VAULT_ADDR", "", "TFC_DEFAULT_VAULT_ADDR", "ftp://x"), []string{"TFC_DEFAULT_VAULT_ADDR"}},
		{"vault without role", with(vault, "TFC_VAULT_RUN_ROLE", ""), []string{"TFC_VAULT_RUN_ROLE"}},
		{"vault bad auth path", with(vault, "TFC_VAULT_AUTH_PATH", "jwt/../sys"), []string{"TFC_VAULT_AUTH_PATH"}},
		{"vault cacert not base64", with(vault, "TFC_VAULT_ENCODED_CACERT", "!!"), []string{"TFC_VAULT_ENCODED_CACERT", "not base64"}},
		{"vault cacert not pem", with(vault, "TFC_VAULT_ENCODED_CACERT", "aGVsbG8="), []string{"TFC_VAULT_ENCODED_CACERT", "PEM"}},
		{"backed without vault", map[string]string{"TFC_VAULT_BACKED_AWS_AUTH": "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE": "iam_user", "TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "r"}, []string{"TFC_VAULT_BACKED_AWS_AUTH", "TFC_VAULT_PROVIDER_AUTH"}},
		{"backed names missing vault config", with(backed, "TFC_VAULT_BACKED_AWS_VAULT_CONFIG", "OTHER"), []string{"TFC_VAULT_BACKED_AWS_VAULT_CONFIG", "TFC_VAULT_PROVIDER_AUTH_OTHER"}},
		{"backed without type", with(backed, "TFC_VAULT_BACKED_AWS_AUTH_TYPE", ""), []string{"TFC_VAULT_BACKED_AWS_AUTH_TYPE"}},
		{"backed bad type", with(backed, "TFC_VAULT_BACKED_AWS_AUTH_TYPE", "session_token"), []string{"TFC_VAULT_BACKED_AWS_AUTH_TYPE", "session_token"}},
		{"backed without role", with(backed, "TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", ""), []string{"TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE"}},
		{"backed role with slash", with(backed, "TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "../sys"), []string{"TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE"}},
		{"backed role arn for iam_user", with(backed, "TFC_VAULT_BACKED_AWS_AUTH_TYPE", "iam_user", "TFC_VAULT_BACKED_AWS_PLAN_ROLE_ARN", "arn:a"), []string{"TFC_VAULT_BACKED_AWS_PLAN_ROLE_ARN", "assumed_role"}},
		{"backed sleep too long", with(backed, "TFC_VAULT_BACKED_AWS_SLEEP_SECONDS", "1501"), []string{"TFC_VAULT_BACKED_AWS_SLEEP_SECONDS", "1500"}},
		{"backed sleep not a number", with(backed, "TFC_DEFAULT_VAULT_BACKED_AWS_SLEEP_SECONDS", "5s"), []string{"TFC_DEFAULT_VAULT_BACKED_AWS_SLEEP_SECONDS"}},
		{"backed bad mount", with(backed, "TFC_VAULT_BACKED_AWS_MOUNT_PATH", "aws//x"), []string{"TFC_VAULT_BACKED_AWS_MOUNT_PATH"}},
		{"vault bad auth type", with(vault, "TFC_VAULT_AUTH_TYPE", "userpass"), []string{"TFC_VAULT_AUTH_TYPE", "not jwt or approle"}},
		{"approle with a jwt role", with(vault, "TFC_VAULT_AUTH_TYPE", "approle"), []string{"TFC_VAULT_RUN_ROLE", "TFC_VAULT_AUTH_TYPE=jwt"}},
		{"approle with a plan role", with(vault, "TFC_VAULT_RUN_ROLE", "", "TFC_VAULT_AUTH_TYPE", "approle", "TFC_VAULT_APPLY_ROLE", "r"), []string{"TFC_VAULT_APPLY_ROLE"}},
		{"approle with an audience", with(vault, "TFC_VAULT_RUN_ROLE", "", "TFC_VAULT_AUTH_TYPE", "approle", "TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE", "a"), []string{"TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE", "no workload identity token"}},
		{"approle bad variable name", with(vault, "TFC_VAULT_RUN_ROLE", "", "TFC_VAULT_AUTH_TYPE", "approle", "TFC_VAULT_PLAN_APPROLE_SECRET_ID_VARIABLE", "a b"), []string{"TFC_VAULT_PLAN_APPROLE_SECRET_ID_VARIABLE", "not a variable name"}},
		{"approle one variable for both", with(vault, "TFC_VAULT_RUN_ROLE", "", "TFC_VAULT_AUTH_TYPE", "approle", "TFC_VAULT_RUN_APPROLE_ROLE_ID_VARIABLE", "secret_id"), []string{"TFC_VAULT_RUN_APPROLE_ROLE_ID_VARIABLE", "TFC_VAULT_AUTH_TYPE", "two variables"}},
		{"jwt with an approle variable", with(vault, "TFC_VAULT_RUN_APPROLE_SECRET_ID_VARIABLE", "sid"), []string{"TFC_VAULT_RUN_APPROLE_SECRET_ID_VARIABLE", "TFC_VAULT_AUTH_TYPE=approle"}},
		{"aws and backed both default", with(backed, "TFC_AWS_PROVIDER_AUTH", "true", "TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::1:role/x"), []string{"TFC_AWS_PROVIDER_AUTH", "TFC_VAULT_BACKED_AWS_AUTH"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.env, jobapi.Plan)
			mustContain(t, err, c.want...)
		})
	}
}

func TestParseValues(t *testing.T) {
	env := map[string]string{
		"TFC_GCP_PROVIDER_AUTH": "true", "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL": "sa@p.iam.gserviceaccount.com",
		"TFC_GCP_PROJECT_NUMBER": "123", "TFC_GCP_WORKLOAD_POOL_ID": "pool", "TFC_GCP_WORKLOAD_PROVIDER_ID": "prov",
		"TFC_VAULT_PROVIDER_AUTH_V": "true", "TFC_DEFAULT_VAULT_ADDR": "https://vault.example:8200/", "TFC_VAULT_APPLY_ROLE_V": "r",
		"TFC_VAULT_BACKED_AWS_AUTH_B": "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE_B": "federation_token",
		"TFC_DEFAULT_VAULT_BACKED_AWS_APPLY_VAULT_ROLE": "fed", "TFC_VAULT_BACKED_AWS_VAULT_CONFIG_B": "V",
		"TFC_VAULT_BACKED_AWS_MOUNT_PATH_B": "/team/aws/", "TFC_VAULT_BACKED_AWS_SLEEP_SECONDS_B": "1500",
	}
	p, err := Parse(env, jobapi.Apply)
	if err != nil {
		t.Fatal(err)
	}
	g := p.GCP[0]
	if g.ProviderName != "projects/123/locations/global/workloadIdentityPools/pool/providers/prov" || g.Audience != "//iam.googleapis.com/"+g.ProviderName {
		t.Errorf("gcp: %+v", g)
	}
	v := p.Vault[0]
	if v.Tag != "V" || v.Addr != "https://vault.example:8200" || v.Role != "r" || v.AuthPath != "jwt" || v.Audience != "vault.workload.identity" {
		t.Errorf("vault: %+v", v)
	}
	b := p.VaultAWS[0]
	if b.Tag != "B" || b.VaultTag != "V" || b.AuthType != FederationToken || b.Role != "fed" || b.Mount != "team/aws" || b.Sleep.Seconds() != 1500 {
		t.Errorf("vault-backed aws: %+v", b)
	}
	if _, err := Parse(env, jobapi.Plan); err == nil || !strings.Contains(err.Error(), "TFC_VAULT_RUN_ROLE_V") {
		t.Errorf("plan phase has no Vault role: %v", err)
	}
}

// TestParseAppRole: TFC_VAULT_AUTH_TYPE=approle reads the variable names by
// the grammar (per phase, tags, TFC_DEFAULT_ forms), defaults to role_id,
// secret_id and the approle mount, asks for no token, and leaves the JWT
// configurations beside it as they were.
func TestParseAppRole(t *testing.T) {
	env := map[string]string{}
	for _, kv := range [][2]string{
		{"TFC_VAULT_PROVIDER_AUTH", "true"}, {"TFC_VAULT_ADDR", "https://vault.example"}, {"TFC_VAULT_AUTH_TYPE", "approle"},
		{"TFC_VAULT_PROVIDER_AUTH_A", "true"}, {"TFC_VAULT_ADDR_A", "https://vault.example"}, {"TFC_VAULT_AUTH_TYPE_A", "approle"},
		{"TFC_VAULT_AUTH_PATH_A", "team/approle"}, {"TFC_VAULT_APPLY_APPROLE_SECRET_ID_VARIABLE_A", "apply_secret_id"},
		{"TFC_DEFAULT_VAULT_RUN_APPROLE_ROLE_ID_VARIABLE", "ops_role_id"},
		{"TFC_VAULT_PROVIDER_AUTH_J", "true"}, {"TFC_VAULT_ADDR_J", "https://vault.example"}, {"TFC_VAULT_RUN_ROLE_J", "r"},
		{"TFC_DEFAULT_VAULT_RUN_ROLE", "ignored-by-approle"}, {"TFC_DEFAULT_VAULT_WORKLOAD_IDENTITY_AUDIENCE", "aud"},
		{"TFC_VAULT_BACKED_AWS_AUTH", "true"}, {"TFC_VAULT_BACKED_AWS_AUTH_TYPE", "iam_user"}, {"TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "deploy"},
	} {
		env[kv[0]] = kv[1]
	}
	for phase, secretVar := range map[jobapi.Phase]string{jobapi.Plan: "secret_id", jobapi.Apply: "apply_secret_id"} {
		p, err := Parse(env, phase)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Vault) != 3 || len(p.VaultAWS) != 1 || p.VaultAWS[0].VaultTag != "" {
			t.Fatalf("%s: %+v", phase, p)
		}
		def, a, j := p.Vault[0], p.Vault[1], p.Vault[2]
		if def.AuthType != AppRole || def.AuthPath != "approle" || def.RoleIDVar != "ops_role_id" || def.SecretIDVar != "secret_id" ||
			def.Role != "" || def.Audience != "" || def.RoleIDVarFrom != "TFC_DEFAULT_VAULT_RUN_APPROLE_ROLE_ID_VARIABLE" {
			t.Errorf("%s: default: %+v", phase, def)
		}
		if a.AuthType != AppRole || a.AuthPath != "team/approle" || a.SecretIDVar != secretVar || a.RoleIDVar != "ops_role_id" {
			t.Errorf("%s: A: %+v", phase, a)
		}
		if j.AuthType != JWT || j.AuthTypeFrom != "TFC_VAULT_PROVIDER_AUTH_J" || j.AuthPath != "jwt" || j.Role != "r" || j.RoleIDVar != "" {
			t.Errorf("%s: J: %+v", phase, j)
		}
		if got := p.Audiences(); len(got) != 1 || got[0].Audience != "aud" || got[0].From != "TFC_DEFAULT_VAULT_WORKLOAD_IDENTITY_AUDIENCE" {
			t.Errorf("%s: audiences %+v: want J's only", phase, got)
		}
	}
	delete(env, "TFC_VAULT_PROVIDER_AUTH_J")
	p, err := Parse(env, jobapi.Plan)
	if err != nil || p.NeedsTokens() {
		t.Fatalf("AppRole only: needs tokens %v, %v", p.NeedsTokens(), err)
	}
}

func mustContain(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not contain %q", err, w)
		}
	}
}
