package main

import (
	"crypto/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/peers/minio"
)

// TestCrashWithLiveLeases kills the server (SIGKILL, no shutdown) while AWS
// leases are live. The leases are in the database, so after a restart the
// expiry task revokes every one that expired meanwhile, and the audit chain
// still verifies.
func TestCrashWithLiveLeases(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	addr := freeAddr(t)
	env := []string{"RUNCRED_LISTEN_ADDR=" + addr}
	dev := startServer(t, addr, env, "dev", "--data-dir", dir)
	tok := readToken(t, filepath.Join(dir, "root-token"))

	m := minio.Start(t, minio.Options{Policies: map[string]string{"rw": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::crash-bucket/*"]}]}`}, Buckets: []string{"crash-bucket"}})
	password := rand.Text()
	m.AddUser(t, "broker", password, "rw")

	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = dev.url, 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	if err := c.Sys().Mount("aws", &vault.MountInput{Type: "aws", Config: vault.MountConfigInput{MaxLeaseTTL: "3s"}}); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"aws/config/root": {"access_key": "broker", "secret_key": password, "sts_endpoint": m.URL},
		"aws/roles/r":     {"credential_type": "assumed_role", "role_arns": "arn:aws:iam::123456789012:role/r", "default_sts_ttl": "900", "max_sts_ttl": "900"},
	} {
		if _, err := c.Logical().Write(path, data); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	var expired time.Time // by then, every lease has
	for i := 0; i < 3; i++ {
		sec, err := c.Logical().Read("aws/creds/r")
		if err != nil {
			t.Fatal(err)
		}
		if sec.LeaseDuration > 3 {
			t.Fatalf("lease_duration %d above the mount's max of 3s", sec.LeaseDuration)
		}
		ids = append(ids, sec.LeaseID)
		// Issued before the answer came, so it expires before this plus
		// its duration (whole seconds: one more covers the rounding).
		expired = time.Now().Add(time.Duration(sec.LeaseDuration+1) * time.Second)
	}
	if err := dev.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-dev.done
	time.Sleep(time.Until(expired)) // every lease expires while the server is down

	dev = startServer(t, addr, env, "dev", "--data-dir", dir)
	deadline := time.Now().Add(time.Minute)
	for {
		sec, err := c.Logical().List("sys/leases/lookup/aws/creds/r/")
		if err != nil {
			t.Fatal(err)
		}
		if sec == nil {
			break // empty list: every lease revoked
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases still present a minute after restart: %v", sec.Data["keys"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	cli := []string{"RUNCRED_ADDR=" + dev.url, "RUNCRED_TOKEN=" + tok}
	if out := ok(t, cli, "audit", "verify"); !strings.HasPrefix(out, "audit chain intact") {
		t.Fatalf("audit verify: %s", out)
	}
	// One record a line: "seq  time  type  body". Each lease id must stand
	// in a revoke record's body, not merely in the record that issued it.
	var revokes []string
	for _, line := range strings.Split(ok(t, cli, "audit", "tail", "-n", "200"), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[2] == "broker.lease.revoke" {
			revokes = append(revokes, line)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(revokes, func(r string) bool { return strings.Contains(r, `"lease_id":"`+id+`"`) }) {
			t.Fatalf("no broker.lease.revoke record names %s; revoke records: %q", id, revokes)
		}
	}
	dev.stop(t)
}
