package cli

import (
	"context"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

// TestGuardSetShow: an owner (the root token) sets and clears lists; what
// the server holds is what show prints; a team token may read but not
// change them; bad entries are refused naming the list and entry.
func TestGuardSetShow(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	s.ok("workspace", "create", "demo/ws1", "--create-org")

	out := s.ok("guard", "set", "demo", "--vault-address", "https://Vault.Example:443/", "--vault-address", "http://10.0.0.5:8200",
		"--audience", "sts.amazonaws.com", "--aws-role-arn", "arn:aws:iam::111122223333:role/tf-*")
	for _, want := range []string{"Scope:             organization", "https://vault.example, http://10.0.0.5:8200", "sts.amazonaws.com (built in: aws.workload.identity",
		"arn:aws:iam::111122223333:role/tf-*", "Vault roles:       -", s.D.URL()} {
		if !strings.Contains(out, want) {
			t.Errorf("set printed no %q:\n%s", want, out)
		}
	}
	if show := s.ok("guard", "show", "demo"); show != out {
		t.Errorf("show printed\n%s\nset printed\n%s", show, out)
	}
	out = s.ok("guard", "set", "demo", "--clear", "audiences")
	if !strings.Contains(out, "Audiences:         - ") || !strings.Contains(out, "https://vault.example") {
		t.Errorf("after clearing audiences:\n%s", out)
	}

	prj, err := s.api().Projects.Create(ctx, "demo", tfe.ProjectCreateOptions{Name: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	out = s.ok("guard", "set", "demo", "--project", prj.ID, "--vault-role", "payments-*")
	if !strings.Contains(out, "Scope:             project") || !strings.Contains(out, "payments-*") || strings.Contains(out, "vault.example") {
		t.Errorf("project set printed:\n%s", out)
	}

	team, err := s.api().Teams.Create(ctx, "demo", tfe.TeamCreateOptions{Name: tfe.String("devs")})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := s.api().TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.as(tt.Token, "", "guard", "show", "demo"); r.code != 0 {
		t.Fatalf("a team reads: exit %d %s", r.code, r.stderr)
	}
	s.fails(tt.Token, 1, "not found", "guard", "set", "demo", "--vault-address", "http://evil.example")
	if show := s.ok("guard", "show", "demo"); strings.Contains(show, "evil.example") {
		t.Fatalf("a team changed the guard:\n%s", show)
	}
	s.fails(s.Token, 2, "vault-addresses[0]", "guard", "set", "demo", "--vault-address", "vault.example:8200")
	s.fails(s.Token, 2, "nothing to change", "guard", "set", "demo")
	s.fails(s.Token, 2, "not one of", "guard", "set", "demo", "--clear", "roles")
}
