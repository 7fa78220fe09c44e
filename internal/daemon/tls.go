package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certificate serves the server's TLS certificate and re-reads the
// certificate and key files when either changes, so a renewal needs no
// restart. A renewal that cannot be loaded (half-written files, a key that
// does not match) keeps the previous pair and is logged; it is retried on
// the next handshake after the files change again.
type certificate struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   fileStamp
	checked time.Time
	now     func() time.Time
}

// fileStamp identifies a version of the two files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// recheck bounds how often a handshake stats the files.
const recheck = time.Second

func loadCertificate(certFile, keyFile string, log *slog.Logger, now func() time.Time) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile, log: log, now: now}
	stamp, err := c.stat()
	if err != nil {
		return nil, err
	}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.stamp, c.checked = cert, stamp, now()
	return c, nil
}

func (c *certificate) stat() (fileStamp, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("TLS certificate file: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("TLS key file: %w", err)
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

func (c *certificate) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("reading the TLS certificate %s or key %s: %w", c.certFile, c.keyFile, err)
		}
		return nil, fmt.Errorf("the TLS certificate %s and key %s cannot be used together: %w", c.certFile, c.keyFile, err)
	}
	return &cert, nil
}

// get is tls.Config.GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checked) >= recheck || now.Before(c.checked) {
		c.checked = now
		c.reload()
	}
	return c.cert, nil
}

// reload reads the files again if they changed since the pair in use was read.
func (c *certificate) reload() {
	stamp, err := c.stat()
	if err != nil {
		c.log.Warn("keeping the current TLS certificate", "err", err)
		return
	}
	if stamp == c.stamp {
		return
	}
	cert, err := c.load()
	if err != nil {
		c.log.Warn("keeping the current TLS certificate", "err", err)
		return
	}
	c.cert, c.stamp = cert, stamp
	c.log.Info("loaded a renewed TLS certificate", "file", c.certFile)
}

// tlsConfig is the server's: TLS 1.2 and later, the certificate from c.
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
}
