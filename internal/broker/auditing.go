package broker

import (
	"context"
	"encoding/json"
	"maps"
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

// auditAuth and auditReq are built once per request and shared by its
// request and response records.
func (b *Broker) auditAuth(c *call) map[string]any {
	if c.entry == nil {
		return nil
	}
	if c.audAuth == nil {
		c.audAuth = b.auditAuthOf(c)
	}
	return c.audAuth
}

func (b *Broker) auditAuthOf(c *call) map[string]any {
	e := c.entry
	out := map[string]any{
		"client_token": b.audit.HMAC(c.req.Token), "accessor": b.hmac(e.Accessor), "display_name": e.DisplayName,
		"policies": e.Policies, "token_policies": e.Policies, "metadata": e.Meta, "num_uses": e.NumUses,
		"token_type": "service", "token_issue_time": e.CreatedAt.Format(time.RFC3339),
	}
	if !e.ExpiresAt.IsZero() {
		out["token_ttl"] = int64(e.ExpiresAt.Sub(e.CreatedAt) / time.Second)
	}
	return out
}

func (b *Broker) auditReq(c *call) map[string]any {
	if c.audReq == nil {
		c.audReq = b.auditReqOf(c)
	}
	return c.audReq
}

func (b *Broker) auditReqOf(c *call) map[string]any {
	r := map[string]any{
		"id": c.req.ID, "operation": string(c.op), "mount_point": c.m.Path, "mount_type": c.m.Type,
		"mount_accessor": c.m.Accessor, "path": c.req.Path, "remote_address": c.req.RemoteAddr.String(),
		"namespace": map[string]any{"id": "root"},
	}
	if len(c.req.Data) > 0 {
		r["data"] = b.hashed(c.req.Data, c.m.Config.AuditNonHMACReq)
	}
	if c.entry != nil {
		r["client_token"] = b.audit.HMAC(c.req.Token)
		r["client_token_accessor"] = b.hmac(c.entry.Accessor)
	}
	if len(c.req.Headers) > 0 {
		r["headers"] = c.req.Headers
	}
	return r
}

func (b *Broker) requestRecord(c *call) map[string]any {
	return map[string]any{"type": "request", "auth": b.auditAuth(c), "request": b.auditReq(c)}
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
	req := maps.Clone(b.auditReq(c))
	delete(req, "data")
	rec := map[string]any{"type": "request", "auth": b.auditAuth(c), "request": req, "error": fail.Message(cause)}
	// Only a refusal leaves: the record need not wait for the disk.
	if _, err := b.audit.AppendBefore(ctx, "broker.request", rec); err != nil {
		b.log.Error("audit: refused request not logged", "path", c.req.Path, "err", err)
	} else {
		b.devices.write(ctx, rec)
	}
	return cause
}

func (b *Broker) auditResponse(ctx context.Context, c *call, resp *Response, herr error) error {
	rec := map[string]any{"type": "response", "auth": b.auditAuth(c), "request": b.auditReq(c)}
	if herr != nil {
		rec["error"] = fail.Message(herr)
	}
	if resp != nil {
		r := map[string]any{"mount_point": c.m.Path, "mount_type": c.m.Type, "mount_accessor": c.m.Accessor}
		if resp.Data != nil {
			r["data"] = b.hashed(resp.Data, c.m.Config.AuditNonHMACResp)
		}
		if len(resp.Warnings) > 0 {
			r["warnings"] = resp.Warnings
		}
		if resp.LeaseID != "" {
			r["secret"] = map[string]any{"lease_id": resp.LeaseID}
		}
		if a := resp.Auth; a != nil {
			r["auth"] = map[string]any{
				"client_token": b.audit.HMAC(a.ClientToken), "accessor": b.hmac(a.Accessor), "policies": a.Policies,
				"token_policies": a.TokenPolicies, "metadata": a.Metadata, "token_ttl": a.LeaseDuration, "token_type": a.TokenType,
			}
		}
		rec["response"] = r
	}
	var issue func(context.Context, *store.Tx) error
	if c.issue != nil && herr == nil {
		issue = func(ctx context.Context, tx *store.Tx) error {
			c.issueErr = c.issue(ctx, tx)
			return c.issueErr
		}
	}
	entries := []audit.Entry{{Type: "broker.response", Body: rec}}
	var reqRec map[string]any
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
func auditRecordJSON(now time.Time, rec map[string]any) []byte {
	out := make(map[string]any, len(rec)+1)
	for k, v := range rec {
		out[k] = v
	}
	out["time"] = now.UTC().Format(time.RFC3339Nano)
	line, _ := json.Marshal(out)
	return append(line, '\n')
}
