package broker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/broker/acl"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/token"
)

// Request is one transport-free call to the broker.
type Request struct {
	ID         string
	Operation  engine.Operation // the HTTP layer sends Update for PUT/POST; the core decides create vs update
	Path       string           // after /v1/, e.g. "secret/data/app"
	Data       map[string]any
	Token      secret.Value
	RemoteAddr netip.Addr
	Headers    map[string]string // the few request headers that are audited
}

// Response is what the broker answers; the HTTP layer renders Vault's envelope.
type Response struct {
	Status        int // 0: 200, or 204 when there is nothing to send
	Data          map[string]any
	Warnings      []string
	Auth          *AuthBlock
	LeaseID       string
	LeaseDuration int64
	Renewable     bool
	// Raw is sent as the whole body, without the envelope (sys/health,
	// sys/seal-status, sys/remount status).
	Raw any
	// sys marks a response on a sys/ path, whose data keys Vault also copies
	// to the top level of the JSON.
	sys bool
}

// AuthBlock is Vault's "auth" object.
type AuthBlock struct {
	ClientToken    secret.Value      `json:"client_token"`
	Accessor       string            `json:"accessor"`
	Policies       []string          `json:"policies"`
	TokenPolicies  []string          `json:"token_policies"`
	Metadata       map[string]string `json:"metadata"`
	LeaseDuration  int64             `json:"lease_duration"`
	Renewable      bool              `json:"renewable"`
	EntityID       string            `json:"entity_id"`
	TokenType      string            `json:"token_type"`
	Orphan         bool              `json:"orphan"`
	MFARequirement any               `json:"mfa_requirement"`
	NumUses        int               `json:"num_uses"`
}

// call is a request on its way through the pipeline.
type call struct {
	req   *Request
	m     *mount
	rest  string // path relative to the mount
	op    engine.Operation
	entry *token.Entry // nil on unauthenticated paths
	acl   *acl.ACL     // nil for root and unauthenticated
	path  engine.Path  // what the matched route asks of the call
	// audAuth and audReq are the audit record's auth and request parts,
	// built once and shared by the request and response records.
	audAuth *auditAuth
	audReq  *auditRequest
	// issue stores what a successful response issues (its token), in the
	// transaction of the response's audit record; nil when it issues none.
	issue func(context.Context, *store.Tx) error
	// issueErr is issue's error when the record was refused because of it.
	issueErr error
	// requestPending: the request's record is still to be written (see
	// recordRequest).
	requestPending bool
}

func (c *call) engineRequest(st engine.Storage) *engine.Request {
	r := &engine.Request{Operation: c.op, Path: c.rest, MountPath: c.m.Path, Data: c.req.Data, RemoteAddr: c.req.RemoteAddr, Storage: st}
	if c.entry != nil {
		r.Token = &engine.Token{Accessor: c.entry.Accessor, DisplayName: c.entry.DisplayName, Policies: c.entry.Policies, Meta: c.entry.Meta}
	}
	return r
}

var errPermissionDenied = fail.Deniedf("permission denied")

// Handle runs one request through the pipeline.
func (b *Broker) Handle(ctx context.Context, req *Request) (*Response, error) {
	c, r, err := b.resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	if c.path.Unaudited {
		return r.serve(ctx, c) // health and seal-status: no token, no audit
	}
	if !c.path.Unauthenticated {
		if err := b.authenticate(ctx, c); err != nil {
			return nil, b.auditFailure(ctx, c, err)
		}
	}
	if err := b.existence(ctx, c); err != nil {
		return nil, err
	}
	if err := b.authorize(ctx, c); err != nil {
		return nil, b.auditFailure(ctx, c, err)
	}
	// On a StorageOnly path the request's record may wait for the first
	// change to storage, or go with the response's; a token's use limit
	// makes spending the use such a change.
	c.requestPending = true
	if !c.path.StorageOnly || (c.entry != nil && c.entry.NumUses != 0) {
		if err := b.recordRequest(ctx, c); err != nil {
			return nil, err
		}
	}
	if c.m.RotatingTo != "" && isWrite(c.op) {
		err := errRotating(c.m)
		if aerr := b.auditResponse(ctx, c, nil, err); aerr != nil {
			return nil, fail.Wrap(fail.Internal, aerr, "internal error")
		}
		return nil, err
	}
	if c.entry != nil {
		done, err := b.spend(ctx, *c.entry)
		if err != nil {
			if fail.Is(err, fail.Unauthenticated) {
				return nil, errPermissionDenied
			}
			return nil, err
		}
		defer done()
	}
	resp, herr := r.serve(ctx, c)
	if herr != nil {
		if err := b.auditResponse(ctx, c, nil, herr); err != nil {
			return nil, fail.Wrap(fail.Internal, err, "internal error")
		}
		return nil, herr
	}
	if err := b.auditResponse(ctx, c, resp, nil); err != nil {
		if c.issueErr != nil { // the token could not be stored: an error response, audited as such
			return nil, b.refuseIssue(ctx, c)
		}
		b.log.Error("audit: response not logged; withholding it", "path", req.Path, "err", err)
		b.undo(ctx, resp)
		return nil, fail.Wrap(fail.Internal, err, "internal error")
	}
	return resp, nil
}

// resolve runs the pipeline's first steps, which need neither the token
// nor the body: path checks, the mount and the matched route.
func (b *Broker) resolve(ctx context.Context, req *Request) (*call, router, error) {
	if req.ID == "" {
		req.ID = randomID()
	}
	if req.Data == nil {
		req.Data = map[string]any{}
	}
	// A LIST is of a folder: Vault's HTTP layer adds the trailing "/" before
	// routing and the ACL check, so a deny on "x/restricted/*" also covers
	// a LIST of "x/restricted", and a grant on "x/folder/" covers "x/folder".
	if req.Operation == engine.List && !strings.HasSuffix(req.Path, "/") {
		req.Path += "/"
	}
	if err := checkPath(req.Path); err != nil {
		return nil, nil, err
	}
	m, rest, err := b.mounts.route(ctx, req.Path)
	if err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, nil, noRoute(req.Path)
	}
	r, err := b.router(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	if r.textOnly() && hasNUL(req.Data) {
		return nil, nil, fail.Invalidf("invalid request: strings may not contain NUL characters")
	}
	return &call{req: req, m: m, rest: rest, op: req.Operation, path: r.path(rest, req.Operation)}, r, nil
}

// Preflight runs the checks that need no body, so the HTTP layer reads a
// body only for a request that may send one: the path must route, and
// unless its route needs no token (logins, health), the token must be
// good. A refusal is audited as Handle audits it. Handle checks all of it
// again, with the body.
func (b *Broker) Preflight(ctx context.Context, req *Request) error {
	c, _, err := b.resolve(ctx, req)
	if err != nil {
		return err
	}
	if c.path.Unaudited || c.path.Unauthenticated {
		return nil
	}
	if err := b.authenticate(ctx, c); err != nil {
		return b.auditFailure(ctx, c, err)
	}
	return nil
}

// checkPath refuses "." and ".." segments (CVE-2026-3605) and oversized paths.
func checkPath(p string) error {
	if len(p) > 4096 {
		return fail.Invalidf("path is too long")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fail.Invalidf("invalid path %q: \".\" and \"..\" segments are not allowed", p)
		}
	}
	// Paths become mount paths, policy names, lease ids and storage keys,
	// which PostgreSQL stores as text: no NUL, and valid UTF-8 only.
	if strings.ContainsAny(p, "\x00") || !utf8.ValidString(p) {
		return fail.Invalidf("invalid path")
	}
	return nil
}

// hasNUL reports whether any string in v contains a NUL character.
func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsRune(x, 0)
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNUL(e) {
				return true
			}
		}
	}
	return false
}

func noRoute(p string) error {
	return fail.NotFoundf("no handler for route %q. route entry not found.", p)
}

func isLogin(rest string) bool { return rest == "login" || strings.HasPrefix(rest, "login/") }

// authenticate resolves the request's token through the one token check.
// Every failure is Vault's bare 403 "permission denied".
func (b *Broker) authenticate(ctx context.Context, c *call) error {
	if c.req.Token.Empty() {
		return errPermissionDenied
	}
	e, err := b.checkToken(ctx, c.req.Token, c.req.RemoteAddr)
	if err != nil {
		if fail.Is(err, fail.Unauthenticated) {
			return errPermissionDenied
		}
		return err
	}
	c.entry = &e
	return nil
}

// existence turns a write into create or update for the ACL check.
func (b *Broker) existence(ctx context.Context, c *call) error {
	if c.op != engine.Update && c.op != engine.Create {
		return nil
	}
	c.op = engine.Update
	if c.path.Exists == nil {
		return nil
	}
	exists, err := c.path.Exists(ctx, c.engineRequest(b.storage(c.m.UUID, nil)))
	if err != nil {
		return err
	}
	if !exists {
		c.op = engine.Create
	}
	return nil
}

// authorize applies the token's ACL policies, and sudo on root-protected paths.
func (b *Broker) authorize(ctx context.Context, c *call) error {
	if c.entry == nil {
		if c.path.Unauthenticated {
			return nil
		}
		return errPermissionDenied
	}
	if slices.Contains(c.entry.Policies, "root") {
		return nil
	}
	a, err := b.policies.acl(ctx, c.entry.Policies)
	if err != nil {
		return err
	}
	c.acl = a
	if c.path.Unauthenticated || c.path.SelfAuthorized { // a login with a token attached needs no grant
		return nil
	}
	res := a.Allowed(c.op, c.req.Path, c.req.Data)
	if !res.Allowed && c.m.RotatingTo != "" {
		// A mount being rotated is read, until it is removed, by whoever
		// may read the same path under its new mount: the policies may
		// already have moved there while a run still holds the old path.
		res = a.Allowed(c.op, c.m.RotatingTo+c.rest, c.req.Data)
	}
	if !res.Allowed {
		return errPermissionDenied
	}
	if c.path.Sudo && !res.Sudo {
		return errPermissionDenied
	}
	return nil
}

// finish turns an engine's answer into a Response, registering its lease or
// creating its token first.
func (b *Broker) finish(ctx context.Context, c *call, er *engine.Response) (*Response, error) {
	if er == nil {
		return nil, nil
	}
	if er.Auth != nil && er.Secret != nil {
		return nil, errors.New("broker: engine returned both auth and a secret")
	}
	resp := &Response{Status: er.Status, Data: er.Data, Warnings: er.Warnings}
	switch {
	case er.Auth != nil:
		if !c.path.Unauthenticated && !isLogin(c.rest) {
			return nil, fmt.Errorf("broker: engine returned auth on non-login path %s", c.req.Path)
		}
		ab, warn, err := b.login(ctx, c, er.Auth)
		if err != nil {
			return nil, err
		}
		resp.Auth, resp.Warnings = ab, append(resp.Warnings, warn...)
	case er.Secret != nil:
		if err := b.lease(ctx, c, er.Secret, resp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// refuseIssue answers a response whose token could not be stored with the
// error that refused it, and audits that answer.
func (b *Broker) refuseIssue(ctx context.Context, c *call) error {
	herr := c.issueErr
	if !fail.Is(herr, fail.Unauthenticated) {
		herr = fail.Wrap(fail.Internal, herr, "internal error")
	}
	c.issue = nil
	if err := b.auditResponse(ctx, c, nil, herr); err != nil {
		return fail.Wrap(fail.Internal, err, "internal error")
	}
	return herr
}

// undo revokes what a withheld response created.
func (b *Broker) undo(ctx context.Context, resp *Response) {
	if resp == nil {
		return
	}
	if resp.LeaseID != "" {
		if err := b.revokeLease(ctx, resp.LeaseID, true, "response not audited"); err != nil {
			b.log.Error("revoke withheld lease", "lease_id", resp.LeaseID, "err", err)
		}
	}
}
