package policyset_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/policyset"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

const policiesHCL = `policy "p" {
  query             = "data.terraform.policies.p.deny"
  enforcement_level = "mandatory"
}
`

// TestManagePolicies: who may manage policies and sets (fail closed: an
// organization member's read and list grants change nothing), what is
// refused (Sentinel, a missing query, foreign members), and that every
// edit gives a set a new revision.
func TestManagePolicies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		svc := f.Svc.PolicySets
		root := pt.As(pt.Root)
		q := "data.terraform.policies.p.deny"

		// An operator: read and list on the organization, as the team policy grants.
		f.Grants.Grant(resource.OrgPath("acme"), access.Read)
		f.Grants.Grant(policyset.SetsPath("acme"), access.Read, access.List)
		f.Grants.Grant(policyset.PoliciesPath("acme"), access.Read, access.List)
		op := pt.As(pt.User)
		if _, err := svc.CreatePolicy(op, "acme", policyset.PolicyOptions{Name: new("p"), Query: &q}); !fail.Is(err, fail.Denied) {
			t.Fatalf("operator creates a policy: %v", err)
		}
		if _, err := svc.Create(op, "acme", policyset.SetOptions{Name: new("s")}); !fail.Is(err, fail.Denied) {
			t.Fatalf("operator creates a set: %v", err)
		}

		for _, tc := range []struct {
			o    policyset.PolicyOptions
			want string
		}{
			{policyset.PolicyOptions{Name: new("s"), Kind: new("sentinel"), Query: &q}, "Sentinel"},
			{policyset.PolicyOptions{Name: new("s"), Kind: new("rego"), Query: &q}, "opa"},
			{policyset.PolicyOptions{Name: new("s")}, "query is required"},
			{policyset.PolicyOptions{Name: new("s"), Query: new("input.x")}, "reference into data"},
			{policyset.PolicyOptions{Name: new("s"), Query: &q, Level: new("soft-mandatory")}, "enforcement level"},
			{policyset.PolicyOptions{Name: new("a/b"), Query: &q}, "policy name"},
		} {
			if _, err := svc.CreatePolicy(root, "acme", tc.o); !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create policy %+v: %v, want invalid mentioning %q", tc.o, err, tc.want)
			}
		}
		if _, err := svc.Create(root, "acme", policyset.SetOptions{Name: new("s"), Kind: new("sentinel")}); !fail.Is(err, fail.Invalid) ||
			!strings.Contains(err.Error(), "Sentinel") {
			t.Fatalf("sentinel set: %v", err)
		}
		if ps, _, _ := svc.Policies(root, "acme", "", resource.Page{}); len(ps) != 0 {
			t.Fatalf("refused policies were stored: %+v", ps)
		}

		p, err := svc.CreatePolicy(root, "acme", policyset.PolicyOptions{Name: new("p"), Query: &q, Level: new("hard-mandatory")})
		if err != nil || p.Level != "hard-mandatory" {
			t.Fatalf("create policy = %+v, %v", p, err)
		}
		other, err := f.Svc.Workspaces.Create(root, "acme", workspace.Options{Name: new("elsewhere")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Create(root, "acme", policyset.SetOptions{Name: new("s"), PolicyIDs: []string{"pol-Nope1"}}); !fail.Is(err, fail.Invalid) {
			t.Fatalf("set with an unknown policy: %v", err)
		}
		set, err := svc.Create(root, "acme", policyset.SetOptions{Name: new("s"), PolicyIDs: []string{p.ID},
			Scope: map[string][]string{policyset.ScopeWorkspace: {f.Target.ID}}})
		if err != nil || set.Revision != 1 || len(set.PolicyIDs) != 1 {
			t.Fatalf("create set = %+v, %v", set, err)
		}
		if _, err := svc.Update(op, set.ID, policyset.SetOptions{Overridable: new(true)}); !fail.Is(err, fail.Denied) {
			t.Fatalf("operator updates a set: %v", err)
		}
		if err := svc.Relate(op, set.ID, policyset.ScopeWorkspaceExclusion, []string{f.Target.ID}, false); !fail.Is(err, fail.Denied) {
			t.Fatalf("operator excludes a workspace: %v", err)
		}
		if err := svc.Delete(op, set.ID); !fail.Is(err, fail.Denied) {
			t.Fatalf("operator deletes a set: %v", err)
		}

		// Every edit is a new revision.
		rev := set.Revision
		bumped := func(what string) {
			t.Helper()
			s, err := svc.Set(root, set.ID)
			if err != nil || s.Revision <= rev {
				t.Fatalf("after %s: revision %d, %v; want above %d", what, s.Revision, err, rev)
			}
			rev = s.Revision
		}
		if _, err := svc.Update(root, set.ID, policyset.SetOptions{Overridable: new(true)}); err != nil {
			t.Fatal(err)
		}
		bumped("update")
		if err := svc.UploadPolicy(root, p.ID, []byte("package terraform.policies.p\ndeny contains 1 if false\n")); err != nil {
			t.Fatal(err)
		}
		bumped("a policy's upload")
		param, err := svc.CreateParameter(root, set.ID, policyset.ParameterOptions{Key: new("token"), Value: new("s3cr3t-param"),
			Category: new("policy-set"), Sensitive: new(true)})
		if err != nil || param.Value != "" {
			t.Fatalf("create parameter = %+v, %v", param, err)
		}
		bumped("a parameter")
		if err := svc.Relate(root, set.ID, policyset.ScopeWorkspace, []string{other.ID}, false); err != nil {
			t.Fatal(err)
		}
		bumped("a workspace")

		// Parameters: sealed at rest, never shown, typed for policies.
		var raw []byte
		if err := db.QueryRow(context.Background(), `SELECT value FROM policy_set_params WHERE id = ?`, param.ID).Scan(&raw); err != nil ||
			bytes.Contains(raw, []byte("s3cr3t-param")) {
			t.Fatalf("parameter stored in the clear (%v)", err)
		}
		if ps, err := svc.Parameters(root, set.ID); err != nil || len(ps) != 1 || ps[0].Value != "" {
			t.Fatalf("parameters = %+v, %v", ps, err)
		}
		for _, bad := range []policyset.ParameterOptions{
			{Key: new("bad-key"), Value: new("1"), Category: new("policy-set")},
			{Key: new("k"), Value: new("1"), Category: new("terraform")},
			{Key: new("token"), Value: new("1"), Category: new("policy-set")}, // taken
		} {
			if _, err := svc.CreateParameter(root, set.ID, bad); err == nil {
				t.Errorf("parameter %+v accepted", bad)
			}
		}
		if _, err := svc.UpdateParameter(root, set.ID, param.ID, policyset.ParameterOptions{Sensitive: new(false)}); !fail.Is(err, fail.Invalid) {
			t.Fatalf("sensitive parameter made visible: %v", err)
		}

		// The run's view: the set applies to its workspaces, parameters revealed.
		sets, meta, err := policyset.NewDirectory(svc).Applicable(context.Background(), f.Target)
		if err != nil || len(sets) != 1 || meta[0].ID != set.ID || sets[0].Params["token"] != "s3cr3t-param" || !sets[0].Overridable {
			t.Fatalf("applicable = %+v, %v", sets, err)
		}
		if sets, _, err := policyset.NewDirectory(svc).Applicable(context.Background(), f.Mgr); err != nil || len(sets) != 0 {
			t.Fatalf("a set of other workspaces applies to the manager: %+v, %v", sets, err)
		}
		if err := svc.DeletePolicy(root, p.ID); err != nil {
			t.Fatal(err)
		}
		bumped("its policy's deletion")
		if sets, _, err := policyset.NewDirectory(svc).Applicable(context.Background(), f.Target); err != nil || len(sets) != 0 {
			t.Fatalf("a set without policies applies: %+v, %v", sets, err)
		}
	})
}

// TestScope: a global set applies to every workspace but the excluded ones
// and those of excluded projects; a project's set to its workspaces.
func TestScope(t *testing.T) {
	w := workspace.Workspace{ID: "ws-A", ProjectID: "prj-P"}
	for _, tc := range []struct {
		set  policyset.Set
		want bool
	}{
		{policyset.Set{Global: true}, true},
		{policyset.Set{}, false},
		{policyset.Set{Global: true, Scope: map[string][]string{policyset.ScopeWorkspaceExclusion: {"ws-A"}}}, false},
		{policyset.Set{Global: true, Scope: map[string][]string{policyset.ScopeProjectExclusion: {"prj-P"}}}, false},
		{policyset.Set{Scope: map[string][]string{policyset.ScopeProject: {"prj-P"}}}, true},
		{policyset.Set{Scope: map[string][]string{policyset.ScopeProject: {"prj-P"}, policyset.ScopeWorkspaceExclusion: {"ws-A"}}}, false},
		{policyset.Set{Scope: map[string][]string{policyset.ScopeWorkspace: {"ws-B"}}}, false},
		{policyset.Set{Scope: map[string][]string{policyset.ScopeWorkspace: {"ws-A"}}}, true},
	} {
		if got := tc.set.Applies(w); got != tc.want {
			t.Errorf("%+v applies = %v, want %v", tc.set, got, tc.want)
		}
	}
}

// TestUploadVersion: an upload that is not a policy set errors its version,
// naming why, and leaves the set as it was; a good one becomes the set's
// files; a version takes one upload; a forged token nothing.
func TestUploadVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		svc, root := f.Svc.PolicySets, pt.As(pt.Root)
		set, err := svc.Create(root, "acme", policyset.SetOptions{Name: new("up"), Global: new(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct {
			archive []byte
			want    string
		}{
			{[]byte("not a tar.gz"), "gzip"},
			{tarGz(t, map[string]string{"sentinel.hcl": "policy \"x\" {}"}), "Sentinel"},
			{tarGz(t, map[string]string{"p.rego": "package p"}), "policies.hcl"},
			{tarGz(t, map[string]string{"policies.hcl": `policy "p" {`}), "policies.hcl:1"},
			// Parses, does not compile: refused at upload, naming the call.
			{tarGz(t, map[string]string{"policies.hcl": policiesHCL,
				"p.rego": "package terraform.policies.p\ndeny contains r if { r := http.send({\"method\": \"GET\", \"url\": \"http://x\"}) }\n"}),
				"p.rego:2: rego_type_error: undefined function http.send"},
		} {
			v, err := svc.CreateVersion(root, set.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Upload(context.Background(), v.UploadToken, bad.archive); !fail.Is(err, fail.Invalid) {
				t.Fatalf("bad upload: %v", err)
			}
			if v, err = svc.Version(root, v.ID); err != nil || v.Status != policyset.VersionErrored || !strings.Contains(v.Error, bad.want) {
				t.Fatalf("bad upload's version = %+v, %v; want an error mentioning %q", v, err, bad.want)
			}
		}
		if s, _ := svc.Set(root, set.ID); s.Revision != set.Revision || s.CurrentVersionID != "" {
			t.Fatalf("bad uploads changed the set: %+v", s)
		}
		v, err := svc.CreateVersion(root, set.ID)
		if err != nil {
			t.Fatal(err)
		}
		good := tarGz(t, map[string]string{"policies.hcl": policiesHCL, "policies/p.rego": "package terraform.policies.p\ndeny contains \"no\" if true\n"})
		if err := svc.Upload(context.Background(), v.UploadToken, good); err != nil {
			t.Fatal(err)
		}
		if err := svc.Upload(context.Background(), v.UploadToken, good); !fail.Is(err, fail.Conflict) {
			t.Fatalf("second upload: %v", err)
		}
		if err := svc.Upload(context.Background(), "forged", good); !fail.Is(err, fail.NotFound) {
			t.Fatalf("forged token: %v", err)
		}
		s, err := svc.Set(root, set.ID)
		if err != nil || s.CurrentVersionID != v.ID || s.Revision <= set.Revision {
			t.Fatalf("set after upload = %+v, %v", s, err)
		}
		sets, _, err := policyset.NewDirectory(svc).Applicable(context.Background(), f.Target)
		if err != nil || len(sets) != 1 || len(sets[0].Policies) != 1 || sets[0].Policies[0].Name != "p" || len(sets[0].Modules) != 1 {
			t.Fatalf("applicable after upload = %+v, %v", sets, err)
		}
	})
}
