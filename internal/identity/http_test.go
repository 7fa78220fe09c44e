package identity_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/respond"
	"github.com/runcred/runcred/internal/store/storetest"
)

// adminServer serves e's issuer with every request made as caller, as the
// daemon's authentication middleware would (no caller: none is set).
func adminServer(t *testing.T, e *env, caller *access.Caller) string {
	t.Helper()
	mux := http.NewServeMux()
	identity.Handlers{Issuer: e.iss, Log: slog.New(slog.DiscardHandler)}.Mount(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if caller != nil {
			r = r.WithContext(access.WithCaller(r.Context(), *caller))
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func call(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const mintBody = `{"organization":"my-org","project":"Default Project","workspace":"my-workspace","run_id":"run-1","phase":"plan","audience":"aws.workload.identity","ttl":"15m"}`

func TestHTTPMint(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)), newClock())
	url := adminServer(t, e, &access.Caller{Accessor: "op", Policies: []string{"root"}}) + "/api/runcred/v1/identity/mint"

	code, h, body := call(t, "POST", url, mintBody)
	if code != http.StatusOK || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("mint: %d %q %s", code, h.Get("Cache-Control"), body)
	}
	var got identity.MintResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Token == "" || got.JTI == "" || got.KeyID == "" || got.Audience != "aws.workload.identity" ||
		got.Subject != "organization:my-org:project:Default Project:workspace:my-workspace:run_phase:plan" ||
		got.IssuedAt != e.clock.Now().Unix() || got.ExpiresAt-got.IssuedAt != int64(15*time.Minute/time.Second) {
		t.Fatalf("mint response %+v", got)
	}
	if _, err := e.verifier(t, "aws.workload.identity").Verify(rootCtx, got.Token); err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}

	for name, c := range map[string]struct {
		body, msg string
	}{
		"empty audience": {strings.Replace(mintBody, `"aws.workload.identity"`, `""`, 1), "audience is required"},
		"bad subject":    {strings.Replace(mintBody, `"plan"`, `"destroy"`, 1), "phase"},
		"not json":       {"ttl=1h", "mint request is not valid JSON"},
		"too large":      {strings.Repeat(" ", respond.MaxBody+1), "request body is larger than"},
		"ttl over max":   {strings.Replace(mintBody, `"15m"`, `"3h"`, 1), "exceeds the maximum token lifetime"},
	} {
		code, _, body := call(t, "POST", url, c.body)
		if code != http.StatusBadRequest || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want 400 naming %q", name, code, body, c.msg)
		}
	}
}

// TestHTTPAdminRefusals: without a caller, or as one without the grant,
// mint, rotate and keys are refused, and a refused mint's body is not read.
func TestHTTPAdminRefusals(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)), newClock())
	for _, c := range []struct {
		caller *access.Caller
		want   int
	}{
		{nil, http.StatusUnauthorized},
		{&access.Caller{Accessor: "dev", Policies: []string{"default"}}, http.StatusForbidden},
	} {
		base := adminServer(t, e, c.caller)
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/api/runcred/v1/identity/mint", "not even json"},
			{"POST", "/api/runcred/v1/identity/rotate", ""},
			{"GET", "/api/runcred/v1/identity/keys", ""},
		} {
			code, _, body := call(t, r.method, base+r.path, r.body)
			if code != c.want || strings.Contains(body, "JSON") {
				t.Errorf("%s %s as %v: %d %s, want %d", r.method, r.path, c.caller, code, body, c.want)
			}
		}
	}
	if strings.Contains(auditTypes(t, e.audit), "identity.mint") {
		t.Error("a refused mint was audited as issued")
	}
}

// TestHTTPRotateAndKeys: rotation is refused until the next key has been
// published long enough, then promotes it; keys lists every state.
func TestHTTPRotateAndKeys(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)), newClock())
	base := adminServer(t, e, &access.Caller{Accessor: "op", Policies: []string{"root"}})
	if code, _, body := call(t, "POST", base+"/api/runcred/v1/identity/rotate", ""); code != http.StatusConflict {
		t.Fatalf("early rotation: %d %s", code, body)
	}
	e.clock.Add(testPolicy().PublishLead)
	code, _, body := call(t, "POST", base+"/api/runcred/v1/identity/rotate", "")
	var rot identity.RotateResult
	if code != http.StatusOK || json.Unmarshal([]byte(body), &rot) != nil || rot.Current == "" || rot.Next == "" || rot.Retired == "" {
		t.Fatalf("rotation: %d %s", code, body)
	}
	code, _, body = call(t, "GET", base+"/api/runcred/v1/identity/keys", "")
	var keys struct{ Keys []identity.KeyInfo }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &keys) != nil || len(keys.Keys) != 3 {
		t.Fatalf("keys: %d %s", code, body)
	}
	states := map[string]identity.KeyState{}
	for _, k := range keys.Keys {
		states[k.ID] = k.State
	}
	if states[rot.Current] != identity.Current || states[rot.Next] != identity.Next || states[rot.Retired] != identity.Retired {
		t.Fatalf("states %v after rotation %+v", states, rot)
	}
	// The JWKS may be cached for the publish lead less two refreshes.
	_, h, _ := call(t, "GET", base+"/.well-known/jwks", "")
	if got := h.Get("Cache-Control"); got != "public, max-age=598" {
		t.Fatalf("jwks Cache-Control %q", got)
	}
}
