// Package identity is runcred's OIDC workload-identity issuer: it owns the
// signing keyring (next → current → retired), mints HCP Terraform-format run
// tokens, and serves discovery and JWKS so any OIDC relying party — a cloud
// STS, Vault, runcred's own broker — can verify them.
package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// ACL paths of the issuer's admin operations.
const mintPath = "runcred/identity/mint"

// NotBeforeSkew is how far nbf lies before iat, as in HCP Terraform's tokens.
const NotBeforeSkew = 5 * time.Second

// Auditor records what the issuer does; minting fails if it cannot.
type Auditor interface {
	Append(ctx context.Context, typ string, body any) (audit.Record, error)
}

// Config sets up an Issuer.
type Config struct {
	Issuer          string        // public URL, no trailing slash; the iss claim
	Policy                        // key timings
	DefaultTokenTTL time.Duration // when a mint names none
	RefreshInterval time.Duration // how often a node re-reads the shared keyring
	Now             func() time.Time
	Logger          *slog.Logger
}

// DefaultPolicy is what runcred uses unless configured otherwise.
func DefaultPolicy() Policy {
	return Policy{
		KeyLifetime: 7 * 24 * time.Hour,
		PublishLead: 10 * time.Minute,
		MaxTokenTTL: 2 * time.Hour, // HCP Terraform's default plan timeout
		Leeway:      5 * time.Minute,
		KeyBits:     2048,
	}
}

// JWKSMaxAge is how long verifiers may cache the JWKS. A next key is
// published PublishLead before it signs; a node sees a change within
// RefreshInterval; so any copy fetched before the key appeared has expired by
// its first use.
func (c Config) JWKSMaxAge() time.Duration { return c.PublishLead - 2*c.RefreshInterval }

// Validate checks the configuration. Its checks are ifs rather than a
// tagless switch so that mutation testing runs them: Go's coverage profile
// has no block for a case's condition.
func (c Config) Validate() error {
	if c.Issuer == "" || strings.HasSuffix(c.Issuer, "/") {
		return fmt.Errorf("issuer URL %q must be set and have no trailing slash", c.Issuer)
	}
	if !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://") {
		return fmt.Errorf("issuer URL %q must start with https:// (or http:// for local testing)", c.Issuer)
	}
	if c.KeyBits < 2048 {
		return fmt.Errorf("signing keys must be at least 2048 bits")
	}
	if c.MaxTokenTTL <= 0 || c.DefaultTokenTTL <= 0 || c.DefaultTokenTTL > c.MaxTokenTTL {
		return fmt.Errorf("token TTLs: default %s must be positive and at most max %s", c.DefaultTokenTTL, c.MaxTokenTTL)
	}
	if c.RefreshInterval <= 0 || c.JWKSMaxAge() <= 0 {
		return fmt.Errorf("publish lead %s must exceed twice the refresh interval %s", c.PublishLead, c.RefreshInterval)
	}
	if c.KeyLifetime < c.PublishLead {
		return fmt.Errorf("key lifetime %s must be at least the publish lead %s", c.KeyLifetime, c.PublishLead)
	}
	return nil
}

// Issuer mints tokens and keeps the keyring.
type Issuer struct {
	cfg   Config
	keys  keyStore
	audit Auditor
	authz access.Authorizer
	log   *slog.Logger

	mu       sync.RWMutex
	ring     Keyring
	signer   jose.Signer
	loadedAt time.Time
}

// New loads the keyring, creating it on first start.
func New(ctx context.Context, cfg Config, db *store.DB, seal Sealer, aud Auditor, authz access.Authorizer) (*Issuer, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	i := &Issuer{cfg: cfg, keys: keyStore{db: db, seal: seal}, audit: aud, authz: authz, log: cfg.Logger}
	ring, err := i.keys.load(ctx)
	if err != nil {
		return nil, err
	}
	if ring.Version == 0 {
		boot, err := Bootstrap(cfg.Now(), cfg.Policy)
		if err != nil {
			return nil, err
		}
		ring, err = i.keys.update(ctx, cfg.Now(), func(old Keyring) (Keyring, bool, error) {
			if old.Version != 0 { // another node bootstrapped first
				return old, false, nil
			}
			return boot, true, nil
		})
		if err != nil {
			return nil, err
		}
		if cur, ok := ring.Current(); ok {
			i.log.Info("identity: created signing keys", "kid", cur.ID)
		}
	}
	if err := i.install(ring); err != nil {
		return nil, err
	}
	return i, nil
}

// install makes ring the in-memory keyring.
func (i *Issuer) install(ring Keyring) error {
	cur, ok := ring.Current()
	if !ok {
		return fmt.Errorf("identity: keyring has no current key")
	}
	i.mu.RLock()
	same := i.signer != nil && i.ring.Version == ring.Version
	i.mu.RUnlock()
	var signer jose.Signer
	if !same {
		var err error
		signer, err = jose.NewSigner(
			jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: cur.priv, KeyID: cur.ID}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return fmt.Errorf("identity: signer: %w", err)
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if !same {
		i.ring, i.signer = ring, signer
	}
	i.loadedAt = i.cfg.Now()
	return nil
}

// Refresh re-reads the shared keyring if another node changed it.
func (i *Issuer) Refresh(ctx context.Context) error {
	v, err := i.keys.version(ctx)
	if err != nil {
		return err
	}
	i.mu.RLock()
	same := v == i.ring.Version
	i.mu.RUnlock()
	if same {
		return i.install(i.snapshot())
	}
	ring, err := i.keys.load(ctx)
	if err != nil {
		return err
	}
	return i.install(ring)
}

func (i *Issuer) snapshot() Keyring {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.ring
}

// refreshIfOlder refreshes when the in-memory keyring is older than d.
func (i *Issuer) refreshIfOlder(ctx context.Context, d time.Duration) error {
	i.mu.RLock()
	fresh := i.cfg.Now().Sub(i.loadedAt) < d
	i.mu.RUnlock()
	if fresh {
		return nil
	}
	return i.Refresh(ctx)
}

// Maintain does one round of upkeep: pick up other nodes' changes, rotate a
// key that has served its lifetime, and drop retired keys whose tokens have
// all expired.
func (i *Issuer) Maintain(ctx context.Context) error {
	if err := i.Refresh(ctx); err != nil {
		return err
	}
	now := i.cfg.Now()
	ring := i.snapshot()
	_, prunable := ring.Prune(now, i.cfg.Policy)
	due := ring.RotationDue(now, i.cfg.Policy) && !now.Before(ring.PromotableAt(i.cfg.Policy))
	if !prunable && !due {
		return nil
	}
	var fresh Key
	if due {
		var err error
		if fresh, err = NewKey(i.cfg.KeyBits, now); err != nil {
			return err
		}
	}
	var events []rotation
	ring, err := i.keys.update(ctx, now, func(old Keyring) (Keyring, bool, error) {
		events = events[:0]
		r, changed := old, false
		if due && r.RotationDue(now, i.cfg.Policy) && !now.Before(r.PromotableAt(i.cfg.Policy)) {
			rotated, err := r.Rotate(now, i.cfg.Policy, fresh)
			if err != nil {
				return old, false, err
			}
			events = append(events, rotationOf(r, rotated, "lifetime"))
			r, changed = rotated, true
		}
		if pruned, ok := r.Prune(now, i.cfg.Policy); ok {
			events = append(events, removalOf(r, pruned))
			r, changed = pruned, true
		}
		return r, changed, nil
	})
	if err != nil {
		return err
	}
	i.record(ctx, events)
	return i.install(ring)
}

// Start runs Maintain every RefreshInterval until ctx ends.
func (i *Issuer) Start(ctx context.Context) error {
	t := time.NewTicker(i.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := i.Maintain(ctx); err != nil && ctx.Err() == nil {
				i.log.Error("identity: keyring upkeep failed", "err", err)
			}
		}
	}
}

// KeyInfo describes a key without its private half.
type KeyInfo struct {
	ID          string    `json:"kid"`
	State       KeyState  `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	// RemovedAt is when a retired key leaves the JWKS: every token it
	// signed has expired by then (plus leeway).
	RemovedAt time.Time `json:"removed_at,omitzero"`
}

// Keys lists the keyring for operators.
func (i *Issuer) Keys(ctx context.Context) ([]KeyInfo, error) {
	if err := i.authz.Authorize(ctx, "runcred/identity/keys", access.Read); err != nil {
		return nil, err
	}
	if err := i.Refresh(ctx); err != nil {
		return nil, err
	}
	var out []KeyInfo
	for _, k := range i.snapshot().Keys {
		info := KeyInfo{ID: k.ID, State: k.State, CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt}
		if k.State == Retired {
			info.RemovedAt = k.RetiredAt.Add(i.cfg.MaxTokenTTL + i.cfg.Leeway)
		}
		out = append(out, info)
	}
	return out, nil
}

// JWKS returns the published public keys.
func (i *Issuer) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	if err := i.refreshIfOlder(ctx, time.Second); err != nil {
		return jose.JSONWebKeySet{}, err
	}
	ring := i.snapshot()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(ring.Keys))}
	for idx := range ring.Keys {
		set.Keys = append(set.Keys, ring.Keys[idx].JWK())
	}
	return set, nil
}

// Discovery is the OpenID Provider metadata document.
type Discovery struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"`
	SubjectTypes  []string `json:"subject_types_supported"`
	SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
	Scopes        []string `json:"scopes_supported"`
	Claims        []string `json:"claims_supported"`
}

// Discovery describes this issuer.
func (i *Issuer) Discovery() Discovery {
	return Discovery{
		Issuer:        i.cfg.Issuer,
		JWKSURI:       i.cfg.Issuer + "/.well-known/jwks",
		ResponseTypes: []string{"id_token"},
		SubjectTypes:  []string{"public"},
		SigningAlgs:   []string{string(jose.RS256)},
		Scopes:        []string{"openid"},
		Claims: []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf",
			"terraform_run_phase", "terraform_workspace_id", "terraform_workspace_name",
			"terraform_organization_id", "terraform_organization_name", "terraform_project_id",
			"terraform_project_name", "terraform_run_id", "terraform_full_workspace"},
	}
}

// MintRequest asks for one run phase's token.
type MintRequest struct {
	Subject
	Audience string
	TTL      time.Duration // 0: the configured default
}

// Token is a minted token and what an operator may know about it.
type Token struct {
	Token     secret.Value
	JTI       string
	KeyID     string
	Subject   string
	Audience  string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Claims is the token payload: HCP Terraform's claim set, in its order.
type Claims struct {
	JTI              string `json:"jti"`
	Issuer           string `json:"iss"`
	Audience         string `json:"aud"`
	IssuedAt         int64  `json:"iat"`
	NotBefore        int64  `json:"nbf"`
	Expiry           int64  `json:"exp"`
	Subject          string `json:"sub"`
	OrganizationID   string `json:"terraform_organization_id"`
	OrganizationName string `json:"terraform_organization_name"`
	ProjectID        string `json:"terraform_project_id"`
	ProjectName      string `json:"terraform_project_name"`
	WorkspaceID      string `json:"terraform_workspace_id"`
	WorkspaceName    string `json:"terraform_workspace_name"`
	FullWorkspace    string `json:"terraform_full_workspace"`
	RunID            string `json:"terraform_run_id"`
	RunPhase         string `json:"terraform_run_phase"`
}

// Mint signs a token for one run phase. The mint is audited before the token
// is returned; if the audit record cannot be written no token is issued.
func (i *Issuer) Mint(ctx context.Context, req MintRequest) (Token, error) {
	if err := i.authz.Authorize(ctx, mintPath, access.Update); err != nil {
		return Token{}, err
	}
	return i.MintForRun(ctx, req)
}

// MintForRun mints without the runcred/identity/mint grant, for a caller
// that runcred has already authorized to act for exactly req's run and
// phase (an agent's job token: the subject comes from the run, never from
// the caller). The mint is audited with the caller as any other.
func (i *Issuer) MintForRun(ctx context.Context, req MintRequest) (Token, error) {
	if err := req.Subject.Validate(); err != nil {
		return Token{}, err
	}
	if err := checkAudience(req.Audience); err != nil {
		return Token{}, err
	}
	ttl := req.TTL
	switch {
	case ttl == 0:
		ttl = i.cfg.DefaultTokenTTL
	case ttl < 0 || ttl%time.Second != 0:
		return Token{}, fail.Invalidf("ttl must be a positive whole number of seconds")
	case ttl > i.cfg.MaxTokenTTL:
		return Token{}, fail.Invalidf("ttl %s exceeds the maximum token lifetime %s", ttl, i.cfg.MaxTokenTTL)
	}

	now := i.cfg.Now().Truncate(time.Second)
	s := req.Subject
	c := Claims{
		JTI: uuid.NewString(), Issuer: i.cfg.Issuer, Audience: req.Audience,
		IssuedAt: now.Unix(), NotBefore: now.Add(-NotBeforeSkew).Unix(), Expiry: now.Add(ttl).Unix(),
		Subject:        s.Sub(),
		OrganizationID: s.OrganizationID, OrganizationName: s.Organization,
		ProjectID: s.ProjectID, ProjectName: s.Project,
		WorkspaceID: s.WorkspaceID, WorkspaceName: s.Workspace,
		FullWorkspace: s.FullWorkspace(), RunID: s.RunID, RunPhase: string(s.Phase),
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return Token{}, err
	}
	// A key another node rotated out and revoked signs here for at most a
	// second more, as long as a JWKS from here may still show it.
	if err := i.refreshIfOlder(ctx, time.Second); err != nil {
		return Token{}, err
	}
	i.mu.RLock()
	signer, ring := i.signer, i.ring
	i.mu.RUnlock()
	cur, _ := ring.Current()

	// The audit record names the token by jti (which the token carries), so
	// it can be written while the signature is computed; the token is
	// returned only if both succeed.
	caller, _ := access.CallerFrom(ctx)
	audited := make(chan error, 1)
	go func() {
		_, err := i.audit.Append(ctx, "identity.mint", map[string]any{
			"jti": c.JTI, "sub": c.Subject, "aud": c.Audience, "kid": cur.ID,
			"iat": c.IssuedAt, "exp": c.Expiry, "run_id": s.RunID, "phase": s.Phase,
			"workspace_id": s.WorkspaceID, "caller": caller.Accessor,
		})
		audited <- err
	}()
	jws, signErr := signer.Sign(payload)
	var compact string
	if signErr == nil {
		compact, signErr = jws.CompactSerialize()
	}
	if err := <-audited; err != nil {
		return Token{}, fail.Wrap(fail.Unavailable, err, "audit log unavailable; no token issued")
	}
	if signErr != nil {
		// The record stands for a token that was never handed out; say so.
		i.log.Error("identity: signing failed after the mint was audited", "jti", c.JTI, "err", signErr)
		return Token{}, fmt.Errorf("identity: sign: %w", signErr)
	}
	return Token{
		Token: secret.FromString(compact), JTI: c.JTI, KeyID: cur.ID, Subject: c.Subject, Audience: c.Audience,
		IssuedAt: now, ExpiresAt: now.Add(ttl),
	}, nil
}

// ValidAudience checks aud as MintForRun does, for a caller that must
// refuse a malformed audience before it checks anything else.
func ValidAudience(aud string) error { return checkAudience(aud) }

func checkAudience(aud string) error {
	switch {
	case aud == "":
		return fail.Invalidf("audience is required")
	case len(aud) > MaxAudienceLen:
		return fail.Invalidf("audience is longer than %d characters", MaxAudienceLen)
	}
	for _, r := range aud {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == ',' {
			return fail.Invalidf("audience must be a single value without spaces, commas or control characters")
		}
	}
	return nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
