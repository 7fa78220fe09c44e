// Package daemontest starts a whole runcred server in-process for tests: a
// fresh SQLite store and root key in a temporary directory, a listener on
// 127.0.0.1, and the root token it wrote.
package daemontest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/seal"
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
