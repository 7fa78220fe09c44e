package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestWorkspaceNamesIgnoreCase: as in HCP Terraform, WSA, wsa and wsA are
// one name within an organization, on create and on rename; another
// organization may use it.
func TestWorkspaceNamesIgnoreCase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		mustOrg(t, ctx, c, "zeta")
		if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("WSA")}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"wsa", "wsA", "WSA"} {
			if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String(name)}); err == nil {
				t.Errorf("created %s beside WSA", name)
			}
			code, body := sendRaw(t, "POST", e.url+"/api/v2/organizations/acme/workspaces", "root-token",
				`{"data":{"type":"workspaces","attributes":{"name":"`+name+`"}}}`)
			if code != 409 || !strings.Contains(body, "ignoring case") {
				t.Errorf("create %s = %d %s, want 409", name, code, body)
			}
		}
		other, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("other")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Workspaces.UpdateByID(ctx, other.ID, tfe.WorkspaceUpdateOptions{Name: tfe.String("Wsa")}); err == nil {
			t.Error("renamed other to Wsa beside WSA")
		}
		if _, err := c.Workspaces.Create(ctx, "zeta", tfe.WorkspaceCreateOptions{Name: tfe.String("wsa")}); err != nil {
			t.Errorf("wsa in another organization: %v", err)
		}
		list, err := c.Workspaces.List(ctx, "acme", nil)
		if err != nil || len(list.Items) != 2 {
			t.Errorf("acme has %d workspaces, %v; want WSA and other", len(list.Items), err)
		}
	})
}

// TestPhaseTimeoutAttribute: runcred-phase-timeout (seconds) is set on
// create and update, read back, and bounded; 0 clears it.
func TestPhaseTimeoutAttribute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		code, body := sendRaw(t, "POST", e.url+"/api/v2/organizations/acme/workspaces", "root-token",
			`{"data":{"type":"workspaces","attributes":{"name":"web","runcred-phase-timeout":600}}}`)
		if code != 201 {
			t.Fatalf("create = %d %s", code, body)
		}
		url := e.url + "/api/v2/organizations/acme/workspaces/web"
		if got := rawAttributes(t, url)["runcred-phase-timeout"]; got != 600.0 {
			t.Errorf("runcred-phase-timeout = %v, want 600", got)
		}
		for _, bad := range []string{"30", "10801", "-1", "1e12", `"1h"`} {
			code, body := sendRaw(t, "PATCH", url, "root-token", `{"data":{"type":"workspaces","attributes":{"runcred-phase-timeout":`+bad+`}}}`)
			if code != 422 && code != 400 {
				t.Errorf("timeout %s = %d %s, want refused", bad, code, body)
			}
		}
		if got := rawAttributes(t, url)["runcred-phase-timeout"]; got != 600.0 {
			t.Errorf("after refusals: %v, want 600", got)
		}
		for _, ok := range []float64{10800, 0} {
			b, _ := json.Marshal(ok)
			if code, body := sendRaw(t, "PATCH", url, "root-token", `{"data":{"type":"workspaces","attributes":{"runcred-phase-timeout":`+string(b)+`}}}`); code != 200 {
				t.Fatalf("timeout %v = %d %s", ok, code, body)
			}
			if got := rawAttributes(t, url)["runcred-phase-timeout"]; got != ok {
				t.Errorf("runcred-phase-timeout = %v, want %v", got, ok)
			}
		}
	})
}

// TestRunEnvironmentRefused: the variables that re-point the toolchain are
// refused with a 422 naming the key, through go-tfe and the raw API, for
// workspace and variable-set variables.
func TestRunEnvironmentRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("web")})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := c.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("shared"), Global: tfe.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range [][2]string{{"TF_CLI_ARGS_plan", "-var-file=/etc/passwd"}, {"TF_LOG_PATH", "/tmp/x"}} {
			key, value := kv[0], kv[1]
			if _, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String(key), Value: tfe.String(value), Category: tfe.Category(tfe.CategoryEnv)}); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("go-tfe create %s: %v", key, err)
			}
			if _, err := c.VariableSetVariables.Create(ctx, vs.ID, &tfe.VariableSetVariableCreateOptions{Key: tfe.String(key), Value: tfe.String(value), Category: tfe.Category(tfe.CategoryEnv)}); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("go-tfe variable set create %s: %v", key, err)
			}
			code, body := sendRaw(t, "POST", e.url+"/api/v2/workspaces/"+ws.ID+"/vars", "root-token",
				`{"data":{"type":"vars","attributes":{"key":"`+key+`","value":"`+value+`","category":"env"}}}`)
			if code != 422 || !strings.Contains(body, key) || strings.Contains(body, value) {
				t.Errorf("POST %s = %d %s, want 422 naming the key and not the value", key, code, body)
			}
		}
		vars, err := c.Variables.List(ctx, ws.ID, nil)
		if err != nil || len(vars.Items) != 0 {
			t.Errorf("stored %d variables, %v", len(vars.Items), err)
		}
	})
}
