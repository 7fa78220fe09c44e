package broker

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// sysHealth answers sys/health; sysSealStatus sys/seal-status.
func (b *Broker) sysHealth(_ context.Context, c *call) (*Response, error) {
	return b.health(engine.Fields(c.req.Data)), nil
}

func (b *Broker) sysSealStatus(context.Context, *call) (*Response, error) {
	return &Response{Raw: b.sealStatus()}, nil
}

// sysLeader answers sys/leader, which the vault CLI's status command reads
// after sys/seal-status. runcred has no standby: every node serves every
// request from the shared database itself, so the node asked is always
// active. On SQLite there is one node and no HA, and the answer is Vault's
// for a server without HA; on PostgreSQL several nodes may share the
// database, and each answers as the active node at its own address.
func (b *Broker) sysLeader(context.Context, *call) (*Response, error) {
	out := map[string]any{
		"ha_enabled": false, "is_self": false, "active_time": time.Time{}.Format(time.RFC3339),
		"leader_address": "", "leader_cluster_address": "",
		"performance_standby": false, "performance_standby_last_remote_wal": 0,
	}
	if b.db.Dialect() == store.Postgres {
		out["ha_enabled"], out["is_self"] = true, true
		out["active_time"] = b.started.Format(time.RFC3339Nano)
		out["leader_address"] = b.cfg.APIAddr
	}
	return &Response{Raw: out}, nil
}

// policyNames answers LIST sys/policies/acl and the older GET sys/policy.
func (b *Broker) policyNames(ctx context.Context, c *call) (*Response, error) {
	names, err := b.policies.names(ctx)
	if err != nil {
		return nil, err
	}
	if c.rest == "policy" {
		return &Response{Data: map[string]any{"policies": names, "keys": names}}, nil
	}
	return &Response{Data: map[string]any{"keys": names}}, nil
}

func (b *Broker) auditHash(_ context.Context, c *call) (*Response, error) {
	in, _, err := engine.Fields(c.req.Data).String("input")
	if err != nil {
		return nil, err
	}
	return &Response{Data: map[string]any{"hash": b.hmac(in)}}, nil
}

// health answers sys/health with Vault's status codes and their overrides.
func (b *Broker) health(f engine.Fields) *Response {
	code := http.StatusOK
	if s, ok, _ := f.String("activecode"); ok {
		if n, err := strconv.Atoi(s); err == nil && n >= 100 && n < 600 {
			code = n
		}
	}
	return &Response{Status: code, Raw: map[string]any{
		"initialized": true, "sealed": false, "standby": false, "performance_standby": false,
		"replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
		"server_time_utc": b.now().Unix(), "version": Version, "cluster_name": b.cfg.ClusterName, "cluster_id": b.clusterID,
	}}
}

func (b *Broker) sealStatus() map[string]any {
	return map[string]any{
		"type": "shamir", "initialized": true, "sealed": false, "t": 1, "n": 1, "progress": 0, "nonce": "",
		"version": Version, "build_date": "", "migration": false, "recovery_seal": false, "storage_type": b.db.Dialect().String(),
		"cluster_name": b.cfg.ClusterName, "cluster_id": b.clusterID,
	}
}

func (b *Broker) policyOp(ctx context.Context, op engine.Operation, name string, f engine.Fields, field string) (*Response, error) {
	name = strings.TrimSuffix(name, "/")
	switch op {
	case engine.Read:
		if name == "root" {
			return &Response{Data: map[string]any{"name": "root", field: ""}}, nil
		}
		text, ok, err := b.policies.get(ctx, strings.ToLower(strings.TrimSpace(name)))
		if err != nil || !ok {
			return nil, err
		}
		return &Response{Data: map[string]any{"name": name, field: text}}, nil
	case engine.Update, engine.Create:
		text, _, err := f.String(field)
		if err != nil {
			return nil, err
		}
		if text == "" && field == "rules" {
			text, _, _ = f.String("policy")
		}
		if text == "" {
			return nil, fail.Invalidf("'policy' parameter not supplied or empty")
		}
		if dec, err := base64.StdEncoding.DecodeString(text); err == nil && len(dec) > 0 {
			text = string(dec)
		}
		return nil, b.policies.put(ctx, name, text)
	case engine.Delete:
		return nil, b.policies.remove(ctx, name)
	}
	return nil, fail.Unsupportedf("unsupported operation")
}

// capabilities answers sys/capabilities-self (the caller's capabilities) and
// sys/capabilities (those of the token in "token") on each of "paths" (or
// "path").
func (b *Broker) capabilities(ctx context.Context, c *call) (*Response, error) {
	f := engine.Fields(c.req.Data)
	paths, _, err := f.Strings("paths")
	if err != nil {
		return nil, err
	}
	if p, ok, _ := f.String("path"); ok && len(paths) == 0 {
		paths = []string{p}
	}
	if len(paths) == 0 {
		return nil, fail.Invalidf("missing paths")
	}
	root, a := c.entry != nil && c.acl == nil, c.acl
	if c.rest == "capabilities" { // the capabilities of the token named, not the caller's
		tok, _, err := f.String("token")
		if err != nil {
			return nil, err
		}
		e, err := b.tokens.Lookup(ctx, secret.FromString(tok))
		if tok == "" || fail.Is(err, fail.Unauthenticated) {
			return nil, fail.Invalidf("invalid token")
		}
		if err != nil {
			return nil, err
		}
		if root = slices.Contains(e.Policies, "root"); !root {
			if a, err = b.policies.acl(ctx, e.Policies); err != nil {
				return nil, err
			}
		}
	}
	data := map[string]any{}
	var all []string
	for _, p := range paths {
		caps := []string{"root"}
		if !root {
			caps = a.Capabilities(strings.TrimPrefix(p, "/"))
		}
		data[p] = caps
		all = append(all, caps...)
	}
	if len(paths) == 1 {
		data["capabilities"] = all
	}
	return &Response{Data: data}, nil
}

func (b *Broker) listDevices(ctx context.Context, _ *call) (*Response, error) {
	all, err := b.devices.list(ctx)
	if err != nil {
		return nil, err
	}
	data := map[string]any{}
	for _, d := range all {
		data[d.Path+"/"] = map[string]any{"type": d.Type, "description": d.Description, "options": d.Options, "path": d.Path + "/", "local": false}
	}
	return &Response{Data: data}, nil
}

// deviceOp serves sys/audit/:path.
func (b *Broker) deviceOp(ctx context.Context, c *call) (*Response, error) {
	op, f := c.op, engine.Fields(c.req.Data)
	p := strings.Trim(strings.TrimPrefix(c.rest, "audit/"), "/")
	if p == "" {
		return nil, fail.Invalidf("missing audit device path")
	}
	switch op {
	case engine.Update, engine.Create:
		typ, _, err := f.String("type")
		if err != nil {
			return nil, err
		}
		desc, _, _ := f.String("description")
		opts, _, err := f.StringMap("options")
		if err != nil {
			return nil, err
		}
		return nil, b.devices.enable(ctx, device{Path: p, Type: typ, Description: desc, Options: opts})
	case engine.Delete:
		return nil, b.devices.disable(ctx, p)
	}
	return nil, fail.Unsupportedf("unsupported operation")
}

func durationSeconds(d time.Duration) int64 { return int64(d / time.Second) }
