package cli

import (
	"bytes"
	"context"
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
	addr  string
	token string
	http  *http.Client
}

// clientFlags adds --addr and --token to cmd and returns a constructor that
// resolves them (flag, then RUNCRED_ADDR / RUNCRED_TOKEN / RUNCRED_TOKEN_FILE).
func clientFlags(cmd *cobra.Command, getenv env) func() (*client, error) {
	var addr, tok string
	cmd.PersistentFlags().StringVar(&addr, "addr", "", "server address [RUNCRED_ADDR] (default http://127.0.0.1:8200)")
	cmd.PersistentFlags().StringVar(&tok, "token", "", "API token [RUNCRED_TOKEN, RUNCRED_TOKEN_FILE]")
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
		return &client{addr: strings.TrimRight(addr, "/"), token: tok, http: &http.Client{Timeout: 60 * time.Second}}, nil
	}
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
