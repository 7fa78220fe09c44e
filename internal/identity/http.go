package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/respond"
)

// Handlers serves the issuer over HTTP.
type Handlers struct {
	Issuer *Issuer
	Log    *slog.Logger
}

// Mount registers the public OIDC endpoints and the admin API. The admin
// routes expect an authentication middleware to have put the caller in the
// request context; the issuer's methods authorize it.
func (h Handlers) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", h.discovery)
	mux.HandleFunc("GET /.well-known/jwks", h.jwks)
	mux.HandleFunc("POST /api/runcred/v1/identity/mint", h.mint)
	mux.HandleFunc("POST /api/runcred/v1/identity/rotate", h.rotate)
	mux.HandleFunc("GET /api/runcred/v1/identity/keys", h.keys)
	mux.HandleFunc("POST /api/runcred/v1/identity/keys/{kid}/revoke", h.revoke)
}

func (h Handlers) cacheFor(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(h.Issuer.cfg.JWKSMaxAge()/time.Second)))
}

func (h Handlers) discovery(w http.ResponseWriter, r *http.Request) {
	h.cacheFor(w)
	respond.JSON(w, http.StatusOK, h.Issuer.Discovery())
}

func (h Handlers) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := h.Issuer.JWKS(r.Context())
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	h.cacheFor(w)
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(set)
}

// MintBody is the JSON body of POST /api/runcred/v1/identity/mint.
type MintBody struct {
	Subject
	Audience json.RawMessage `json:"audience"`
	TTL      json.RawMessage `json:"ttl,omitempty"`
}

// MintResponse is what a mint returns.
type MintResponse struct {
	Token     string `json:"token"`
	JTI       string `json:"jti"`
	KeyID     string `json:"kid"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// ParseMintBody turns an untrusted request body into a MintRequest.
func ParseMintBody(raw []byte) (MintRequest, error) {
	var b MintBody
	if err := respond.DecodeStrict(raw, &b, "mint request"); err != nil {
		return MintRequest{}, err
	}
	aud, err := parseAudience(b.Audience)
	if err != nil {
		return MintRequest{}, err
	}
	ttl, err := parseTTL(b.TTL)
	if err != nil {
		return MintRequest{}, err
	}
	return MintRequest{Subject: b.Subject, Audience: aud, TTL: ttl}, nil
}

// parseAudience insists on one non-empty string that names a single
// audience: HCP Terraform tokens carry one, and relying parties bind
// exactly one. The body is refused here, with the rule Mint applies, so
// what the parser accepts is what can be minted.
func parseAudience(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fail.Invalidf("audience is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fail.Invalidf("audience must be a single string, not a list or other value")
	}
	if err := checkAudience(s); err != nil {
		return "", err
	}
	return s, nil
}

// parseTTL accepts a Go duration string ("15m") or a number of seconds.
func parseTTL(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return secondsTTL(n)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fail.Invalidf("ttl %q is not a positive duration such as 15m or 3600", fail.Clip(s))
		}
		return d, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fail.Invalidf("ttl must be a duration string or a whole number of seconds")
	}
	return secondsTTL(n)
}

func secondsTTL(n int64) (time.Duration, error) {
	if n <= 0 || n > int64(365*24*time.Hour/time.Second) {
		return 0, fail.Invalidf("ttl must be a positive number of seconds")
	}
	return time.Duration(n) * time.Second, nil
}

func (h Handlers) mint(w http.ResponseWriter, r *http.Request) {
	// Authorize before reading the body, so an unauthorized caller learns
	// nothing about what a valid request looks like. Mint checks again.
	if err := h.Issuer.authz.Authorize(r.Context(), mintPath, access.Update); err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	raw, err := respond.ReadBody(r)
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	req, err := ParseMintBody(raw)
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	tok, err := h.Issuer.Mint(r.Context(), req)
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	respond.JSON(w, http.StatusOK, MintResponse{
		Token: tok.Token.RevealString(), JTI: tok.JTI, KeyID: tok.KeyID, Subject: tok.Subject,
		Audience: tok.Audience, IssuedAt: tok.IssuedAt.Unix(), ExpiresAt: tok.ExpiresAt.Unix(),
	})
}

// RotateBody is the optional JSON body of POST /api/runcred/v1/identity/rotate.
type RotateBody struct {
	// Force rotates even while the next key is younger than the publish lead.
	Force bool `json:"force"`
}

// ParseRotateBody reads a rotate request's body; an empty body is {}.
func ParseRotateBody(raw []byte) (RotateBody, error) {
	var b RotateBody
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	err := respond.DecodeStrict(raw, &b, "rotate request")
	return b, err
}

func (h Handlers) rotate(w http.ResponseWriter, r *http.Request) {
	// Authorize before reading the body; Rotate checks again.
	if err := h.Issuer.authz.Authorize(r.Context(), "runcred/identity/rotate", access.Sudo); err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	raw, err := respond.ReadBody(r)
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	b, err := ParseRotateBody(raw)
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	res, err := h.Issuer.Rotate(r.Context(), b.Force)
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	respond.JSON(w, http.StatusOK, res)
}

func (h Handlers) revoke(w http.ResponseWriter, r *http.Request) {
	res, err := h.Issuer.RevokeKey(r.Context(), r.PathValue("kid"))
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	respond.JSON(w, http.StatusOK, res)
}

func (h Handlers) keys(w http.ResponseWriter, r *http.Request) {
	keys, err := h.Issuer.Keys(r.Context())
	if err != nil {
		respond.Error(w, r, h.Log, err)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]any{"keys": keys})
}
