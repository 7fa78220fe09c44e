package localca

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"
)

func TestEnsureReusesAndRenews(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f, err := Ensure(dir, now, "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca, cert := read(t, f.CA), read(t, f.Cert)
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, h := range []string{"localhost", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now}); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
	}
	if st, err := os.Stat(f.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v: want 0600", st.Mode(), err)
	}

	// A restart reuses both.
	if _, err := Ensure(dir, now.Add(time.Hour), "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if read(t, f.CA).SerialNumber.Cmp(ca.SerialNumber) != 0 || read(t, f.Cert).SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Fatal("a restart replaced a certificate that was still good")
	}
	// A new host: same CA, new server certificate.
	if _, err := Ensure(dir, now.Add(time.Hour), "localhost", "127.0.0.1", "runcred.internal"); err != nil {
		t.Fatal(err)
	}
	if read(t, f.CA).SerialNumber.Cmp(ca.SerialNumber) != 0 {
		t.Fatal("a new host replaced the CA")
	}
	renamed := read(t, f.Cert)
	if renamed.SerialNumber.Cmp(cert.SerialNumber) == 0 || renamed.VerifyHostname("runcred.internal") != nil {
		t.Fatal("the server certificate was not re-issued for the new host")
	}
	// Near expiry: re-issued, CA kept.
	late := now.Add(certLifetime - renewBefore + time.Hour)
	if _, err := Ensure(dir, late, "localhost"); err != nil {
		t.Fatal(err)
	}
	if read(t, f.Cert).SerialNumber.Cmp(renamed.SerialNumber) == 0 {
		t.Fatal("a certificate within renewBefore of expiry was kept")
	}
	if read(t, f.CA).SerialNumber.Cmp(ca.SerialNumber) != 0 {
		t.Fatal("renewing the server certificate replaced the CA")
	}
}

func TestEnsureNeedsAHost(t *testing.T) {
	if _, err := Ensure(t.TempDir(), time.Now()); err == nil {
		t.Fatal("no host accepted")
	}
}

func read(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pem.Decode(b)
	if p == nil {
		t.Fatalf("%s: not PEM", file)
	}
	c, err := x509.ParseCertificate(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
