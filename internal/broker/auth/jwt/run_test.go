package jwt

import (
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
)

// TestRoleRefusesReservedMappings: a claim mapping may not target a key
// that names a run or a platform caller; the role write says which.
func TestRoleRefusesReservedMappings(t *testing.T) {
	e := newEnv(t)
	for _, dest := range append(append([]string{}, access.RunMeta...), access.ReservedMeta...) {
		r := ciRole()
		r["claim_mappings"] = map[string]any{"sub": dest}
		_, err := e.call("update", "role/forge", r)
		wantErr(t, err, fail.Invalid, `metadata key "`+dest+`" is reserved`)
		if got, _ := loadRole(t.Context(), e.st, "forge"); got != nil {
			t.Fatalf("role with a mapping to %s was stored", dest)
		}
	}
}

// TestLoginRunClaimsOfAnotherIssuer: a mount may trust any issuer, but
// only runcred's own may name a run. Another issuer's token carrying a run
// claim is refused, naming the claim; without run claims it logs in and
// its token names no run.
func TestLoginRunClaimsOfAnotherIssuer(t *testing.T) {
	e := newEnv(t)
	own := e.b.own.(*ownKeys)
	stranger := newIDP(t, rsaSigner) // the mount's keys, another issuer's keyring
	e.b.own = &ownKeys{idp: stranger}

	for _, k := range access.RunMeta {
		c := e.claims()
		for _, other := range access.RunMeta {
			if other != k {
				delete(c, other)
			}
		}
		r := ciRole()
		r["user_claim"] = "sub"
		e.write(t, "role/ci", r)
		_, err := e.login(t, rsaSigner.sign(t, c))
		wantErr(t, err, fail.Invalid, `claim "`+k+`" is reserved`)
	}
	if own.calls.Load() != 0 {
		t.Fatal("the test's own issuer was asked; the stranger should have been")
	}

	c := e.claims()
	for _, k := range access.RunMeta {
		delete(c, k)
	}
	auth, err := e.login(t, rsaSigner.sign(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if auth.RunAttested || auth.Metadata["terraform_run_id"] != "" {
		t.Fatalf("a login without run claims names a run: %+v", auth)
	}

	// No own issuer wired at all: nothing names a run.
	e.b.own = nil
	_, err = e.login(t, rsaSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, `claim "terraform_run_id" is reserved`)
}

// TestLoginOwnIssuerKeyOnly: a token that names runcred's issuer in iss but
// is signed with a key only the mount trusts (not one of the issuer's) is
// not runcred's.
func TestLoginOwnIssuerKeyOnly(t *testing.T) {
	e := newEnv(t)
	own := newIDP(t, ecSigner)
	own.srv.URL = e.idp.srv.URL // the same iss, another keyring
	e.b.own = &ownKeys{idp: own}
	_, err := e.login(t, rsaSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, `claim "terraform_run_id" is reserved`)
	if _, err := e.login(t, ecSigner.sign(t, e.claims())); err != nil {
		t.Fatalf("the issuer's own key: %v", err)
	}
}
