package agent_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

// countingListener accepts TCP connections on 127.0.0.1, counts them and
// closes them: where a run's token would go if nothing stopped it.
func countingListener(t *testing.T) (addr string, count *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	count = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			count.Add(1)
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String(), count
}

// api sends one /api/v2 request with token and decodes the answer's
// data.attributes into out (when not nil); it returns the status.
func (w *world) api(t *testing.T, token, method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, w.srv.D.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		var doc struct {
			Data struct {
				Attributes json.RawMessage `json:"attributes"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(doc.Data.Attributes, out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// allowVault puts addr on the organization's Vault address allowlist, as
// its owner, for tests that point a run at a Vault of their own.
func (w *world) allowVault(t *testing.T, addr string) {
	t.Helper()
	path := "/api/v2/organizations/" + w.org + "/runcred-credential-guard"
	if code := w.api(t, w.srv.Token, "PATCH", path, guardPatch(map[string]any{"vault-addresses": []string{addr}}), nil); code != http.StatusOK {
		t.Fatalf("allowing Vault %s: HTTP %d", addr, code)
	}
}

func guardPatch(attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "runcred-credential-guards", "attributes": attrs}}
}

// TestGuardRefusesForeignVaultAndAudience: a variable writer (a team
// token) points TFC_VAULT_ADDR at a listener of the test's and asks for a
// token of another audience. The run errors before planning, naming the
// variables, their writer and the allowlists; the listener receives
// nothing; no token is minted; the audit log names the attempt. Once an
// owner allows both, the same settings reach the listener: the guard, not
// chance, kept it away. A team cannot change the allowlist.
func TestGuardRefusesForeignVaultAndAudience(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	listener, conns := countingListener(t)

	team, err := w.tfe.Teams.Create(ctx, w.org, tfe.TeamCreateOptions{Name: tfe.String("writers")})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := w.tfe.TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := tfe.NewClient(&tfe.Config{Address: w.srv.D.URL(), Token: tt.Token, RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	ws := w.workspace(t, "guarded", false, nil)
	if _, err := w.tfe.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: team, Workspace: ws}); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": listener, "TFC_VAULT_RUN_ROLE": "any",
		"TFC_WORKLOAD_IDENTITY_AUDIENCE": "https://elsewhere.example",
	} {
		if _, err := writer.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String(k), Value: tfe.String(v), Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
			t.Fatalf("team writes %s: %v", k, err)
		}
	}
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunErrored)

	var attrs struct {
		ErrorMessage string `json:"error-message"`
	}
	if code := w.api(t, w.srv.Token, "GET", "/api/v2/runs/"+run.ID, nil, &attrs); code != http.StatusOK {
		t.Fatalf("read run: %d", code)
	}
	for _, want := range []string{"TFC_VAULT_ADDR", listener, "TFC_WORKLOAD_IDENTITY_AUDIENCE", "https://elsewhere.example",
		"vault-addresses", "audiences", team.ID, "no token was minted"} {
		if !strings.Contains(attrs.ErrorMessage, want) {
			t.Errorf("run error %q does not name %q", attrs.ErrorMessage, want)
		}
	}
	if logs := w.logs(t, run); strings.Contains(logs, "OpenTofu") || strings.Contains(logs, "Initializing") {
		t.Errorf("the refused phase ran OpenTofu:\n%s", logs)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the listener received %d connections", n)
	}
	recs, err := w.srv.D.Audit.Tail(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var refusals int
	for _, r := range recs {
		body := string(r.Body)
		if r.Type == "identity.mint" && strings.Contains(body, run.ID) {
			t.Errorf("a token was minted for the refused run: %s", body)
		}
		if r.Type == "platform.run.credential_guard.refuse" && strings.Contains(body, run.ID) {
			refusals++
			for _, want := range []string{`"variable":"TFC_VAULT_ADDR"`, `"variable":"TFC_WORKLOAD_IDENTITY_AUDIENCE"`, team.ID, listener} {
				if !strings.Contains(body, want) {
					t.Errorf("audit record %s does not name %s", body, want)
				}
			}
		}
	}
	if refusals == 0 {
		t.Fatal("no platform.run.credential_guard.refuse record names the run")
	}

	// Only an owner may widen the guard: the team's PATCH is refused and
	// changes nothing.
	path := "/api/v2/organizations/" + w.org + "/runcred-credential-guard"
	allow := guardPatch(map[string]any{"vault-addresses": []string{listener}, "audiences": []string{"https://elsewhere.example"}})
	if code := w.api(t, tt.Token, "PATCH", path, allow, nil); code != http.StatusNotFound {
		t.Fatalf("team PATCH: %d, want 404", code)
	}
	var list struct {
		Audiences      []string `json:"audiences"`
		VaultAddresses []string `json:"vault-addresses"`
	}
	if code := w.api(t, tt.Token, "GET", path, nil, &list); code != http.StatusOK || len(list.Audiences)+len(list.VaultAddresses) != 0 {
		t.Fatalf("after the team's PATCH: %d %+v", code, list)
	}
	if code := w.api(t, w.srv.Token, "PATCH", path, allow, &list); code != http.StatusOK || len(list.VaultAddresses) != 1 {
		t.Fatalf("owner PATCH: %d %+v", code, list)
	}
	// Now the run's settings pass the guard, and the agent logs in at the
	// listener (which is no Vault, so the run still errors).
	w.wait(t, w.start(t, ws).ID, tfe.RunErrored)
	if conns.Load() == 0 {
		t.Fatal("with the listener allowed, the agent never reached it: the guard test proves nothing")
	}
}
