package api_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGoTFELifecycle drives the API with go-tfe, unchanged, on every backend.
func TestGoTFELifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)

		if got := c.RemoteAPIVersion(); got != wantAPIVersion {
			t.Errorf("RemoteAPIVersion = %q, want %q", got, wantAPIVersion)
		}

		// Organization, with its default project.
		org, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")})
		if err != nil {
			t.Fatalf("create org: %v", err)
		}
		if org.Name != "acme" || org.Email != "ops@acme.test" || !strings.HasPrefix(org.ExternalID, "org-") || org.CreatedAt.IsZero() {
			t.Errorf("created org = %+v", org)
		}
		if org.DefaultProject == nil || !strings.HasPrefix(org.DefaultProject.ID, "prj-") {
			t.Fatalf("default project = %+v", org.DefaultProject)
		}
		read, err := c.Organizations.Read(ctx, "acme")
		if err != nil || read.ExternalID != org.ExternalID || read.DefaultProject.ID != org.DefaultProject.ID {
			t.Fatalf("read org = %+v, %v", read, err)
		}
		if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("zeta"), Email: tfe.String("z@z.test")}); err != nil {
			t.Fatal(err)
		}
		orgs, err := c.Organizations.List(ctx, &tfe.OrganizationListOptions{ListOptions: tfe.ListOptions{PageSize: 1}})
		if err != nil || len(orgs.Items) != 1 || orgs.Items[0].Name != "acme" || orgs.TotalCount != 2 || orgs.TotalPages != 2 || orgs.NextPage != 2 {
			t.Fatalf("list orgs = %+v %+v, %v", orgs, orgs.Pagination, err)
		}

		def, err := c.Projects.Read(ctx, org.DefaultProject.ID)
		if err != nil || def.Name != organization.DefaultProjectName || def.Organization == nil || def.Organization.Name != "acme" {
			t.Fatalf("default project = %+v, %v", def, err)
		}
		team, err := c.Projects.Create(ctx, "acme", tfe.ProjectCreateOptions{Name: "Platform Team", Description: tfe.String("shared infra")})
		if err != nil || team.Name != "Platform Team" || team.Description != "shared infra" {
			t.Fatalf("create project = %+v, %v", team, err)
		}
		projects, err := c.Projects.List(ctx, "acme", nil)
		if err != nil || len(projects.Items) != 2 || projects.TotalCount != 2 {
			t.Fatalf("list projects = %+v, %v", projects, err)
		}

		// Workspaces.
		apool, err := c.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("net-agents")})
		if err != nil {
			t.Fatal(err)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{
			Name: tfe.String("net"), AutoApply: tfe.Bool(true), WorkingDirectory: tfe.String("infra/net"),
			ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(apool.ID), TerraformVersion: tfe.String("1.9.0"),
		})
		if err != nil {
			t.Fatalf("create workspace: %v", err)
		}
		if !strings.HasPrefix(ws.ID, "ws-") || len(ws.ID) != len("ws-")+16 || ws.Name != "net" || !ws.AutoApply ||
			ws.WorkingDirectory != "infra/net" || ws.ExecutionMode != "agent" || ws.TerraformVersion != "1.9.0" ||
			ws.AgentPool == nil || ws.AgentPool.ID != apool.ID || ws.Project == nil || ws.Project.ID != def.ID ||
			ws.Organization == nil || ws.Organization.Name != "acme" {
			t.Fatalf("created workspace = %+v", ws)
		}
		dns, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("dns"), Project: &tfe.Project{ID: team.ID}})
		if err != nil || dns.Project.ID != team.ID || dns.ExecutionMode != "agent" || dns.AutoApply {
			t.Fatalf("create workspace in project = %+v, %v", dns, err)
		}
		byName, err := c.Workspaces.Read(ctx, "acme", "net")
		if err != nil || byName.ID != ws.ID {
			t.Fatalf("read by name = %+v, %v", byName, err)
		}
		byID, err := c.Workspaces.ReadByID(ctx, ws.ID)
		if err != nil || byID.Name != "net" {
			t.Fatalf("read by id = %+v, %v", byID, err)
		}
		for _, tc := range []struct {
			opts *tfe.WorkspaceListOptions
			want []string
		}{
			{nil, []string{"dns", "net"}},
			{&tfe.WorkspaceListOptions{Search: "ne"}, []string{"net"}},
			{&tfe.WorkspaceListOptions{Search: "_"}, nil}, // '_' is matched literally, not as LIKE's wildcard
			{&tfe.WorkspaceListOptions{ProjectID: team.ID}, []string{"dns"}},
		} {
			l, err := c.Workspaces.List(ctx, "acme", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range l.Items {
				got = append(got, w.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") || l.TotalCount != len(tc.want) {
				t.Errorf("list %+v = %v (total %d), want %v", tc.opts, got, l.TotalCount, tc.want)
			}
		}

		// Variables.
		const secretValue = "s3cr3t-d0-not-leak-7f3a9c"
		region, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{
			Key: tfe.String("region"), Value: tfe.String("eu-west-1"), Category: tfe.Category(tfe.CategoryTerraform), Description: tfe.String("where"),
		})
		if err != nil || region.Value != "eu-west-1" || region.Sensitive || region.Workspace == nil || region.Workspace.ID != ws.ID || region.VersionID == "" {
			t.Fatalf("create terraform var = %+v, %v", region, err)
		}
		if _, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{
			Key: tfe.String("TF_LOG"), Value: tfe.String("info"), Category: tfe.Category(tfe.CategoryEnv),
		}); err != nil {
			t.Fatalf("create env var: %v", err)
		}
		sec, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{
			Key: tfe.String("secret_id"), Value: tfe.String(secretValue), Category: tfe.Category(tfe.CategoryTerraform),
			Sensitive: tfe.Bool(true), HCL: tfe.Bool(false),
		})
		if err != nil || sec.Value != "" || !sec.Sensitive {
			t.Fatalf("create sensitive var = %+v, %v", sec, err)
		}
		if got, err := c.Variables.Read(ctx, ws.ID, sec.ID); err != nil || got.Value != "" || !got.Sensitive || got.Key != "secret_id" {
			t.Fatalf("read sensitive var = %+v, %v", got, err)
		}
		list, err := c.Variables.List(ctx, ws.ID, nil)
		if err != nil || len(list.Items) != 3 {
			t.Fatalf("list vars = %+v, %v", list, err)
		}
		for _, v := range list.Items {
			if v.Sensitive && v.Value != "" || !v.Sensitive && v.Value == "" {
				t.Errorf("listed var %s value = %q (sensitive %v)", v.Key, v.Value, v.Sensitive)
			}
		}

		// Provenance is in the attributes go-tfe ignores.
		attrs := rawAttributes(t, e.url+"/api/v2/workspaces/"+ws.ID+"/vars/"+sec.ID)
		if attrs["written-by-kind"] != "user" || attrs["written-by-id"] != "acc-root" || attrs["managing-workspace-id"] != nil ||
			attrs["written-at"] == nil || attrs["value"] != "" {
			t.Errorf("provenance attributes = %v", attrs)
		}

		upd, err := c.Variables.Update(ctx, ws.ID, region.ID, tfe.VariableUpdateOptions{Value: tfe.String("us-east-2"), HCL: tfe.Bool(true)})
		if err != nil || upd.Value != "us-east-2" || !upd.HCL || upd.Description != "where" || upd.VersionID == region.VersionID {
			t.Fatalf("update var = %+v, %v", upd, err)
		}
		if u, err := c.Variables.Update(ctx, ws.ID, sec.ID, tfe.VariableUpdateOptions{Value: tfe.String(secretValue + "-1")}); err != nil || u.Value != "" || !u.Sensitive {
			t.Fatalf("update sensitive value = %+v, %v", u, err)
		}
		patchSensitive(t, e.url+"/api/v2/workspaces/"+ws.ID+"/vars/"+sec.ID, sec.ID, secretValue+"-2")
		if _, err := c.Variables.Update(ctx, ws.ID, sec.ID, tfe.VariableUpdateOptions{Sensitive: tfe.Bool(false)}); err == nil ||
			!strings.Contains(err.Error(), "cannot be made non-sensitive") {
			t.Errorf("making a sensitive var non-sensitive: %v", err)
		}

		// The run engine gets the values, sensitive ones included.
		runVars, err := e.svc.Variables.WorkspaceVariables(rootCtx(), ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, v := range runVars {
			got[v.Category+"/"+v.Key] = v.Value.RevealString()
		}
		want := map[string]string{"terraform/region": "us-east-2", "env/TF_LOG": "info", "terraform/secret_id": secretValue + "-2"}
		if len(got) != len(want) {
			t.Errorf("run variables = %v", got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("run variable %s = %q, want %q", k, got[k], v)
			}
		}

		// Workspace updates, by name and by id.
		renamed, err := c.Workspaces.Update(ctx, "acme", "net", tfe.WorkspaceUpdateOptions{Name: tfe.String("network"), AutoApply: tfe.Bool(false)})
		if err != nil || renamed.Name != "network" || renamed.AutoApply || renamed.WorkingDirectory != "infra/net" {
			t.Fatalf("update by name = %+v, %v", renamed, err)
		}
		moved, err := c.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{Project: &tfe.Project{ID: team.ID}, TerraformVersion: tfe.String("~> 1.9")})
		if err != nil || moved.Project.ID != team.ID || moved.TerraformVersion != "~> 1.9" {
			t.Fatalf("update by id = %+v, %v", moved, err)
		}
		if _, err := c.Workspaces.Read(ctx, "acme", "net"); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("old name after rename: %v", err)
		}

		// Deletes.
		if err := c.Variables.Delete(ctx, ws.ID, region.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Variables.Read(ctx, ws.ID, region.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted var: %v", err)
		}
		if err := c.Workspaces.Delete(ctx, "acme", "dns"); err != nil {
			t.Fatal(err)
		}
		if err := c.Workspaces.DeleteByID(ctx, ws.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Workspaces.ReadByID(ctx, ws.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted workspace: %v", err)
		}
		if _, err := c.Variables.List(ctx, ws.ID, nil); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("vars of deleted workspace: %v", err)
		}
		if err := c.Organizations.Delete(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Organizations.Read(ctx, "acme"); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted org: %v", err)
		}
		if _, err := c.Projects.Read(ctx, team.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read project of deleted org: %v", err)
		}
	})
}

const wantAPIVersion = "2.6"

// rawAttributes GETs a JSON:API resource as root and returns its attributes.
func rawAttributes(t *testing.T, url string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer root-token")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.api+json" {
		t.Fatalf("GET %s = %d %q: %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var doc struct {
		Data struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Data.Attributes
}
