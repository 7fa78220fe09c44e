package jobserver_test

import (
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

// TestMintOfUnlistedAudience: a job that asks for a token of an audience
// no allowlist holds gets a 403, no token is minted, the run ends errored
// naming the audience, and the refusal is audited; the same job token can
// mint nothing afterwards. A malformed audience is a 400 that ends nothing.
func TestMintOfUnlistedAudience(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	r := e.queue(t, "ws")
	_, ph := e.claim(t)
	if _, err := ph.Mint(ctx, "two words"); status(err) != http.StatusBadRequest {
		t.Fatalf("malformed audience: %v, want 400", err)
	}
	e.read(t, r.ID, tfe.RunPlanning)
	if _, err := ph.Mint(ctx, "unlisted.example"); status(err) != http.StatusForbidden || !strings.Contains(err.Error(), "unlisted.example") {
		t.Fatalf("unlisted audience: %v, want 403 naming it", err)
	}
	e.read(t, r.ID, tfe.RunErrored)
	if _, err := ph.Mint(ctx, "aws.example"); err == nil {
		t.Fatal("the refused phase's job token still mints")
	}
	recs, err := e.srv.D.Audit.Tail(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var refused bool
	for _, rec := range recs {
		body := string(rec.Body)
		if rec.Type == "identity.mint" && strings.Contains(body, r.ID) {
			t.Errorf("minted for the refused run: %s", body)
		}
		if rec.Type == "platform.run.credential_guard.refuse" && strings.Contains(body, r.ID) && strings.Contains(body, "unlisted.example") {
			refused = true
		}
	}
	if !refused {
		t.Error("no audit record of the refusal")
	}
}
