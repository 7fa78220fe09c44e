package identity_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/jobapi"
)

// FuzzParseMintBody: arbitrary request bodies never panic, and whatever is
// accepted has exactly one non-empty audience.
func FuzzParseMintBody(f *testing.F) {
	f.Add([]byte(`{"organization":"o","project":"Default Project","workspace":"w","run_id":"run-1","phase":"plan","audience":"a","ttl":"15m"}`))
	f.Add([]byte(`{"audience":["a","b"]}`))
	f.Add([]byte(`{"ttl":1e99}`))
	f.Add([]byte(`{"audience":""}`))
	f.Add([]byte(`{"audience":"a,b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := identity.ParseMintBody(body)
		if err != nil {
			if !fail.Is(err, fail.Invalid) {
				t.Fatalf("refusal is not a 400: %v", err)
			}
			return
		}
		if r.TTL < 0 {
			t.Fatalf("negative ttl accepted: %v", r.TTL)
		}
		if r.Audience == "" || len(r.Audience) > identity.MaxAudienceLen ||
			strings.ContainsFunc(r.Audience, func(c rune) bool { return c == ',' || unicode.IsSpace(c) || unicode.IsControl(c) }) {
			t.Fatalf("accepted audience %q is not exactly one non-empty audience", r.Audience)
		}
	})
}

// FuzzSubjectSub: whenever names validate, the sub they make parses back to
// exactly those names, so no two subjects share a sub.
func FuzzSubjectSub(f *testing.F) {
	f.Add("acme", "Default Project", "prod", "plan")
	f.Add("a:b", "p", "w", "apply")
	f.Add("a", "p:workspace:x", "w", "plan")
	f.Fuzz(func(t *testing.T, org, project, workspace, phase string) {
		s := identity.Subject{Organization: org, Project: project, Workspace: workspace, RunID: "run-1", Phase: jobapi.Phase(phase)}
		if s.Validate() != nil {
			return
		}
		o, p, w, ph, err := identity.ParseSub(s.Sub())
		if err != nil || o != org || p != project || w != workspace || ph != jobapi.Phase(phase) {
			t.Fatalf("sub %q parsed back as %q %q %q %q (%v)", s.Sub(), o, p, w, ph, err)
		}
	})
}

// FuzzParseRotateBody: arbitrary bodies never panic, refusals are 400s, and
// only a body that says so forces a rotation.
func FuzzParseRotateBody(f *testing.F) {
	f.Add([]byte(``))
	f.Add([]byte(`{"force":true}`))
	f.Add([]byte(`{"force":"true"}`))
	f.Add([]byte(`{"force":true,"x":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := identity.ParseRotateBody(body)
		if err != nil {
			if !fail.Is(err, fail.Invalid) {
				t.Fatalf("refusal is not a 400: %v", err)
			}
			return
		}
		if b.Force && !strings.Contains(string(body), "true") {
			t.Fatalf("%q forces a rotation", body)
		}
	})
}
