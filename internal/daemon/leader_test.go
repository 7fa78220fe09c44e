package daemon_test

import (
	"path/filepath"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store/storetest"
)

// statusOf does what `vault status` does: sys/seal-status, then sys/leader,
// with the official client, over HTTPS when the daemon serves it.
func statusOf(t *testing.T, srv *daemontest.Server) (*vault.SealStatusResponse, *vault.LeaderResponse) {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = srv.D.URL(), 0
	if ca := srv.CAFile(); ca != "" {
		if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: ca}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken() // both are unauthenticated, as in Vault
	seal, err := c.Sys().SealStatus()
	if err != nil {
		t.Fatalf("seal-status: %v", err)
	}
	leader, err := c.Sys().Leader()
	if err != nil {
		t.Fatalf("leader: %v", err)
	}
	return seal, leader
}

// TestVaultStatus: one node on SQLite has no HA, as a Vault without HA
// storage answers; one node on PostgreSQL is active, at its address, since
// a start.
func TestVaultStatus(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) {
		before := time.Now().Add(-time.Second)
		srv := start(t, daemontest.TLS(t))
		st, l := statusOf(t, srv)
		if st.Sealed || !st.Initialized || st.Version == "" {
			t.Fatalf("seal-status = %+v", st)
		}
		postgres := srv.D.DB().Dialect().String() == "postgres"
		if l.HAEnabled != postgres || l.IsSelf != postgres || l.PerfStandby {
			t.Fatalf("leader on %s = %+v", srv.D.DB().Dialect(), l)
		}
		if !postgres {
			if l.LeaderAddress != "" || !l.ActiveTime.IsZero() {
				t.Fatalf("a node without HA names a leader: %+v", l)
			}
			return
		}
		if l.LeaderAddress != srv.D.PublicURL() || l.ActiveTime.Before(before) || l.ActiveTime.After(time.Now()) {
			t.Fatalf("leader = %+v; want this node (%s), active since its start", l, srv.D.PublicURL())
		}
	})
}

// TestVaultStatusNodes: several nodes on one PostgreSQL database each serve
// every request themselves, so each answers as the active node at its own
// address; none sends a client to another. (Two processes on one SQLite
// file are not a supported cluster, and say so: no HA.)
func TestVaultStatusNodes(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "root-key")
			if _, err := seal.GenerateRootKeyFile(key); err != nil {
				t.Fatal(err)
			}
			url := be.NewURL(t)
			ha := be.Name == "postgres"
			var addrs []string
			for i := range 2 {
				srv := daemontest.Start(t, func(c *daemon.Config) {
					c.Database, c.RootKeyFile, c.RootTokenFile = url, key, filepath.Join(dir, "root-token")
					c.DevRootToken = i == 0
				})
				_, l := statusOf(t, srv)
				if l.HAEnabled != ha || l.IsSelf != ha {
					t.Fatalf("node %d: leader = %+v, want ha_enabled and is_self %v", i, l, ha)
				}
				if ha && l.LeaderAddress != srv.D.PublicURL() {
					t.Fatalf("node %d: leader = %+v, want itself at %s", i, l, srv.D.PublicURL())
				}
				addrs = append(addrs, l.LeaderAddress)
			}
			if ha && addrs[0] == addrs[1] {
				t.Fatalf("both nodes answered %s", addrs[0])
			}
		})
	}
}
