package api_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGoTFERunTriggers drives run triggers with go-tfe: create, read, list
// both ways (with the workspaces included), delete; the refusals; and a
// triggered run's document naming its source.
func TestGoTFERunTriggers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		ws := map[string]*tfe.Workspace{}
		for _, name := range []string{"admin", "manager", "operator"} {
			w, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			ws[name] = w
		}

		rt, err := c.RunTriggers.Create(ctx, ws["manager"].ID, tfe.RunTriggerCreateOptions{Sourceable: ws["admin"]})
		if err != nil || !strings.HasPrefix(rt.ID, "rt-") || rt.WorkspaceName != "manager" || rt.SourceableName != "admin" || rt.CreatedAt.IsZero() ||
			rt.Workspace == nil || rt.Workspace.ID != ws["manager"].ID || rt.Sourceable == nil || rt.Sourceable.ID != ws["admin"].ID {
			t.Fatalf("create = %+v, %v", rt, err)
		}
		if got, err := c.RunTriggers.Read(ctx, rt.ID); err != nil || got.ID != rt.ID || got.Sourceable.ID != ws["admin"].ID || got.Workspace.ID != ws["manager"].ID {
			t.Fatalf("read = %+v, %v", got, err)
		}
		if _, err := c.RunTriggers.Create(ctx, ws["operator"].ID, tfe.RunTriggerCreateOptions{Sourceable: ws["manager"]}); err != nil {
			t.Fatal(err)
		}
		in, err := c.RunTriggers.List(ctx, ws["manager"].ID, &tfe.RunTriggerListOptions{RunTriggerType: tfe.RunTriggerInbound,
			Include: []tfe.RunTriggerIncludeOpt{tfe.RunTriggerWorkspace, tfe.RunTriggerSourceable}})
		if err != nil || len(in.Items) != 1 || in.TotalCount != 1 || in.Items[0].Sourceable.Name != "admin" || in.Items[0].Workspace.Name != "manager" {
			t.Fatalf("inbound = %+v, %v", in, err)
		}
		out, err := c.RunTriggers.List(ctx, ws["manager"].ID, &tfe.RunTriggerListOptions{RunTriggerType: tfe.RunTriggerOutbound})
		if err != nil || len(out.Items) != 1 || out.Items[0].WorkspaceName != "operator" {
			t.Fatalf("outbound = %+v, %v", out, err)
		}

		// Refusals: 422 naming what is wrong, 404 for what the caller cannot see.
		for _, r := range []struct {
			name     string
			ws       string
			source   *tfe.Workspace
			status   int
			contains string
		}{
			{"itself", ws["admin"].ID, ws["admin"], 422, "cannot trigger runs in itself"},
			{"a cycle", ws["admin"].ID, ws["operator"], 422, "cycle: operator → admin → manager → operator"},
			{"twice", ws["manager"].ID, ws["admin"], 422, "already triggers runs"},
			{"a missing source", ws["manager"].ID, &tfe.Workspace{ID: "ws-Missing1"}, 404, ""},
		} {
			_, err := c.RunTriggers.Create(ctx, r.ws, tfe.RunTriggerCreateOptions{Sourceable: r.source})
			if r.status == 404 && !errors.Is(err, tfe.ErrResourceNotFound) || r.status == 422 && (err == nil || !strings.Contains(err.Error(), r.contains)) {
				t.Errorf("%s: %v; want %d %q", r.name, err, r.status, r.contains)
			}
		}
		base := e.url + "/api/v2/workspaces/" + ws["operator"].ID + "/run-triggers"
		for _, r := range []struct {
			name, method, url, token, body string
			status                         int
			contains                       string
		}{
			{"no filter", "GET", base, "root-token", "", 422, "filter[run-trigger][type]"},
			{"a bad filter", "GET", base + "?filter[run-trigger][type]=sideways", "root-token", "", 422, "filter[run-trigger][type]"},
			{"a bad include", "GET", base + "?filter[run-trigger][type]=inbound&include=project", "root-token", "", 422, "include"},
			{"no sourceable", "POST", base, "root-token", `{"data":{"type":"run-triggers"}}`, 422, "sourceable"},
			{"an attribute", "POST", base, "root-token", `{"data":{"type":"run-triggers","attributes":{"workspace-name":"x"},` +
				`"relationships":{"sourceable":{"data":{"type":"workspaces","id":"` + ws["admin"].ID + `"}}}}}`, 422, "workspace-name"},
			{"another user's", "GET", base + "?filter[run-trigger][type]=inbound", "user-token", "", 404, ""},
			{"another user's create", "POST", base, "user-token", `{"data":{"type":"run-triggers","relationships":{"sourceable":{"data":{"type":"workspaces","id":"` +
				ws["admin"].ID + `"}}}}}`, 404, ""},
			{"another user's read", "GET", e.url + "/api/v2/run-triggers/" + rt.ID, "user-token", "", 404, ""},
			{"another user's delete", "DELETE", e.url + "/api/v2/run-triggers/" + rt.ID, "user-token", "", 404, ""},
		} {
			code, body := sendRaw(t, r.method, r.url, r.token, r.body)
			if code != r.status || !strings.Contains(body, r.contains) {
				t.Errorf("%s: %d %s; want %d %q", r.name, code, body, r.status, r.contains)
			}
		}

		// An apply in admin queues a run in manager that names its source.
		ag := agent{t, e.svc}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte("terraform {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"admin", "manager"} {
			cv, err := c.ConfigurationVersions.Create(ctx, ws[name].ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
				t.Fatal(err)
			}
		}
		src, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws["admin"]})
		if err != nil {
			t.Fatal(err)
		}
		ag.plan(src.ID, true)
		if err := c.Runs.Apply(ctx, src.ID, tfe.RunApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Runs.FinishPhase(rootCtx(), ag.claim(jobapi.Apply, src.ID), run.PhaseReport{}); err != nil {
			t.Fatal(err)
		}
		runs, err := c.Runs.List(ctx, ws["manager"].ID, nil)
		if err != nil || len(runs.Items) != 1 {
			t.Fatalf("manager's runs = %+v, %v", runs, err)
		}
		got := runs.Items[0]
		if got.Message != "Triggered by run "+src.ID+" in workspace admin" || got.Status != tfe.RunPlanQueued || got.AutoApply {
			t.Errorf("triggered run = %+v", got)
		}
		attrs := rawAttributes(t, e.url+"/api/v2/runs/"+got.ID)
		if attrs["source-run-id"] != src.ID || attrs["source-workspace-id"] != ws["admin"].ID || attrs["trigger-reason"] != "run-trigger" {
			t.Errorf("triggered run's attributes = %v", attrs)
		}
		if attrs := rawAttributes(t, e.url+"/api/v2/runs/"+src.ID); attrs["source-run-id"] != "" || attrs["trigger-reason"] != "manual" {
			t.Errorf("source run's attributes = %v", attrs)
		}

		if err := c.RunTriggers.Delete(ctx, rt.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RunTriggers.Read(ctx, rt.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted: %v", err)
		}
		if code, _ := sendRaw(t, "DELETE", e.url+"/api/v2/run-triggers/"+rt.ID, "root-token", ""); code != http.StatusNotFound {
			t.Errorf("delete twice = %d", code)
		}
	})
}
