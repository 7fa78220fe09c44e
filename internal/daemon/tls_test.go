package daemon_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/localca"
	"github.com/runcred/runcred/internal/seal"
)

// TestHTTPS serves the whole API over TLS: the issuer URL is https, the
// official Vault client trusting only the local CA talks to the broker, and
// TLS 1.1 is refused.
func TestHTTPS(t *testing.T) {
	srv := daemontest.Start(t, daemontest.TLS(t))
	if !strings.HasPrefix(srv.D.URL(), "https://") || srv.D.PublicURL() != srv.D.URL() {
		t.Fatalf("URL %q, issuer %q: want both https and equal", srv.D.URL(), srv.D.PublicURL())
	}
	resp, err := srv.HTTPClient(t).Get(srv.D.URL() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"issuer":"`+srv.D.URL()+`"`) {
		t.Fatalf("discovery over TLS: %d %s", resp.StatusCode, body)
	}

	cfg := vault.DefaultConfig()
	cfg.Address = srv.D.URL()
	if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: srv.CAFile()}); err != nil {
		t.Fatal(err)
	}
	vc, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(srv.Token)
	if _, err := vc.Logical().Write("sys/mounts/kv", map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.KVv2("kv").Put(context.Background(), "a", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}

	old := &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true} //nolint:gosec // checking that the server refuses it
	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.D.URL(), "https://"), old)
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// TestPlainHTTPToTheTLSPort gets an answer that says what went wrong rather
// than a dropped connection.
func TestPlainHTTPToTheTLSPort(t *testing.T) {
	srv := daemontest.Start(t, daemontest.TLS(t))
	resp, err := http.Get("http://" + strings.TrimPrefix(srv.D.URL(), "https://") + "/v1/sys/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP to the TLS port: %d %q", resp.StatusCode, body)
	}
}

// TestCertificateRenewalWithoutRestart replaces the certificate and key
// files under a running server: new handshakes get the new certificate.
func TestCertificateRenewalWithoutRestart(t *testing.T) {
	srv := daemontest.Start(t, daemontest.TLS(t))
	addr := strings.TrimPrefix(srv.D.URL(), "https://")
	first := servedSerial(t, addr)

	// A fresh CA directory issues a different certificate; copy it over the
	// files the server reads, key first, as a renewal tool would.
	next, err := localca.Ensure(t.TempDir(), time.Now(), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	served := filepath.Join(srv.Dir, "tls")
	copyFile(t, next.Key, filepath.Join(served, "server-key.pem"))
	copyFile(t, next.Cert, filepath.Join(served, "server.pem"))
	want := fileSerial(t, next.Cert)
	if want == first {
		t.Fatal("the new certificate has the old serial")
	}
	// The server re-checks the files at most once a second: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for servedSerial(t, addr) != want {
		if time.Now().After(deadline) {
			t.Fatalf("still serving serial %s after the renewal, want %s", first, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHalfWrittenRenewalKeepsTheCurrentCertificate: a key that does not match
// the certificate (a renewal caught between its two writes) is not served;
// the previous pair stays in use.
func TestHalfWrittenRenewalKeepsTheCurrentCertificate(t *testing.T) {
	srv := daemontest.Start(t, daemontest.TLS(t))
	addr := strings.TrimPrefix(srv.D.URL(), "https://")
	first := servedSerial(t, addr)
	other, err := localca.Ensure(t.TempDir(), time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, other.Key, filepath.Join(srv.Dir, "tls", "server-key.pem"))
	// Handshakes across the re-check interval keep succeeding with the old pair.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := servedSerial(t, addr); got != first {
			t.Fatalf("serving %s after a mismatched key was written, want %s", got, first)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The rest of the renewal arrives: the new pair is picked up.
	copyFile(t, other.Cert, filepath.Join(srv.Dir, "tls", "server.pem"))
	want := fileSerial(t, other.Cert)
	for deadline := time.Now().Add(30 * time.Second); servedSerial(t, addr) != want; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the completed renewal was not picked up (serving %s, want %s)", servedSerial(t, addr), want)
		}
	}
}

func TestTLSConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := seal.GenerateRootKeyFile(filepath.Join(dir, "root-key")); err != nil {
		t.Fatal(err)
	}
	a, err := localca.Ensure(filepath.Join(dir, "a"), time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := localca.Ensure(filepath.Join(dir, "b"), time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	base := daemon.Config{Addr: "127.0.0.1:0", Database: filepath.Join(dir, "runcred.db"), RootKeyFile: filepath.Join(dir, "root-key"),
		Logger: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"key of another certificate", a.Cert, b.Key, "cannot be used together"},
		{"missing certificate", filepath.Join(dir, "nope.pem"), a.Key, "TLS certificate file"},
		{"missing key", a.Cert, filepath.Join(dir, "nope.pem"), "TLS key file"},
		{"certificate without key", a.Cert, "", "both a certificate file and a key file"},
		{"not PEM", a.Key, a.Key, "cannot be used together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.TLSCertFile, cfg.TLSKeyFile = tc.cert, tc.key
			d, err := daemon.New(context.Background(), cfg)
			if err == nil {
				d.Close()
				t.Fatal("the daemon started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "runcred.db")); err == nil {
		t.Fatal("a refused TLS configuration created the database")
	}
}

func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func fileSerial(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
