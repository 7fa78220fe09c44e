package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
)

// client talks to a runcred server's HTTP API.
type client struct {
	addr   string
	token  string
	caFile string // PEM CA bundle the server's certificate is checked against; "" for the system's
	http   *http.Client
}

// clientFlags adds --addr, --token and --ca-cert to cmd and returns a
// constructor that resolves them (flag, then RUNCRED_ADDR / RUNCRED_TOKEN /
// RUNCRED_TOKEN_FILE / RUNCRED_CACERT).
func clientFlags(cmd *cobra.Command, getenv env) func() (*client, error) {
	var addr, tok, ca string
	cmd.PersistentFlags().StringVar(&addr, "addr", "", "server address [RUNCRED_ADDR] (default http://127.0.0.1:8200)")
	cmd.PersistentFlags().StringVar(&tok, "token", "", "API token [RUNCRED_TOKEN, RUNCRED_TOKEN_FILE]")
	cmd.PersistentFlags().StringVar(&ca, "ca-cert", "", "PEM file of the CA that signed an https server's certificate, trusted instead of the system's CAs [RUNCRED_CACERT]")
	return func() (*client, error) {
		if addr == "" {
			addr = getenv("RUNCRED_ADDR")
		}
		if addr == "" {
			addr = "http://127.0.0.1:8200"
		}
		if tok == "" {
			tok = getenv("RUNCRED_TOKEN")
		}
		if tok == "" && getenv("RUNCRED_TOKEN_FILE") != "" {
			b, err := os.ReadFile(getenv("RUNCRED_TOKEN_FILE"))
			if err != nil {
				return nil, fail.Invalidf("RUNCRED_TOKEN_FILE: %s", err.Error())
			}
			tok = strings.TrimSpace(string(b))
		}
		if ca == "" {
			ca = getenv("RUNCRED_CACERT")
		}
		hc, err := httpClient(ca, 60*time.Second)
		if err != nil {
			return nil, err
		}
		return &client{addr: strings.TrimRight(addr, "/"), token: tok, caFile: ca, http: hc}, nil
	}
}

// httpClient returns a client with timeout that trusts only the CAs in the
// PEM file caFile, or the system's CAs when caFile is "". Like VAULT_CACERT
// and curl's --cacert, the file replaces the system's CAs rather than
// adding to them.
func httpClient(caFile string, timeout time.Duration) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: timeout}, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fail.Invalidf("--ca-cert (RUNCRED_CACERT): %s", err.Error())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fail.Invalidf("--ca-cert (RUNCRED_CACERT): %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

// APIError is an error response from the server.
type APIError struct {
	Status int
	Errors []string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", strings.Join(e.Errors, "; "), e.Status)
}

// do sends a JSON request and decodes a JSON response into out.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, body)
	if err != nil {
		return fail.Invalidf("server address %q: %s", c.addr, err.Error())
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("X-Vault-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach runcred at %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		apiErr := &APIError{Status: resp.StatusCode}
		var e struct{ Errors []string }
		if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
			apiErr.Errors = e.Errors
		} else {
			apiErr.Errors = []string{http.StatusText(resp.StatusCode)}
		}
		if resp.StatusCode == http.StatusBadRequest {
			return fail.Wrap(fail.Invalid, apiErr, apiErr.Error())
		}
		return apiErr
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
