package broker

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// Every request and response is appended to runcred's hash-chained audit
// log in Vault's audit record shape, with every string value in request and
// response data HMAC'd (numbers and booleans are kept, as in Vault). If the
// log cannot take the request record the request is refused; if it cannot
// take the response record the response, and any secret in it, is withheld.
// Records of concurrent requests are group-committed; a response leaves
// only once its record, and with it its request's, is on disk (the request
// record itself need not wait for the disk: nothing has left by then).
// Configured file devices get the same records as JSON lines, best effort.

func (b *Broker) hmac(s string) string { return b.audit.HMAC(secret.FromString(s)) }

// hashed returns v with every string replaced by its HMAC, except the
// values of keys in keep (at any depth).
func (b *Broker) hashed(v any, keep []string) any {
	switch x := v.(type) {
	case string:
		return b.hmac(x)
	case secret.Value:
		return b.audit.HMAC(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if slices.Contains(keep, k) {
				out[k] = e
				continue
			}
			out[k] = b.hashed(e, keep)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = b.hashed(e, keep)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = b.hashed(e, keep)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = b.hmac(e)
		}
		return out
	default:
		return v
	}
}

// A record in Vault's audit shape is built from the structs below rather
// than from maps: encoding/json renders a struct several times faster than
// a map of interfaces, and every request writes two records. Their fields
// are in the order of their JSON names, as a map's keys would be, and a
// field that a map would have left out is omitted when empty.

// auditRecord is a request or response record.
type auditRecord struct {
	Auth     *auditAuth     `json:"auth"` // null on unauthenticated paths
	Error    string         `json:"error,omitempty"`
	Request  *auditRequest  `json:"request"`
	Response *auditResponse `json:"response,omitempty"`
	Time     string         `json:"time,omitempty"` // file devices' lines only
	Type     string         `json:"type"`           // "request" or "response"
}

// auditAuth is the calling token.
type auditAuth struct {
	Accessor       string            `json:"accessor"`
	ClientToken    string            `json:"client_token"`
	DisplayName    string            `json:"display_name"`
	Metadata       map[string]string `json:"metadata"`
	NumUses        int               `json:"num_uses"`
	Policies       []string          `json:"policies"`
	TokenIssueTime string            `json:"token_issue_time"`
	TokenPolicies  []string          `json:"token_policies"`
	TokenTTL       *int64            `json:"token_ttl,omitempty"` // none for a token without expiry
	TokenType      string            `json:"token_type"`
}

// auditRequest is the request; its strings in data are HMAC'd.
type auditRequest struct {
	ClientToken         string            `json:"client_token,omitempty"`
	ClientTokenAccessor string            `json:"client_token_accessor,omitempty"`
	Data                any               `json:"data,omitempty"`
	Headers             map[string]string `json:"headers,omitempty"`
	ID                  string            `json:"id"`
	MountAccessor       string            `json:"mount_accessor"`
	MountPoint          string            `json:"mount_point"`
	MountType           string            `json:"mount_type"`
	Namespace           auditNamespace    `json:"namespace"`
	Operation           string            `json:"operation"`
	Path                string            `json:"path"`
	RemoteAddress       string            `json:"remote_address"`
}

type auditNamespace struct {
	ID string `json:"id"`
}

// auditResponse is the response; its strings in data are HMAC'd.
type auditResponse struct {
	Auth          *auditIssued `json:"auth,omitempty"`
	Data          any          `json:"data,omitempty"`
	MountAccessor string       `json:"mount_accessor"`
	MountPoint    string       `json:"mount_point"`
	MountType     string       `json:"mount_type"`
	Secret        *auditSecret `json:"secret,omitempty"`
	Warnings      []string     `json:"warnings,omitempty"`
}

// auditIssued is a token a response issues.
type auditIssued struct {
	Accessor      string            `json:"accessor"`
	ClientToken   string            `json:"client_token"`
	Metadata      map[string]string `json:"metadata"`
	Policies      []string          `json:"policies"`
	TokenPolicies []string          `json:"token_policies"`
	TokenTTL      int64             `json:"token_ttl"`
	TokenType     string            `json:"token_type"`
}

type auditSecret struct {
	LeaseID string `json:"lease_id"`
}

// auditAuth and auditReq are built once per request and shared by its
// request and response records.
func (b *Broker) auditAuth(c *call) *auditAuth {
	if c.entry == nil {
		return nil
	}
	if c.audAuth == nil {
		c.audAuth = b.auditAuthOf(c)
	}
	return c.audAuth
}

func (b *Broker) auditAuthOf(c *call) *auditAuth {
	e := c.entry
	a := &auditAuth{
		ClientToken: b.audit.HMAC(c.req.Token), Accessor: b.hmac(e.Accessor), DisplayName: e.DisplayName,
		Policies: e.Policies, TokenPolicies: e.Policies, Metadata: e.Meta, NumUses: e.NumUses,
		TokenType: "service", TokenIssueTime: e.CreatedAt.Format(time.RFC3339),
	}
	if !e.ExpiresAt.IsZero() {
		ttl := int64(e.ExpiresAt.Sub(e.CreatedAt) / time.Second)
		a.TokenTTL = &ttl
	}
	return a
}

func (b *Broker) auditReq(c *call) *auditRequest {
	if c.audReq == nil {
		c.audReq = b.auditReqOf(c)
	}
	return c.audReq
}

func (b *Broker) auditReqOf(c *call) *auditRequest {
	r := &auditRequest{
		ID: c.req.ID, Operation: string(c.op), MountPoint: c.m.Path, MountType: c.m.Type,
		MountAccessor: c.m.Accessor, Path: c.req.Path, RemoteAddress: c.req.RemoteAddr.String(),
		Namespace: auditNamespace{ID: "root"}, Headers: c.req.Headers,
	}
	if len(c.req.Data) > 0 {
		r.Data = b.hashed(c.req.Data, c.m.Config.AuditNonHMACReq)
	}
	if c.entry != nil {
		r.ClientToken = b.audit.HMAC(c.req.Token)
		r.ClientTokenAccessor = b.hmac(c.entry.Accessor)
	}
	return r
}

func (b *Broker) requestRecord(c *call) *auditRecord {
	return &auditRecord{Type: "request", Auth: b.auditAuth(c), Request: b.auditReq(c)}
}

// recordRequest writes c's request record now if it is still to be
// written: before the handler runs, or before a change the log must show.
// A request whose record the log refuses is refused.
func (b *Broker) recordRequest(ctx context.Context, c *call) error {
	if !c.requestPending {
		return nil
	}
	rec := b.requestRecord(c)
	if _, err := b.audit.AppendBefore(ctx, "broker.request", rec); err != nil {
		b.log.Error("audit: request not logged; refusing", "path", c.req.Path, "err", err)
		return fail.Wrap(fail.Internal, err, "failed to audit request, cannot continue")
	}
	b.devices.write(ctx, rec)
	c.requestPending = false
	return nil
}

// recordFirst is a mount's storage for a request whose record is still to
// be written: the first write (or transaction) writes the record first.
type recordFirst struct {
	engine.Storage
	mu     sync.Mutex
	record func() error
}

func (s *recordFirst) first() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.record()
}

func (s *recordFirst) Put(ctx context.Context, key string, value []byte) error {
	if err := s.first(); err != nil {
		return err
	}
	return s.Storage.Put(ctx, key, value)
}

func (s *recordFirst) Delete(ctx context.Context, key string) error {
	if err := s.first(); err != nil {
		return err
	}
	return s.Storage.Delete(ctx, key)
}

func (s *recordFirst) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	if err := s.first(); err != nil {
		return err
	}
	return s.Storage.Atomic(ctx, lock, fn)
}

// auditFailure records a request refused before it ran (bad token, denied
// by policy). The refusal stands whether or not the record is written. Its
// body is left out: a caller without a valid token must not be able to make
// the log store whatever it sends.
func (b *Broker) auditFailure(ctx context.Context, c *call, cause error) error {
	req := *b.auditReq(c)
	req.Data = nil
	rec := &auditRecord{Type: "request", Auth: b.auditAuth(c), Request: &req, Error: fail.Message(cause)}
	// Only a refusal leaves: the record need not wait for the disk.
	if _, err := b.audit.AppendBefore(ctx, "broker.request", rec); err != nil {
		b.log.Error("audit: refused request not logged", "path", c.req.Path, "err", err)
	} else {
		b.devices.write(ctx, rec)
	}
	return cause
}

func (b *Broker) auditResponse(ctx context.Context, c *call, resp *Response, herr error) error {
	rec := &auditRecord{Type: "response", Auth: b.auditAuth(c), Request: b.auditReq(c)}
	if herr != nil {
		rec.Error = fail.Message(herr)
	}
	if resp != nil {
		r := &auditResponse{MountPoint: c.m.Path, MountType: c.m.Type, MountAccessor: c.m.Accessor, Warnings: resp.Warnings}
		if resp.Data != nil {
			r.Data = b.hashed(resp.Data, c.m.Config.AuditNonHMACResp)
		}
		if resp.LeaseID != "" {
			r.Secret = &auditSecret{LeaseID: resp.LeaseID}
		}
		if a := resp.Auth; a != nil {
			r.Auth = &auditIssued{
				ClientToken: b.audit.HMAC(a.ClientToken), Accessor: b.hmac(a.Accessor), Policies: a.Policies,
				TokenPolicies: a.TokenPolicies, Metadata: a.Metadata, TokenTTL: a.LeaseDuration, TokenType: a.TokenType,
			}
		}
		rec.Response = r
	}
	var issue func(context.Context, *store.Tx) error
	if c.issue != nil && herr == nil {
		issue = func(ctx context.Context, tx *store.Tx) error {
			c.issueErr = c.issue(ctx, tx)
			return c.issueErr
		}
	}
	entries := []audit.Entry{{Type: "broker.response", Body: rec}}
	var reqRec *auditRecord
	if c.requestPending {
		reqRec = b.requestRecord(c)
		entries = append([]audit.Entry{{Type: "broker.request", Body: reqRec}}, entries...)
	}
	if _, err := b.audit.AppendAll(ctx, entries, issue); err != nil {
		return err
	}
	if reqRec != nil {
		b.devices.write(ctx, reqRec)
	}
	b.devices.write(ctx, rec)
	return nil
}

// auditRecordJSON renders a record as one line for file devices.
func auditRecordJSON(now time.Time, rec *auditRecord) []byte {
	withTime := *rec
	withTime.Time = now.UTC().Format(time.RFC3339Nano)
	line, _ := json.Marshal(&withTime)
	return append(line, '\n')
}
