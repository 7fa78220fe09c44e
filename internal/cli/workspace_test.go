package cli

import (
	"context"
	"strings"
	"testing"
)

func TestWorkspaceCreateListShow(t *testing.T) {
	s := startServer(t)

	// A missing organization is an error unless --create-org asks for it.
	s.fails(s.Token, 1, "organization demo not found", "workspace", "create", "demo/ws1")
	out := s.ok("workspace", "create", "demo/ws1", "--create-org", "--auto-apply",
		"--working-directory", "infra/prod", "--terraform-version", "1.9.0")
	if !strings.Contains(out, "Created organization demo") || !strings.Contains(out, "Created workspace demo/ws1 (ws-") {
		t.Fatalf("create printed:\n%s", out)
	}
	// --create-org with an existing organization just creates the workspace.
	if out := s.ok("workspace", "create", "demo/ws2", "--create-org"); strings.Contains(out, "Created organization") {
		t.Fatalf("create of a second workspace created the organization again:\n%s", out)
	}

	ws, err := s.api().Workspaces.Read(context.Background(), "demo", "ws1")
	if err != nil {
		t.Fatal(err)
	}
	if !ws.AutoApply || ws.WorkingDirectory != "infra/prod" || ws.TerraformVersion != "1.9.0" {
		t.Fatalf("server holds %+v", ws)
	}
	org, err := s.api().Organizations.Read(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if org.Email != "admin@demo.invalid" {
		t.Fatalf("organization email %q", org.Email)
	}

	out = s.ok("workspace", "list", "demo")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "ws1 ") || !strings.HasPrefix(lines[2], "ws2 ") || !strings.Contains(lines[1], ws.ID) {
		t.Fatalf("list printed:\n%s", out)
	}

	out = s.ok("workspace", "show", "demo/ws1")
	for _, want := range []string{"Workspace:", "demo/ws1", ws.ID, "Auto apply:         true", "infra/prod", "1.9.0", "Execution mode:     agent"} {
		if !strings.Contains(out, want) {
			t.Errorf("show does not print %q:\n%s", want, out)
		}
	}

	s.fails(s.Token, 1, "conflict", "workspace", "create", "demo/ws1")
	s.fails(s.Token, 1, "workspace demo/nope not found", "workspace", "show", "demo/nope")
	s.fails(s.Token, 1, "organization nope not found", "workspace", "list", "nope")
	s.fails(s.Token, 2, "is not ORG/NAME", "workspace", "show", "demo")
	s.fails(s.Token, 2, "is not ORG/NAME", "workspace", "create", "demo/a/b")
	s.fails(s.Token, 2, "workspace name", "workspace", "create", "demo/bad:name")
	s.fails(s.Token, 2, "organization name", "workspace", "list", "bad org")
	s.fails(s.Token, 2, "invalid attribute", "workspace", "create", "demo/ws3", "--working-directory", "../escape")
}

func TestWorkspaceLockUnlock(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/locked", "--create-org")
	if out := s.ok("workspace", "lock", "demo/locked", "--reason", "release"); out != "Locked workspace demo/locked\n" {
		t.Fatalf("lock: %q", out)
	}
	s.fails(s.Token, 1, "locked", "workspace", "lock", "demo/locked")
	if out := s.ok("workspace", "unlock", "demo/locked"); out != "Unlocked workspace demo/locked\n" {
		t.Fatalf("unlock: %q", out)
	}
	s.fails(s.Token, 1, "already unlocked", "workspace", "unlock", "demo/locked")
	s.ok("workspace", "lock", "demo/locked")
	s.ok("workspace", "unlock", "demo/locked", "--force")
	s.fails(s.Token, 2, "not ORG/NAME", "workspace", "lock", "demo")
}
