package agent_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon"
)

// copyTokenHook smuggles the phase's manual workload-identity token out
// of the sandboxed run through the log, ROT13'd past the redactor: what a
// run that wants to keep its token can do.
const copyTokenHook = `#!/bin/sh
[ -n "$COPY_TOKEN" ] && echo "copied-token: $(printf %s "$TFC_WORKLOAD_IDENTITY_TOKEN" | tr 'A-Za-z' 'N-ZA-Mn-za-m')"
exit 0
`

// rot13 undoes the hook's disguise.
func rot13(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return 'a' + (r-'a'+13)%26
		case r >= 'A' && r <= 'Z':
			return 'A' + (r-'A'+13)%26
		}
		return r
	}, s)
}

// TestCopiedPlanTokenRefusedAfterRun: a plan's workload-identity token,
// copied out of the run by a hook, lives 15 minutes (not an hour), and
// runcred's broker refuses it at JWT login once the plan has ended, though
// its exp has not passed. (TestVaultBackedAWSThroughBroker is the other
// half: the same login while the phase runs succeeds.)
func TestCopiedPlanTokenRefusedAfterRun(t *testing.T) {
	w := newWorld(t, map[string]string{"terraform-pre-plan": copyTokenHook}, nil)
	ctx := ctxT(t)
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = w.srv.D.URL(), 0
	root, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(w.srv.Token)
	if err := root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"auth/jwt/config": {"oidc_discovery_url": w.srv.D.PublicURL(), "bound_issuer": w.srv.D.PublicURL()},
		"auth/jwt/role/copied": {"role_type": "jwt", "bound_audiences": []string{"vault.workload.identity"},
			"user_claim": "terraform_full_workspace", "bound_claims_type": "glob",
			"bound_claims": map[string]any{"sub": "organization:demo:project:Default Project:workspace:copied:run_phase:*"}},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			t.Fatal(err)
		}
	}
	ws := w.workspace(t, "copied", false, map[string]string{
		"env:TFC_WORKLOAD_IDENTITY_AUDIENCE": "vault.workload.identity", "env:COPY_TOKEN": "1",
	})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)

	_, disguised, _ := strings.Cut(w.logs(t, run), "copied-token: ")
	disguised, _, _ = strings.Cut(disguised, "\n")
	raw := []byte(rot13(strings.TrimSpace(disguised)))
	if strings.Count(string(raw), ".") != 2 {
		t.Fatalf("the hook copied no token: %q", raw)
	}
	parts := strings.Split(string(raw), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Iat, Exp int64 }
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c.Exp-c.Iat != int64((15 * time.Minute).Seconds()) {
		t.Errorf("the plan token lives %d s, want 900", c.Exp-c.Iat)
	}
	if time.Unix(c.Exp, 0).Before(time.Now().Add(time.Minute)) {
		t.Fatalf("the token expires at %v: the refusal below would prove nothing", time.Unix(c.Exp, 0))
	}
	anon, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	anon.ClearToken()
	_, err = anon.Logical().WriteWithContext(ctx, "auth/jwt/login", map[string]any{"role": "copied", "jwt": string(raw)})
	if err == nil || !strings.Contains(err.Error(), "has ended") {
		t.Fatalf("login with the copied plan token after the plan: %v, want a refusal naming the ended phase", err)
	}
}

// waitForFreshTokenHook waits, up to its deadline, until the AWS token
// file holds another token than when the hook started, and fails the
// phase if it never does: a phase that outlives its token's lifetime.
const waitForFreshTokenHook = `#!/bin/sh
[ -n "$WAIT_FOR_FRESH_TOKEN" ] || exit 0
first=$(cat "$AWS_WEB_IDENTITY_TOKEN_FILE")
i=0
while [ "$(cat "$AWS_WEB_IDENTITY_TOKEN_FILE")" = "$first" ]; do
  i=$((i+1))
  [ $i -gt 300 ] && { echo "token never refreshed"; exit 1; }
  sleep 0.1
done
echo "token refreshed"
exit 0
`

// TestLongPhaseGetsFreshTokens: with 3 s phase tokens, a plan whose hook
// runs longer than that sees its token file rewritten with a fresh token
// (minted by the server for the running phase) while it runs.
func TestLongPhaseGetsFreshTokens(t *testing.T) {
	w := newWorldWith(t, map[string]string{"terraform-pre-plan": waitForFreshTokenHook},
		func(c *daemon.Config) { c.PhaseTokenTTL = 3 * time.Second }, nil)
	ws := w.workspace(t, "long", false, map[string]string{
		"env:TFC_AWS_PROVIDER_AUTH": "true", "env:TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::123456789012:role/long",
		"env:WAIT_FOR_FRESH_TOKEN": "1",
	})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	if logs := w.logs(t, run); !strings.Contains(logs, "token refreshed") {
		t.Fatalf("log:\n%s", logs)
	}
	recs, err := w.srv.D.Audit.Tail(ctxT(t), 1000)
	if err != nil {
		t.Fatal(err)
	}
	mints := 0
	for _, r := range recs {
		if r.Type == "identity.mint" && strings.Contains(string(r.Body), run.ID) {
			mints++
		}
	}
	if mints < 2 {
		t.Fatalf("%d tokens minted for the run, want the first and at least one refresh", mints)
	}
}
