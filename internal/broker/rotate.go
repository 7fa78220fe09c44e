package broker

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/runcred/runcred/internal/broker/acl"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// The broker's part of rotating a secrets mount's path: the steps a
// rotation (internal/platform/rotation) takes, each safe to repeat after a
// crash. The caller has authorized the rotation and audits each step.
// Only kv mounts rotate: their storage holds nothing that names the mount,
// so a copy under the new mount is the same secrets.

// isWrite reports whether op changes what a mount holds.
func isWrite(op engine.Operation) bool {
	return op == engine.Create || op == engine.Update || op == engine.Delete || op == engine.Patch
}

// errRotating refuses a write to a mount being rotated: the copy under the
// new path would not have it. Reads go on until the old mount is removed.
func errRotating(m *mount) error {
	return fail.Conflictf("mount %s is being rotated to %s; write there once the rotation is done", m.Path, m.RotatingTo)
}

// RotatableMount checks that path names a kv mount that can be rotated and
// returns its normalised path ("secret-abc/").
func (b *Broker) RotatableMount(ctx context.Context, path string) (string, error) {
	mp, err := normalizeMountPath(path)
	if err != nil {
		return "", err
	}
	m, err := b.mounts.byPath(ctx, mp)
	if err != nil {
		return "", err
	}
	if m == nil {
		return "", fail.NotFoundf("no mount at %q", mp)
	}
	if m.Type != "kv" {
		return "", fail.Invalidf("mount %s is a %s mount: only kv mounts can be rotated", mp, m.Type)
	}
	return mp, nil
}

// MountExists reports whether a mount is at path.
func (b *Broker) MountExists(ctx context.Context, path string) (bool, error) {
	b.mounts.invalidate()
	m, err := b.mounts.byPath(ctx, path)
	return m != nil, err
}

// CloneMount creates a mount at to with from's type, description, tuning
// and options. A kv mount already at to is taken as the clone made before
// a crash.
func (b *Broker) CloneMount(ctx context.Context, from, to string) error {
	b.mounts.invalidate()
	src, err := b.mounts.byPath(ctx, from)
	if err != nil {
		return err
	}
	dst, err := b.mounts.byPath(ctx, to)
	if err != nil {
		return err
	}
	if dst != nil {
		if src != nil && dst.Type != src.Type {
			return fail.Conflictf("path %s is already in use by a %s mount", to, dst.Type)
		}
		return nil
	}
	if src == nil {
		return fail.NotFoundf("no mount at %q", from)
	}
	m := &mount{UUID: randomID(), Path: to, Type: src.Type, Description: src.Description, Config: src.Config,
		Options: src.Options, CreatedAt: b.now().UTC(), Accessor: newAccessor(src.Type)}
	return b.mounts.create(ctx, m)
}

// FreezeMount marks the mount at path as being rotated to to, so writes to
// it are refused; an empty to lets writes in again. Other server nodes see
// it when they next re-read the mount table (Config.Refresh).
func (b *Broker) FreezeMount(ctx context.Context, path, to string) error {
	_, err := b.db.Exec(ctx, `UPDATE broker_mounts SET rotating_to = ? WHERE path = ?`, to, path)
	b.mounts.invalidate()
	return err
}

// CopyMount copies every storage entry of the mount at from to the mount at
// to, re-sealed for its new mount: for kv v2 every version of every key
// with its metadata, and the mount's settings. It returns the number of
// entries copied. Copying again overwrites with the same values.
func (b *Broker) CopyMount(ctx context.Context, from, to string) (int, error) {
	b.mounts.invalidate()
	src, err := b.mounts.byPath(ctx, from)
	if err != nil {
		return 0, err
	}
	dst, err := b.mounts.byPath(ctx, to)
	if err != nil {
		return 0, err
	}
	if src == nil || dst == nil {
		return 0, fail.NotFoundf("copying %s to %s: both mounts must exist", from, to)
	}
	rows, err := b.db.Query(ctx, `SELECT key FROM broker_storage WHERE mount_uuid = ? ORDER BY key`, src.UUID)
	if err != nil {
		return 0, err
	}
	keys, err := store.Strings(rows)
	if err != nil {
		return 0, err
	}
	in, out := b.storage(src.UUID, nil), b.storage(dst.UUID, nil)
	n := 0
	for _, k := range keys {
		v, err := in.Get(ctx, k)
		if err != nil {
			return n, err
		}
		if v == nil {
			continue // deleted meanwhile
		}
		if err := out.Put(ctx, k, v); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// mountNameRe matches a character that can be part of a mount name, so a
// rewrite replaces whole path segments only.
var mountNameRe = regexp.MustCompile(`[A-Za-z0-9_.-]`)

// ReplaceMountName replaces every occurrence of the mount name from ("secret-abc",
// no slashes) in s that is a whole path segment — not preceded or followed
// by a character a name may hold — with to. It reports whether s changed.
func ReplaceMountName(s, from, to string) (string, bool) {
	if from == "" || !strings.Contains(s, from) {
		return s, false
	}
	var out strings.Builder
	changed := false
	for {
		i := strings.Index(s, from)
		if i < 0 {
			out.WriteString(s)
			break
		}
		end := i + len(from)
		whole := (i == 0 || !mountNameRe.MatchString(s[i-1:i])) && (end == len(s) || !mountNameRe.MatchString(s[end:end+1]))
		out.WriteString(s[:i])
		if whole {
			out.WriteString(to)
			changed = true
		} else {
			out.WriteString(from)
		}
		s = s[end:]
	}
	return out.String(), changed
}

// mountName is a mount path without its slashes.
func mountName(path string) string { return strings.Trim(path, "/") }

// RewritePolicies replaces the mount from by to in every ACL policy that
// names it, in one transaction: every token's access moves to the new path
// at once, or nothing changes. It returns the names of the policies
// rewritten (none on a repeat).
func (b *Broker) RewritePolicies(ctx context.Context, from, to string) ([]string, error) {
	var names []string
	err := b.db.Tx(ctx, func(tx *store.Tx) error {
		names = nil
		rows, err := tx.Query(ctx, `SELECT name, policy FROM broker_policies ORDER BY name`)
		if err != nil {
			return err
		}
		type pol struct{ name, body string }
		var pols []pol
		for rows.Next() {
			var p pol
			if err := rows.Scan(&p.name, &p.body); err != nil {
				rows.Close()
				return err
			}
			pols = append(pols, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range pols {
			body, changed := ReplaceMountName(p.body, mountName(from), mountName(to))
			if !changed {
				continue
			}
			if _, err := acl.Parse(p.name, body); err != nil {
				return fail.Wrap(fail.Invalid, err, "policy "+p.name+" does not parse once rewritten")
			}
			// The old body in the WHERE: a policy written meanwhile is not
			// overwritten; the step fails and is repeated.
			res, err := tx.Exec(ctx, `UPDATE broker_policies SET policy = ?, updated_at = ? WHERE name = ? AND policy = ?`,
				body, store.Nanos(b.now()), p.name, p.body)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fail.Conflictf("policy %s changed during the rotation; try again", p.name)
			}
			names = append(names, p.name)
		}
		return nil
	})
	b.policies.invalidate()
	return names, err
}

// PoliciesNaming returns the ACL policies that name the mount at path.
func (b *Broker) PoliciesNaming(ctx context.Context, path string) ([]string, error) {
	rows, err := b.db.Query(ctx, `SELECT name, policy FROM broker_policies ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, body string
		if err := rows.Scan(&name, &body); err != nil {
			return nil, err
		}
		if _, ok := ReplaceMountName(body, mountName(path), ""); ok {
			out = append(out, name)
		}
	}
	return out, rows.Err()
}

// RevokeMountLeases revokes every lease issued under the mount at path and
// returns how many were revoked. A lease whose revocation fails stays, and
// the error says so.
func (b *Broker) RevokeMountLeases(ctx context.Context, path string) (int, error) {
	b.mounts.invalidate()
	m, err := b.mounts.byPath(ctx, path)
	if err != nil || m == nil {
		return 0, err
	}
	t, err := b.revokeWhere(ctx, false, "mount rotated", `mount_uuid = ?`, m.UUID)
	if err != nil {
		return t.revoked, err
	}
	if t.failed > 0 {
		return t.revoked, fail.Wrap(fail.Unavailable, errors.Join(t.errs...), "a lease under "+path+" could not be revoked; it is retried")
	}
	return t.revoked, nil
}

// RemoveMount disables the mount at path (its leases revoked, its storage
// removed); a missing mount is already removed.
func (b *Broker) RemoveMount(ctx context.Context, path string) error {
	b.mounts.invalidate()
	m, err := b.mounts.byPath(ctx, path)
	if err != nil || m == nil {
		return err
	}
	return b.disableMount(ctx, m)
}
