package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/respond"
	"github.com/runcred/runcred/internal/token"
)

// MaxRequestSize is Vault's default request size limit (32 MiB).
const MaxRequestSize = 32 << 20

// errTooLarge is answered with 413, as Vault does.
var errTooLarge = fail.Invalidf("http: request body too large")

// maxJSONDepth and maxJSONStrings bound request bodies (CVE-2025-6203,
// OpenBao's max_request_json_strings): every string in a body is HMAC'd
// into the audit log, so their number bounds the audit record too.
const (
	maxJSONDepth   = 100
	maxJSONStrings = 10000
)

// Handler serves the Vault HTTP API under /v1/.
//
// A body is read only once the request has passed every check that needs
// none (Preflight): an unauthenticated caller cannot make the server read,
// hold and parse up to MaxRequestSize on a path that needs a token. Only
// the routes that need no token (logins) read an anonymous body.
func (b *Broker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := b.parse(r)
		if err != nil {
			writeError(w, b.log, r, err)
			return
		}
		if hasBody(req.Operation) {
			if err := b.Preflight(r.Context(), req); err != nil {
				writeError(w, b.log, r, err)
				return
			}
			if err := readBody(w, r, req.Data); err != nil {
				writeError(w, b.log, r, err)
				return
			}
		}
		resp, err := b.Handle(r.Context(), req)
		if err != nil {
			writeError(w, b.log, r, err)
			return
		}
		writeResponse(w, req, resp)
	})
}

// parse turns an HTTP request, but for its body, into a broker Request.
func (b *Broker) parse(r *http.Request) (*Request, error) {
	p, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		return nil, noRoute(r.URL.Path)
	}
	if ns := strings.Trim(r.Header.Get("X-Vault-Namespace"), "/"); ns != "" && ns != "root" {
		return nil, fail.Invalidf("namespaces are not supported by runcred (X-Vault-Namespace %q)", ns)
	}
	if r.Header.Get("X-Vault-Wrap-TTL") != "" {
		return nil, fail.Invalidf("response wrapping is not supported by runcred")
	}
	q := r.URL.Query()
	var op engine.Operation
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		op = engine.Read
		if q.Get("list") == "true" {
			op = engine.List
		}
	case http.MethodPut, http.MethodPost:
		op = engine.Update
	case http.MethodDelete:
		op = engine.Delete
	case "LIST":
		op = engine.List
	case http.MethodPatch:
		op = engine.Patch
	default:
		return nil, fail.Unsupportedf("unsupported operation")
	}
	data := map[string]any{}
	if op == engine.Read || op == engine.List || op == engine.Delete {
		for k, vs := range q {
			if k == "list" || len(vs) == 0 {
				continue
			}
			if len(vs) == 1 {
				data[k] = vs[0]
			} else {
				data[k] = vs
			}
		}
	}
	addr, _ := netip.ParseAddrPort(r.RemoteAddr)
	req := &Request{
		Operation: op, Path: p, Data: data, RemoteAddr: addr.Addr().Unmap(),
		Token: token.FromHeader(r.Header.Get("X-Vault-Token"), r.Header.Get("Authorization")),
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		req.Headers = map[string]string{"user-agent": truncate(ua, 256)}
	}
	return req, nil
}

// hasBody says whether op's requests carry a body the broker reads.
func hasBody(op engine.Operation) bool { return op != engine.Read && op != engine.List }

// readBody reads r's body, at most MaxRequestSize, into data.
func readBody(w http.ResponseWriter, r *http.Request, data map[string]any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errTooLarge
	}
	if err != nil {
		return fail.Invalidf("failed to read request body")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		return decodeBody(body, data)
	}
	return nil
}

// decodeBody parses a JSON object into data, with numbers kept exact.
func decodeBody(body []byte, data map[string]any) error {
	deepest, strs := shape(body)
	if deepest > maxJSONDepth {
		return fail.Invalidf("error parsing JSON: nested too deeply")
	}
	if strs > maxJSONStrings {
		return fail.Invalidf("error parsing JSON: more than %d strings", maxJSONStrings)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fail.Invalidf("error parsing JSON")
	}
	if dec.More() {
		return fail.Invalidf("error parsing JSON: trailing data")
	}
	for k, v := range obj {
		data[k] = v
	}
	return nil
}

// shape returns the deepest nesting of objects and arrays in a JSON text
// and how many strings (keys and values) it holds.
func shape(b []byte) (deepest, strs int) {
	d, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			if !inStr {
				strs++
			}
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest, strs
}

// wireAuth is the auth block as sent: the token revealed, once, to its
// holder. The outer field shadows AuthBlock's, which marshals redacted.
type wireAuth struct {
	ClientToken string `json:"client_token"`
	*AuthBlock
}

func writeResponse(w http.ResponseWriter, req *Request, resp *Response) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if resp == nil || (req.Operation == engine.List && resp.Raw == nil && emptyList(resp)) {
		if req.Operation == engine.Read || req.Operation == engine.List {
			respond.JSON(w, http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.Raw != nil {
		respond.JSON(w, status, resp.Raw)
		return
	}
	if resp.Data == nil && resp.Auth == nil && resp.LeaseID == "" && len(resp.Warnings) == 0 {
		if status == http.StatusNotFound {
			respond.JSON(w, status, map[string]any{"errors": []string{}})
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	env := map[string]any{
		"request_id": req.ID, "lease_id": resp.LeaseID, "renewable": resp.Renewable, "lease_duration": resp.LeaseDuration,
		"data": resp.Data, "wrap_info": nil, "warnings": nilIfEmpty(resp.Warnings), "auth": nil, "mount_type": "",
	}
	if a := resp.Auth; a != nil {
		env["auth"] = wireAuth{ClientToken: a.ClientToken.RevealString(), AuthBlock: a}
	}
	if resp.sys { // Vault's HTTPSysInjector: sys data also at the top level
		for k, v := range resp.Data {
			if _, taken := env[k]; !taken {
				env[k] = v
			}
		}
	}
	respond.JSON(w, status, env)
}

func emptyList(resp *Response) bool {
	if len(resp.Warnings) > 0 {
		return false
	}
	keys, ok := resp.Data["keys"]
	if !ok {
		return len(resp.Data) == 0
	}
	switch k := keys.(type) {
	case []string:
		return len(k) == 0
	case []any:
		return len(k) == 0
	}
	return keys == nil
}

func nilIfEmpty(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

// writeError renders err as Vault's {"errors":[...]}; internal causes are
// logged and never sent.
func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	k := fail.KindOf(err)
	if k == fail.Internal || k == fail.Upstream || k == fail.Unavailable {
		log.Error("broker request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	// Vault's codes differ from runcred's API in two places: a conflict is
	// a plain bad request, and a missing or bad token is 403, not 401.
	status := respond.Status(k)
	switch k {
	case fail.Conflict:
		status = http.StatusBadRequest
	case fail.Unauthenticated:
		status = http.StatusForbidden
	}
	if errors.Is(err, errTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	w.Header().Set("Cache-Control", "no-store")
	respond.JSON(w, status, map[string]any{"errors": []string{fail.Message(err)}})
}
