package approle

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// secretIDEntry is a stored secret ID. The secret itself is not in it: it is
// found by its HMAC, which is the last segment of its key and kept here too
// so a login can compare it in constant time.
type secretIDEntry struct {
	HMAC            string            `json:"secret_id_hmac"`
	Accessor        string            `json:"secret_id_accessor"`
	NumUses         int               `json:"secret_id_num_uses"` // uses left; 0 is unlimited
	TTL             time.Duration     `json:"secret_id_ttl"`
	CreationTime    time.Time         `json:"creation_time"`
	ExpirationTime  time.Time         `json:"expiration_time"` // zero: never
	LastUpdatedTime time.Time         `json:"last_updated_time"`
	Metadata        map[string]string `json:"metadata"`
	CIDRList        []string          `json:"cidr_list"`
	TokenBoundCIDRs []string          `json:"token_bound_cidrs"`
}

type accessorEntry struct {
	HMAC string `json:"secret_id_hmac"`
}

var secretIDFields = []string{"secret_id", "metadata", "cidr_list", "token_bound_cidrs", "num_uses", "ttl"}

func secretKey(scope, h string) string     { return "secret_id/" + scope + "/" + h }
func accessorKey(scope, acc string) string { return "accessor/" + scope + "/" + acc }

// secretLock is the Atomic lock for all use of one secret ID.
func secretLock(scope, h string) string { return "secret_id/" + scope + "/" + h }

func (b *Backend) secretHMAC(r *role, secretID string) string {
	return b.hmacOf("secret_id", r.Scope, secretID)
}

func (e *secretIDEntry) expired(now time.Time) bool {
	return !e.ExpirationTime.IsZero() && !now.Before(e.ExpirationTime)
}

func (e *secretIDEntry) data() map[string]any {
	return map[string]any{
		"secret_id_accessor": e.Accessor,
		"secret_id_num_uses": e.NumUses,
		"secret_id_ttl":      seconds(e.TTL),
		"creation_time":      e.CreationTime.Format(time.RFC3339Nano),
		"expiration_time":    e.ExpirationTime.Format(time.RFC3339Nano),
		"last_updated_time":  e.LastUpdatedTime.Format(time.RFC3339Nano),
		"metadata":           nonNilMap(e.Metadata),
		"cidr_list":          nonNil(e.CIDRList),
		"token_bound_cidrs":  nonNil(e.TokenBoundCIDRs),
	}
}

// roleForSecretIDs loads the role a secret-id path names; unlike a read, a
// missing role is an error, as in Vault.
func roleForSecretIDs(ctx context.Context, s engine.Storage, name string) (*role, error) {
	r, err := loadRole(ctx, s, name)
	if err == nil && r == nil {
		err = fail.NotFoundf("role %q does not exist", name)
	}
	return r, err
}

func (b *Backend) issueSecretID(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	return b.issue(ctx, req, name, uuid.NewString())
}

func (b *Backend) issueCustomSecretID(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	secretID, _, err := engine.Fields(req.Data).String("secret_id")
	if err != nil {
		return nil, err
	}
	if secretID == "" {
		return nil, fail.Invalidf("missing secret_id")
	}
	if len(secretID) > maxInputLength {
		return nil, fail.Invalidf("secret_id is longer than maximum of %d bytes", maxInputLength)
	}
	return b.issue(ctx, req, name, secretID)
}

// issue registers secretID against the role with the request's options,
// which may narrow the role's limits and never widen them.
func (b *Backend) issue(ctx context.Context, req *engine.Request, name, secretID string) (*engine.Response, error) {
	r, err := roleForSecretIDs(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if !r.BindSecretID {
		return nil, fail.Invalidf("bind_secret_id is not set on the role")
	}
	f := engine.Fields(req.Data)
	e := secretIDEntry{NumUses: r.SecretIDNumUses, TTL: r.SecretIDTTL}
	for _, c := range []struct {
		name  string
		dst   *[]string
		outer []string
	}{{"cidr_list", &e.CIDRList, r.SecretIDBoundCIDRs}, {"token_bound_cidrs", &e.TokenBoundCIDRs, r.TokenBoundCIDRs}} {
		list, _, err := f.Strings(c.name)
		if err != nil {
			return nil, err
		}
		if *c.dst, err = engine.CanonicalCIDRs(c.name, list); err != nil {
			return nil, err
		}
		if err := requireSubset(*c.dst, c.outer); err != nil {
			return nil, err
		}
	}
	if n, ok, err := f.Int("num_uses"); err != nil {
		return nil, err
	} else if ok {
		switch {
		case n < 0:
			return nil, fail.Invalidf("num_uses cannot be negative")
		case r.SecretIDNumUses > 0 && (n == 0 || n > r.SecretIDNumUses):
			return nil, fail.Invalidf("num_uses cannot be higher than the role's secret_id_num_uses")
		}
		e.NumUses = n
	}
	if ttl, ok, err := f.Duration("ttl"); err != nil {
		return nil, err
	} else if ok {
		switch {
		case ttl < 0:
			return nil, fail.Invalidf("ttl cannot be negative")
		case r.SecretIDTTL > 0 && (ttl == 0 || ttl > r.SecretIDTTL):
			return nil, fail.Invalidf("ttl cannot be longer than the role's secret_id_ttl")
		}
		e.TTL = ttl
	}
	if e.TTL > b.maxLease { // Vault caps secret IDs at the mount's maximum
		e.TTL = b.maxLease
	}
	if e.Metadata, err = parseMetadata(f); err != nil {
		return nil, err
	}
	// Refused when written, not only at login: such a secret ID could
	// never log in, and it would otherwise stand as if it could.
	if err := access.CheckMeta(e.Metadata); err != nil {
		return nil, err
	}

	now := b.now()
	e.HMAC, e.Accessor = b.secretHMAC(r, secretID), uuid.NewString()
	e.CreationTime, e.LastUpdatedTime = now, now
	if e.TTL > 0 {
		e.ExpirationTime = now.Add(e.TTL)
	}
	err = req.Storage.Atomic(ctx, secretLock(r.Scope, e.HMAC), func(s engine.Storage) error {
		if old, err := s.Get(ctx, secretKey(r.Scope, e.HMAC)); err != nil {
			return err
		} else if old != nil {
			return fail.Invalidf("SecretID is already registered")
		}
		if err := putJSON(ctx, s, accessorKey(r.Scope, e.Accessor), accessorEntry{HMAC: e.HMAC}); err != nil {
			return err
		}
		return putJSON(ctx, s, secretKey(r.Scope, e.HMAC), &e)
	})
	if err != nil {
		return nil, err
	}
	return &engine.Response{
		Data: map[string]any{
			"secret_id":          secretID,
			"secret_id_accessor": e.Accessor,
			"secret_id_ttl":      seconds(e.TTL),
			"secret_id_num_uses": e.NumUses,
		},
		Warnings: unknownWarning(f, secretIDFields...),
	}, nil
}

// parseMetadata reads the metadata field as Vault does: a JSON object of
// strings, that JSON base64-encoded, or "k1=v1,k2=v2". An object sent as
// such (not as a string) is accepted too.
func parseMetadata(f engine.Fields) (map[string]string, error) {
	if _, isMap := f["metadata"].(map[string]any); isMap {
		m, _, err := f.StringMap("metadata")
		return m, err
	}
	s, _, err := f.String("metadata")
	if err != nil {
		return nil, err
	}
	if s = strings.TrimSpace(s); s == "" {
		return map[string]string{}, nil
	}
	candidates := []string{s}
	if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
		candidates = append(candidates, string(dec))
	}
	for _, c := range candidates {
		var m map[string]string
		if json.Unmarshal([]byte(c), &m) == nil {
			if m == nil { // the JSON was null
				m = map[string]string{}
			}
			return m, nil
		}
	}
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, fail.Invalidf("failed to parse metadata: invalid key/value pair %q: format must be key=value", pair)
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, nil
}

func (b *Backend) listSecretIDs(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	r, err := roleForSecretIDs(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	keys, err := req.Storage.List(ctx, accessorKey(r.Scope, ""))
	if err != nil {
		return nil, err
	}
	return listResponse(keys), nil
}

// secretField reads a required string field.
func secretField(req *engine.Request, name string) (string, error) {
	v, _, err := engine.Fields(req.Data).String(name)
	if err == nil && v == "" {
		err = fail.Invalidf("missing %s", name)
	}
	return v, err
}

// accessorHMAC resolves an accessor within the role's scope only; an
// accessor of another role is simply not there (CVE-2023-24999).
func accessorHMAC(ctx context.Context, s engine.Storage, r *role, acc string) (string, error) {
	var a accessorEntry
	found := false
	if _, err := uuid.Parse(acc); err == nil && !strings.Contains(acc, "/") {
		if found, err = getJSON(ctx, s, accessorKey(r.Scope, acc), &a); err != nil {
			return "", err
		}
	}
	if !found {
		return "", fail.NotFoundf("failed to find accessor entry for secret_id_accessor: %q", acc)
	}
	return a.HMAC, nil
}

// secretRef resolves the secret ID a lookup or destroy names, by the secret
// ID itself or by its accessor, within the role in the path only.
func (b *Backend) secretRef(ctx context.Context, req *engine.Request, name string, byAccessor bool) (*role, string, error) {
	field := "secret_id"
	if byAccessor {
		field = "secret_id_accessor"
	}
	v, err := secretField(req, field)
	if err != nil {
		return nil, "", err
	}
	r, err := roleForSecretIDs(ctx, req.Storage, name)
	if err != nil {
		return nil, "", err
	}
	if !byAccessor {
		return r, b.secretHMAC(r, v), nil
	}
	h, err := accessorHMAC(ctx, req.Storage, r, v)
	return r, h, err
}

func (b *Backend) lookupSecretID(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	return b.lookup(ctx, req, name, false)
}

func (b *Backend) lookupAccessor(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	return b.lookup(ctx, req, name, true)
}

func (b *Backend) lookup(ctx context.Context, req *engine.Request, name string, byAccessor bool) (*engine.Response, error) {
	r, h, err := b.secretRef(ctx, req, name, byAccessor)
	if err != nil {
		return nil, err
	}
	var e secretIDEntry
	found, err := getJSON(ctx, req.Storage, secretKey(r.Scope, h), &e)
	if !found || err != nil {
		return nil, err
	}
	return &engine.Response{Data: e.data()}, nil
}

func (b *Backend) destroySecretID(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	r, h, err := b.secretRef(ctx, req, name, false)
	if err != nil {
		return nil, err
	}
	return nil, destroy(ctx, req.Storage, r.Scope, h)
}

func (b *Backend) destroyAccessor(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	r, h, err := b.secretRef(ctx, req, name, true)
	if err != nil {
		return nil, err
	}
	return nil, destroy(ctx, req.Storage, r.Scope, h)
}

// destroy deletes one secret ID and its accessor; a missing one is no error.
func destroy(ctx context.Context, st engine.Storage, scope, h string) error {
	return st.Atomic(ctx, secretLock(scope, h), func(s engine.Storage) error {
		var e secretIDEntry
		found, err := getJSON(ctx, s, secretKey(scope, h), &e)
		if !found || err != nil {
			return err
		}
		return deleteEntry(ctx, s, scope, h, e.Accessor)
	})
}

func deleteEntry(ctx context.Context, s engine.Storage, scope, h, acc string) error {
	if acc != "" {
		if err := s.Delete(ctx, accessorKey(scope, acc)); err != nil {
			return err
		}
	}
	return s.Delete(ctx, secretKey(scope, h))
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
