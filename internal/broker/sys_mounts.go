package broker

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// authTypes are the auth methods runcred has; every other registered engine
// type is a secrets engine.
var authTypes = map[string]bool{"jwt": true, "approle": true}

func (m *mount) describe() map[string]any {
	def, max := m.Config.DefaultLeaseTTL, m.Config.MaxLeaseTTL
	opts := any(nil)
	if len(m.Options) > 0 {
		opts = m.Options
	}
	conf := map[string]any{"default_lease_ttl": def, "max_lease_ttl": max, "force_no_cache": false}
	// As in Vault, the optional settings show only when set, and an auth
	// method always has a token type.
	if v := m.Config.ListingVisibility; v != "" {
		conf["listing_visibility"] = v
	}
	if v := m.Config.AuditNonHMACReq; len(v) > 0 {
		conf["audit_non_hmac_request_keys"] = v
	}
	if v := m.Config.AuditNonHMACResp; len(v) > 0 {
		conf["audit_non_hmac_response_keys"] = v
	}
	if m.isAuth() {
		conf["token_type"] = cmp.Or(m.Config.TokenType, "default-service")
	}
	return map[string]any{
		"accessor": m.Accessor, "type": m.Type, "description": m.Description, "uuid": m.UUID,
		"config":  conf,
		"options": opts, "local": false, "seal_wrap": false, "external_entropy_access": false,
		"plugin_version": "", "running_plugin_version": "", "running_sha256": "",
	}
}

func (b *Broker) listMounts(ctx context.Context, auth bool) (*Response, error) {
	all, err := b.mounts.list(ctx)
	if err != nil {
		return nil, err
	}
	data := map[string]any{}
	for _, m := range all {
		if m.isAuth() != auth {
			continue
		}
		data[strings.TrimPrefix(m.Path, "auth/")] = m.describe()
	}
	return &Response{Data: data}, nil
}

// mountOp serves sys/mounts/:path[/tune] and sys/auth/:path[/tune].
func (b *Broker) mountOp(ctx context.Context, c *call, p string, auth bool) (*Response, error) {
	tune := false
	if t, ok := strings.CutSuffix(p, "/tune"); ok {
		p, tune = t, true
	}
	if auth {
		p = "auth/" + strings.TrimPrefix(p, "/")
	} else if strings.HasPrefix(strings.TrimPrefix(p, "/"), "auth/") && !tune && c.op != engine.Read {
		// Reading and tuning reach auth methods through sys/mounts (the Go
		// client's GetAuth reads there); enabling and disabling them is
		// sys/auth's, which needs sudo.
		return nil, fail.Invalidf("auth methods are enabled and disabled under sys/auth, not sys/mounts")
	}
	mp, err := normalizeMountPath(p)
	if err != nil {
		return nil, err
	}
	m, err := b.mounts.byPath(ctx, mp)
	if err != nil {
		return nil, err
	}
	f := engine.Fields(c.req.Data)
	switch {
	case tune && c.op == engine.Read:
		if m == nil {
			return nil, fail.Invalidf("cannot fetch sysview for path %q", mp)
		}
		d := m.describe()
		conf := d["config"].(map[string]any)
		conf["description"], conf["options"] = m.Description, d["options"]
		return &Response{Data: conf}, nil
	case tune && (c.op == engine.Update || c.op == engine.Create):
		if m == nil || m.UUID == "sys" || m.UUID == "token" {
			return nil, fail.Invalidf("cannot tune %q", mp)
		}
		return nil, b.tuneMount(ctx, m, f)
	case c.op == engine.Read:
		if m == nil {
			return nil, nil
		}
		return &Response{Data: m.describe()}, nil
	case c.op == engine.Update || c.op == engine.Create:
		return nil, b.enableMount(ctx, mp, f, auth)
	case c.op == engine.Delete:
		if m == nil {
			return nil, nil // Vault: disabling a missing mount succeeds
		}
		return nil, b.disableMount(ctx, m)
	}
	return nil, fail.Unsupportedf("unsupported operation")
}

// readMountConfig reads a mount's tunable settings, from "config" when
// enabling and from the top level when tuning; auth says it is an auth
// method, the only kind with a token type.
func readMountConfig(f engine.Fields, into *mountConfig, auth bool) error {
	conf, _, err := f.Map("config")
	if err != nil {
		return err
	}
	cf := engine.Fields(conf)
	if conf == nil {
		cf = f // tune takes the fields at top level
	}
	for _, k := range []string{"default_lease_ttl", "max_lease_ttl"} {
		d, ok, err := cf.Duration(k)
		if err != nil {
			return err
		}
		if ok {
			if k == "default_lease_ttl" {
				into.DefaultLeaseTTL = durationSeconds(d)
			} else {
				into.MaxLeaseTTL = durationSeconds(d)
			}
		}
	}
	if into.DefaultLeaseTTL < 0 || into.MaxLeaseTTL < 0 || time.Duration(into.MaxLeaseTTL)*time.Second > SystemMaxTTL {
		return fail.Invalidf("lease TTLs must be between 0 and the system maximum of %s", SystemMaxTTL)
	}
	if into.MaxLeaseTTL > 0 && into.DefaultLeaseTTL > into.MaxLeaseTTL {
		return fail.Invalidf("default lease TTL cannot be greater than max lease TTL")
	}
	if v, ok, err := cf.String("listing_visibility"); err != nil {
		return err
	} else if ok {
		if v != "" && v != "unauth" && v != "hidden" {
			return fail.Invalidf("invalid listing_visibility %q: 'unauth' and 'hidden' are allowed", fail.Clip(v))
		}
		into.ListingVisibility = v
	}
	for _, k := range []struct {
		name string
		dst  *[]string
	}{{"audit_non_hmac_request_keys", &into.AuditNonHMACReq}, {"audit_non_hmac_response_keys", &into.AuditNonHMACResp}} {
		v, ok, err := cf.Strings(k.name)
		if err != nil {
			return err
		}
		if ok {
			*k.dst = v
		}
	}
	// Headers are neither passed to engines nor added to responses here:
	// refused rather than stored and ignored. An empty list (the provider
	// sends [""] to clear it) is fine.
	for _, k := range []string{"passthrough_request_headers", "allowed_response_headers"} {
		if v, _, err := cf.Strings(k); err != nil {
			return err
		} else if len(v) > 0 {
			return fail.Invalidf("%s is not supported by runcred", k)
		}
	}
	tt, ok, err := cf.String("token_type")
	if err != nil || !ok {
		return err
	}
	switch {
	case tt != "" && !auth:
		return fail.Invalidf("token_type can only be set on auth methods")
	case tt == "" || tt == "default" || tt == "default-service" || tt == "service":
		into.TokenType = tt // every one of them is a service token here
	case tt == "batch" || tt == "default-batch":
		return fail.Invalidf("token type %q is not supported by runcred: only service tokens are issued", tt)
	default:
		return fail.Invalidf("invalid token_type %q", fail.Clip(tt))
	}
	return nil
}

func (b *Broker) enableMount(ctx context.Context, mp string, f engine.Fields, auth bool) error {
	// sys/mounts/auth/x would otherwise put a secrets engine under auth/,
	// where it is taken for an auth method (Vault protects "auth/").
	if !auth && strings.HasPrefix(mp, "auth/") {
		return fail.Invalidf("cannot mount at reserved path %q", mp)
	}
	typ, _, err := f.String("type")
	if err != nil {
		return err
	}
	if typ == "" {
		return fail.Invalidf("missing type")
	}
	opts, _, err := f.StringMap("options")
	if err != nil {
		return err
	}
	switch typ {
	case "kv-v2":
		typ, opts = "kv", withOption(opts, "version", "2")
	case "kv-v1":
		typ, opts = "kv", withOption(opts, "version", "1")
	case "kv":
		if v := opts["version"]; v != "" && v != "1" && v != "2" {
			return fail.Invalidf("invalid kv version %q", v)
		}
	default:
		if opts["version"] != "" {
			return fail.Invalidf("the version option is only valid for kv mounts")
		}
	}
	if _, ok := b.cfg.Engines[typ]; !ok || authTypes[typ] != auth {
		kind := "secrets engine"
		if auth {
			kind = "auth method"
		}
		return fail.Invalidf("unknown %s type %q", kind, typ)
	}
	desc, _, _ := f.String("description")
	m := &mount{UUID: randomID(), Path: mp, Type: typ, Description: desc, Options: opts, CreatedAt: b.now().UTC()}
	if err := readMountConfig(f, &m.Config, auth); err != nil {
		return err
	}
	prefix := typ
	if auth {
		prefix = "auth_" + typ
	}
	m.Accessor = newAccessor(prefix)
	return b.mounts.create(ctx, m)
}

func withOption(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func (b *Broker) tuneMount(ctx context.Context, m *mount, f engine.Fields) error {
	cp := *m
	if err := readMountConfig(f, &cp.Config, m.isAuth()); err != nil {
		return err
	}
	if d, ok, err := f.String("description"); err != nil {
		return err
	} else if ok {
		cp.Description = d
	}
	if opts, ok, err := f.StringMap("options"); err != nil {
		return err
	} else if ok {
		if v := opts["version"]; v != "" && (m.Type != "kv" || (v != "1" && v != "2")) {
			return fail.Invalidf("invalid version option for a %s mount", m.Type)
		}
		cp.Options = withOption(cp.Options, "version", opts["version"])
		if opts["version"] == "" {
			delete(cp.Options, "version")
		}
	}
	if err := b.mounts.update(ctx, &cp); err != nil {
		return err
	}
	b.forget(m.UUID)
	return nil
}

// disableMount revokes everything the mount issued, then removes it with its
// storage. If a lease cannot be revoked the mount stays (force-revoke first).
func (b *Broker) disableMount(ctx context.Context, m *mount) error {
	if m.UUID == "sys" || m.UUID == "token" {
		return fail.Invalidf("cannot unmount %q", m.Path)
	}
	if err := b.revokeMount(ctx, m); err != nil {
		return err
	}
	err := b.mounts.remove(ctx, m)
	b.storeCache.dropMount(m.UUID)
	if err != nil {
		return err
	}
	b.forget(m.UUID)
	return nil
}

// revokeMount revokes every lease of a secrets mount, or every token an
// auth mount issued.
func (b *Broker) revokeMount(ctx context.Context, m *mount) error {
	if m.isAuth() {
		ids, err := b.tokens.IDsByPath(ctx, m.Path)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := b.revokeToken(ctx, id, false, "mount disabled"); err != nil {
				return err
			}
		}
		return nil
	}
	t, err := b.revokeWhere(ctx, false, "mount disabled", `mount_uuid = ?`, m.UUID)
	if err != nil {
		return err
	}
	if t.failed > 0 {
		return fail.Wrap(fail.Invalid, errors.Join(t.errs...), "failed to revoke leases on the mount; revoke-force them first")
	}
	return nil
}

// remount moves a mount (sys/remount). It runs to completion before
// answering; the migration id and status endpoint exist for the clients
// that poll them.
func (b *Broker) sysRemount(ctx context.Context, c *call) (*Response, error) {
	f := engine.Fields(c.req.Data)
	from, _, err := f.String("from")
	if err != nil {
		return nil, err
	}
	to, _, err := f.String("to")
	if err != nil {
		return nil, err
	}
	if from, err = normalizeMountPath(from); err != nil {
		return nil, err
	}
	if to, err = normalizeMountPath(to); err != nil {
		return nil, err
	}
	m, err := b.mounts.byPath(ctx, from)
	if err != nil {
		return nil, err
	}
	if m == nil || m.UUID == "sys" || m.UUID == "token" {
		return nil, fail.Invalidf("no matching mount at %q", from)
	}
	if m.RotatingTo != "" {
		return nil, errRotating(m)
	}
	if strings.HasPrefix(to, "auth/") != m.isAuth() {
		return nil, fail.Invalidf("cannot remount between auth methods and secrets engines")
	}
	for _, r := range reserved {
		if to == r || (r != "auth/" && strings.HasPrefix(to, r)) {
			return nil, fail.Invalidf("cannot remount to reserved path %q", to)
		}
	}
	// Check the target before revoking anything: a mistyped target must
	// not cost the mount its leases.
	if err := b.db.Tx(ctx, func(tx *store.Tx) error { return clash(ctx, tx, to) }); err != nil {
		return nil, err
	}
	id := randomID()
	status, msg := "success", ""
	if err := b.revokeMount(ctx, m); err != nil {
		status, msg = "failure", fail.Message(err)
	} else if err := b.mounts.move(ctx, m, to); err != nil {
		if !fail.Is(err, fail.Invalid) {
			return nil, err
		}
		status, msg = "failure", fail.Message(err)
	}
	b.forget(m.UUID)
	if _, err := b.db.Exec(ctx, `INSERT INTO broker_remounts (id, source, target, status, error, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		id, from, to, status, msg, store.Nanos(b.now())); err != nil {
		return nil, err
	}
	if status == "failure" {
		return nil, fail.Invalidf("%s", msg)
	}
	return &Response{Data: map[string]any{"migration_id": id}}, nil
}

func (b *Broker) sysRemountStatus(ctx context.Context, c *call) (*Response, error) {
	id := strings.TrimPrefix(c.rest, "remount/status/")
	var src, dst, status string
	err := b.db.QueryRow(ctx, `SELECT source, target, status FROM broker_remounts WHERE id = ?`, id).Scan(&src, &dst, &status)
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Response{Data: map[string]any{"migration_id": id, "migration_info": map[string]any{
		"source_mount": src, "target_mount": dst, "status": status}}}, nil
}

// uiMounts is the unauthenticated listing of mounts marked visible.
func (b *Broker) uiMounts(ctx context.Context, _ *call) (*Response, error) {
	all, err := b.mounts.list(ctx)
	if err != nil {
		return nil, err
	}
	auth, secret := map[string]any{}, map[string]any{}
	for _, m := range all {
		if m.Config.ListingVisibility != "unauth" {
			continue
		}
		if m.isAuth() {
			auth[strings.TrimPrefix(m.Path, "auth/")] = m.describe()
		} else {
			secret[m.Path] = m.describe()
		}
	}
	return &Response{Data: map[string]any{"auth": auth, "secret": secret}}, nil
}

// uiMount is the CLI's KV preflight: the mount holding p, shown to a token
// with any capability under it. A missing mount gets the same 403 as one
// the token may not see, as in Vault, so it cannot be used to find mounts.
func (b *Broker) uiMount(ctx context.Context, c *call) (*Response, error) {
	p := strings.TrimPrefix(strings.TrimPrefix(c.rest, "internal/ui/mounts/"), "/")
	m, _, err := b.mounts.route(ctx, p)
	if err != nil {
		return nil, err
	}
	if c.entry == nil {
		return nil, errPermissionDenied
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	denied := fail.Deniedf("preflight capability check returned 403, please ensure client's policies grant access to path %q", p)
	if m == nil || m.UUID == "sys" {
		return nil, denied
	}
	if c.acl != nil && !c.acl.AnyUnder(m.Path) {
		return nil, denied
	}
	d := m.describe()
	d["path"] = m.Path
	return &Response{Data: d}, nil
}
