package guard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/guard"
	"github.com/runcred/runcred/internal/platform/organization"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

const own = "http://127.0.0.1:8200"

// fixture is organization acme with a second project, and a guard that
// knows runcred's own broker at own.
type fixture struct {
	*pt.Platform
	g       *guard.Service
	orgID   string
	project organization.Project
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	p := pt.New(t, db, nil)
	o, err := p.Svc.Organizations.Create(pt.As(pt.Root), organization.Options{Name: "acme", Email: "a@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	prj, err := p.Svc.Organizations.CreateProject(pt.As(pt.Root), "acme", organization.ProjectOptions{Name: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	base := resource.Deps{DB: db, Seal: p.Config.Seal, Audit: p.Config.Audit, Authz: p.Grants, Now: p.Config.Now}
	if base.Now == nil {
		base.Now = func() time.Time { return time.Now() }
	}
	return &fixture{Platform: p, g: guard.New(base, organization.NewDirectory(db), own+"/"), orgID: o.ID, project: prj}
}

// TestOnlyOwnersChangeAllowlists: reading needs the organization's read
// grant; changing needs update on the guard's path, which a member's
// grants (read and list under the organization) do not give. A refused
// change stores nothing.
func TestOnlyOwnersChangeAllowlists(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		member := pt.As(pt.TeamOps)
		f.Grants.Grant(guard.Path("acme"), access.Read)
		f.Grants.Grant(guard.ProjectPath("acme", "payments"), access.Read)
		want := guard.Allowlist{Audiences: []string{"sts.example"}}
		if _, err := f.g.SetOrganization(member, "acme", want); !fail.Is(err, fail.Denied) {
			t.Fatalf("member sets the organization's list: %v, want denied", err)
		}
		if _, err := f.g.SetProject(member, f.project.ID, want); !fail.Is(err, fail.Denied) {
			t.Fatalf("member sets the project's list: %v, want denied", err)
		}
		if a, err := f.g.Organization(member, "acme"); err != nil || len(a.Audiences) != 0 {
			t.Fatalf("after the refused change: %+v, %v", a, err)
		}
		if a, err := f.g.Project(member, f.project.ID); err != nil || len(a.Audiences) != 0 {
			t.Fatalf("project after the refused change: %+v, %v", a, err)
		}

		owner := pt.User // the grants now make callers owners: update on the guard's path
		f.Grants.Grant(guard.Path("acme"), access.Read, access.Update)
		got, err := f.g.SetOrganization(pt.As(owner), "acme", guard.Allowlist{Audiences: []string{"sts.example"}, VaultAddresses: []string{"HTTPS://Vault.Example:443/"}})
		if err != nil {
			t.Fatal(err)
		}
		if got.VaultAddresses[0] != "https://vault.example" || got.UpdatedBy.Name != owner.DisplayName || got.UpdatedAt.IsZero() {
			t.Errorf("stored %+v", got)
		}
		read, err := f.g.Organization(member, "acme")
		if err != nil || strings.Join(read.Audiences, ",") != "sts.example" || read.VaultAddresses[0] != "https://vault.example" || read.UpdatedBy != got.UpdatedBy {
			t.Errorf("read back %+v, %v", read, err)
		}
		// Bad input: a 422 naming the field, and nothing stored.
		if _, err := f.g.SetOrganization(pt.As(owner), "acme", guard.Allowlist{VaultAddresses: []string{"vault.example"}}); !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), "vault-addresses[0]") {
			t.Fatalf("bad address: %v", err)
		}
		if read, _ := f.g.Organization(member, "acme"); len(read.Audiences) != 1 {
			t.Errorf("a refused change altered the list: %+v", read)
		}
		if _, err := f.g.SetOrganization(pt.As(pt.Root), "nope", want); !fail.Is(err, fail.NotFound) {
			t.Errorf("unknown organization: %v", err)
		}
		if _, err := f.g.SetProject(pt.As(pt.Root), "prj-doesnotexist0000", want); !fail.Is(err, fail.NotFound) {
			t.Errorf("unknown project: %v", err)
		}
	})
}

func phase(t *testing.T, org, projectID string, env map[string]string) guard.Phase {
	t.Helper()
	spec, err := credspec.Parse(env, jobapi.Plan)
	if err != nil {
		t.Fatal(err)
	}
	w := map[string]resource.Writer{}
	for k := range env {
		w[k] = resource.Writer{Kind: resource.WriterTeam, ID: "team-Writers", Name: "writers"}
	}
	return guard.Phase{Organization: org, ProjectID: projectID, Spec: spec, Writers: w, Sensitive: map[string]bool{}}
}

// findings is what Check refused, as "VARIABLE field" strings.
func findings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	v, ok := guard.AsViolation(err)
	if !ok || !fail.Is(err, fail.Denied) {
		t.Fatalf("not a violation: %v", err)
	}
	var out []string
	for _, f := range v.Findings {
		out = append(out, f.Variable+" "+f.Field)
	}
	return out
}

func TestCheck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		vault := func(addr string, kv ...string) map[string]string {
			env := map[string]string{"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": addr, "TFC_VAULT_RUN_ROLE": "ws"}
			for i := 0; i+1 < len(kv); i += 2 {
				env[kv[i]] = kv[i+1]
			}
			return env
		}
		approle := func(addr string) map[string]string {
			return map[string]string{"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": addr, "TFC_VAULT_AUTH_TYPE": "approle"}
		}
		awsEnv := map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/tf-plan"}
		check := func(projectID string, env map[string]string) []string {
			return findings(t, f.g.Check(ctx, phase(t, "acme", projectID, env)))
		}
		expect := func(name string, got []string, want ...string) {
			t.Helper()
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s: findings %q, want %q", name, got, want)
			}
		}

		// Built in: runcred's own broker (however spelled) and the contract's audiences.
		expect("own broker", check("", vault(own)))
		expect("own broker, trailing slash", check("", vault(own+"/")))
		expect("aws default audience, any role", check("", awsEnv))
		expect("nothing asked", check("", map[string]string{"PLAIN": "x"}))
		// Closed by default: a foreign address, a chosen audience.
		expect("foreign vault", check("", vault("http://127.0.0.1:9")), "TFC_VAULT_ADDR vault-addresses")
		expect("approle on the own broker", check("", approle(own)))
		expect("approle to a foreign vault, where the secret ID would go", check("", approle("http://127.0.0.1:9")), "TFC_VAULT_ADDR vault-addresses")
		expect("chosen audience", check("", vault(own, "TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE", "other")),
			"TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE audiences")
		expect("manual audience", check("", map[string]string{"TFC_WORKLOAD_IDENTITY_AUDIENCE_X": "sts.example"}),
			"TFC_WORKLOAD_IDENTITY_AUDIENCE_X audiences")
		gcp := map[string]string{"TFC_GCP_PROVIDER_AUTH": "true", "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL": "a@b",
			"TFC_GCP_WORKLOAD_PROVIDER_NAME": "projects/1/locations/global/workloadIdentityPools/p/providers/q"}
		expect("gcp's derived audience names the flag", check("", gcp), "TFC_GCP_PROVIDER_AUTH audiences")

		// The organization's owner opens them.
		if _, err := f.g.SetOrganization(pt.As(pt.Root), "acme", guard.Allowlist{
			Audiences: []string{"sts.example", "//iam.googleapis.com/projects/1/*"}, VaultAddresses: []string{"http://127.0.0.1:9"}}); err != nil {
			t.Fatal(err)
		}
		expect("listed vault", check("", vault("http://127.0.0.1:9/")))
		expect("listed audience", check("", map[string]string{"TFC_WORKLOAD_IDENTITY_AUDIENCE_X": "sts.example"}))
		expect("audience pattern", check("", gcp))

		// A project's list adds to its organization's, for that project only.
		if _, err := f.g.SetProject(pt.As(pt.Root), f.project.ID, guard.Allowlist{VaultAddresses: []string{"https://payments-vault.example"},
			AWSRoleARNs: []string{"arn:aws:iam::1:role/tf-*"}, VaultRoles: []string{"payments-*"}, VaultAuthPaths: []string{"jwt"}}); err != nil {
			t.Fatal(err)
		}
		expect("project vault in its project", check(f.project.ID, vault("https://payments-vault.example", "TFC_VAULT_RUN_ROLE", "payments-plan")))
		expect("project vault elsewhere", check("", vault("https://payments-vault.example")), "TFC_VAULT_ADDR vault-addresses")
		// Narrowing lists: once set, only what they hold.
		expect("role outside the list", check(f.project.ID, vault(own)), "TFC_VAULT_RUN_ROLE vault-roles")
		expect("auth path outside the list", check(f.project.ID, vault(own, "TFC_VAULT_RUN_ROLE", "payments-x", "TFC_VAULT_AUTH_PATH", "jwt2")),
			"TFC_VAULT_AUTH_PATH vault-auth-paths")
		expect("approle names no role; its default auth path is not listed", check(f.project.ID, approle(own)), "TFC_VAULT_PROVIDER_AUTH vault-auth-paths")
		expect("role ARN in the list", check(f.project.ID, awsEnv))
		expect("role ARN outside the list", check(f.project.ID, map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_PLAN_ROLE_ARN": "arn:aws:iam::2:role/tf-plan"}),
			"TFC_AWS_PLAN_ROLE_ARN aws-role-arns")
		backed := vault(own, "TFC_VAULT_RUN_ROLE", "payments-x", "TFC_VAULT_BACKED_AWS_AUTH", "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE", "assumed_role",
			"TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "r", "TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN", "arn:aws:iam::3:role/admin")
		expect("vault-backed role ARN", check(f.project.ID, backed), "TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN aws-role-arns")

		// The message names the variable, its writer and the allowlist; a
		// sensitive value is not shown.
		p := phase(t, "acme", "", vault("http://10.0.0.1:8200"))
		p.Sensitive["TFC_VAULT_ADDR"] = true
		err := f.g.Check(ctx, p)
		msg := fail.Message(err)
		for _, want := range []string{"TFC_VAULT_ADDR", "team-Writers", "vault-addresses", own, "http://127.0.0.1:9", "no token was minted"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not name %q", msg, want)
			}
		}
		if strings.Contains(msg, "10.0.0.1") {
			t.Errorf("message shows a sensitive value: %q", msg)
		}

		// One audience at mint time.
		if err := f.g.CheckAudience(ctx, phase(t, "acme", "", nil), "sts.example", "x"); err != nil {
			t.Errorf("listed audience at mint: %v", err)
		}
		if got := findings(t, f.g.CheckAudience(ctx, phase(t, "acme", "", nil), "nope.example", "the request")); len(got) != 1 {
			t.Errorf("unlisted audience at mint: %q", got)
		}
		// An organization that cannot be read refuses; it never passes.
		if err := f.g.Check(ctx, phase(t, "gone", "", vault(own))); err == nil {
			t.Error("an unknown organization passed the guard")
		}
	})
}
