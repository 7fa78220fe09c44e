package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

func TestMountsRotate(t *testing.T) {
	s := startServer(t)
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = s.D.URL(), 0
	vc, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(s.Token)
	if err := vc.Sys().Mount("secret-ab12cd34", &vault.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.KVv2("secret-ab12cd34").Put(context.Background(), "app", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := vc.Sys().PutPolicy("reader", `path "secret-ab12cd34/data/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}

	out := s.ok("mounts", "rotate", "secret-ab12cd34")
	m := regexp.MustCompile(`^secret-ab12cd34/ -> (secret-[a-z0-9]{8})/  \((rot-[a-z0-9]+), done\)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "storage entries copied: 2") || !strings.Contains(out, "policies rewritten: reader") ||
		!strings.Contains(out, "variables rewritten: none") || !strings.Contains(out, "leases revoked: 0") {
		t.Fatalf("rotate printed:\n%s", out)
	}
	if out := s.ok("mounts", "rotations", m[1]); !strings.Contains(out, m[2]) || !strings.Contains(out, "secret-ab12cd34/ -> "+m[1]+"/  done") {
		t.Fatalf("rotations printed:\n%s", out)
	}
	if out := s.ok("mounts", "schedule", m[1]); !strings.Contains(out, "is not rotated on a schedule") {
		t.Fatalf("schedule printed:\n%s", out)
	}
	if out := s.ok("mounts", "schedule", m[1], "720h"); !strings.Contains(out, m[1]+"/ rotates every 720h0m0s; next at ") {
		t.Fatalf("schedule set printed:\n%s", out)
	}
	s.fails(s.Token, 1, "no mount at", "mounts", "rotate", "secret-ab12cd34")
	s.fails(s.Token, 2, "period", "mounts", "schedule", m[1], "soon")
	s.fails(s.Token, 2, "accepts 1 arg", "mounts", "rotate")
	s.fails("", 1, "missing client token", "mounts", "rotate", m[1])
}
