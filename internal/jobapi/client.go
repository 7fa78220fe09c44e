package jobapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/secret"
)

// Client speaks the protocol for an agent.
type Client struct {
	// Server is runcred's base URL, e.g. "https://runcred.example".
	Server string
	HTTP   *http.Client
}

// Error is a refusal from the server. Gone reports that the phase is no
// longer the agent's to drive (canceled, or its job token revoked), which
// tells the agent to stop.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("runcred: %d %s", e.Status, e.Message) }

// Gone reports whether err says the phase was taken away from the agent.
func Gone(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// maxResponse bounds what the agent reads: inputs carry the configuration,
// state and saved plan.
const maxResponse = 1 << 30

func (c *Client) do(ctx context.Context, tok secret.Value, method, path, ctype string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Server, "/")+Prefix+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.RevealString())
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Errors []string `json:"errors"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			msg = strings.Join(e.Errors, "; ")
		}
		return resp.StatusCode, &Error{Status: resp.StatusCode, Message: msg}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("runcred: %s %s: bad response: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Claim claims the next job of pool with the agent token, waiting up to
// wait (whole seconds, at most MaxWait) for one; nil when there is none.
func (c *Client) Claim(ctx context.Context, agentToken secret.Value, pool string, wait time.Duration) (*Job, error) {
	if pool == "" {
		pool = DefaultPool
	}
	path := "/pools/" + url.PathEscape(pool) + "/jobs"
	if wait > 0 {
		path += "?wait=" + strconv.Itoa(int(wait/time.Second))
	}
	var j JobWire
	code, err := c.do(ctx, agentToken, "POST", path, "", nil, &j)
	if err != nil || code == http.StatusNoContent {
		return nil, err
	}
	j.Job.Token, j.Job.RunToken = secret.FromString(j.Token), secret.FromString(j.RunToken)
	return &j.Job, nil
}

// JobClient is a client bound to one job: its phase and job token.
type JobClient struct {
	c     *Client
	id    string
	token secret.Value
}

// For returns the client of job j.
func (c *Client) For(j *Job) *JobClient {
	return &JobClient{c: c, id: j.PhaseID, token: j.Token}
}

// Token is the job token, for the log redactor.
func (p *JobClient) Token() secret.Value { return p.token }

func (p *JobClient) do(ctx context.Context, method, sub, ctype string, body []byte, out any) error {
	_, err := p.c.do(ctx, p.token, method, "/jobs/"+p.id+sub, ctype, body, out)
	return err
}

func (p *JobClient) putJSON(ctx context.Context, sub string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return p.do(ctx, "POST", sub, "application/json", b, out)
}

// Status is the run's current status.
func (p *JobClient) Status(ctx context.Context) (Status, error) {
	var s Status
	err := p.do(ctx, "GET", "", "", nil, &s)
	return s, err
}

// Inputs downloads the phase's inputs.
func (p *JobClient) Inputs(ctx context.Context) (*Inputs, error) {
	var in Inputs
	if err := p.do(ctx, "GET", "/inputs", "", nil, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

// Mint mints the phase's workload-identity token for audience; it
// implements the agent's credential Minter.
func (p *JobClient) Mint(ctx context.Context, audience string) (secret.Value, error) {
	var m MintResponse
	if err := p.putJSON(ctx, "/identity", MintRequest{Audience: audience}, &m); err != nil {
		return secret.Value{}, err
	}
	return secret.FromString(m.Token), nil
}

// MintExpiring is Mint that also returns when the token expires, so the
// agent can fetch a fresh one before then.
func (p *JobClient) MintExpiring(ctx context.Context, audience string) (secret.Value, time.Time, error) {
	var m MintResponse
	if err := p.putJSON(ctx, "/identity", MintRequest{Audience: audience}, &m); err != nil {
		return secret.Value{}, time.Time{}, err
	}
	if m.ExpiresAt <= 0 {
		return secret.Value{}, time.Time{}, errors.New("runcred: the minted token has no expiry")
	}
	return secret.FromString(m.Token), time.Unix(m.ExpiresAt, 0), nil
}

// AppendLog sends the next chunk of the phase's log.
func (p *JobClient) AppendLog(ctx context.Context, chunk []byte) error {
	return p.do(ctx, "POST", "/logs", "application/octet-stream", chunk, nil)
}

// StorePlanFile, StorePlanJSON and StoreState upload what a phase produced.
func (p *JobClient) StorePlanFile(ctx context.Context, b []byte) error {
	return p.do(ctx, "PUT", "/plan-file", "application/octet-stream", b, nil)
}

func (p *JobClient) StorePlanJSON(ctx context.Context, b []byte) error {
	return p.do(ctx, "PUT", "/plan-json", "application/json", b, nil)
}

func (p *JobClient) StoreState(ctx context.Context, b []byte) error {
	return p.do(ctx, "PUT", "/state", "application/json", b, nil)
}

// Finish ends the phase.
func (p *JobClient) Finish(ctx context.Context, f Finish) error {
	return p.putJSON(ctx, "/finish", f, nil)
}
