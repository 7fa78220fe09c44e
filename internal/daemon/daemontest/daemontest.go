// Package daemontest starts a whole runcred server in-process for tests: a
// fresh store (SQLite, or each database storetest knows through Each) and
// root key in a temporary directory, a listener on 127.0.0.1, and the root
// token it wrote.
package daemontest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/localca"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store/storetest"
)

// Server is a started daemon.
type Server struct {
	D     *daemon.Daemon
	Token string // the root token
	Dir   string // holds runcred.db, root-key, root-token
}

// Start runs a daemon until t ends; tweak may change the configuration.
func Start(t testing.TB, tweak func(*daemon.Config)) *Server {
	t.Helper()
	dir := t.TempDir()
	if _, err := seal.GenerateRootKeyFile(filepath.Join(dir, "root-key")); err != nil {
		t.Fatal(err)
	}
	cfg := daemon.Config{
		Addr: "127.0.0.1:0", Database: filepath.Join(dir, "runcred.db"),
		RootKeyFile: filepath.Join(dir, "root-key"), RootTokenFile: filepath.Join(dir, "root-token"),
		DevRootToken: true, Logger: slog.New(slog.DiscardHandler),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := daemon.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		d.Close()
		if err := <-done; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	})
	tok, err := os.ReadFile(cfg.RootTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{D: d, Token: strings.TrimSpace(string(tok)), Dir: dir}
}

// TLS is a tweak that makes the daemon serve HTTPS with a certificate for
// 127.0.0.1 and localhost from a local CA kept in the daemon's directory
// (Server.CAFile).
func TLS(t testing.TB) func(*daemon.Config) {
	return func(c *daemon.Config) {
		t.Helper()
		f, err := localca.Ensure(filepath.Join(filepath.Dir(c.RootKeyFile), "tls"), time.Now(), "127.0.0.1", "localhost")
		if err != nil {
			t.Fatal(err)
		}
		c.TLSCertFile, c.TLSKeyFile = f.Cert, f.Key
	}
}

// CAFile is the PEM file of the CA the daemon's certificate chains to when
// it was started with TLS, and "" otherwise.
func (s *Server) CAFile() string {
	p := filepath.Join(s.Dir, "tls", "ca.pem")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// HTTPClient is a client for the daemon: it trusts the daemon's CA when it
// serves HTTPS.
func (s *Server) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	ca := s.CAFile()
	if ca == "" {
		return &http.Client{Timeout: time.Minute}
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", ca)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: time.Minute, Transport: tr}
}

// Starter starts a daemon as Start does, on a fresh database of one kind.
type Starter func(t *testing.T, tweak func(*daemon.Config)) *Server

// Each runs fn as a subtest once per database storetest.Backends lists
// (SQLite, and PostgreSQL when its test URL is set), with a Starter whose
// every daemon gets a fresh database of that kind.
func Each(t *testing.T, fn func(t *testing.T, start Starter)) {
	t.Helper()
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, func(t *testing.T, tweak func(*daemon.Config)) *Server {
				url := b.NewURL(t)
				srv := Start(t, func(c *daemon.Config) {
					c.Database = url
					if tweak != nil {
						tweak(c)
					}
				})
				if got := srv.D.DB().Dialect().String(); got != b.Name {
					t.Fatalf("the daemon runs on %s, want %s", got, b.Name)
				}
				return srv
			})
		})
	}
}
