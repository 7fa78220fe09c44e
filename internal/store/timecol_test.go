package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// secondsSchema is the last schema version whose foundation and broker
// tables kept unix seconds.
const secondsSchema = 8

// A database written by a runcred that kept seconds reads back the same
// times once migrated, NULLs stay NULL, and the audit log, which always
// kept nanoseconds (its hash chain covers them), is untouched.
func TestMigrateSecondsToNanos(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := b.NewURL(t)
			base := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) }
			sec := func(i int) int64 { return at(i).Unix() }

			old, err := store.OpenAt(ctx, url, secondsSchema)
			if err != nil {
				t.Fatal(err)
			}
			for _, ins := range []struct {
				q    string
				args []any
			}{
				{`INSERT INTO seal_keys (version, root_key_id, wrapped, created_at) VALUES (1, 'r', ?, ?)`, []any{[]byte{1}, sec(1)}},
				{`INSERT INTO secrets (name, sealed, created_at) VALUES ('s', ?, ?)`, []any{[]byte{1}, sec(2)}},
				{`INSERT INTO keyring (id, version, sealed, updated_at) VALUES (1, 1, ?, ?)`, []any{[]byte{1}, sec(3)}},
				{`INSERT INTO tokens (id, accessor, parent_id, policies, meta, display_name, created_at, expires_at,
					path, ttl, explicit_max_ttl, max_expires_at, period, num_uses, renewable, bound_cidrs, type, last_renewal)
					VALUES ('t1', 'a1', NULL, '["default"]', '{}', 'token', ?, ?, 'auth/token/create', 3600, 0, ?, 0, 0, 1, '', 'service', ?)`,
					[]any{sec(4), sec(6), sec(7), sec(5)}},
				{`INSERT INTO tokens (id, accessor, parent_id, policies, meta, display_name, created_at, expires_at,
					path, ttl, explicit_max_ttl, max_expires_at, period, num_uses, renewable, bound_cidrs, type, last_renewal)
					VALUES ('t2', 'a2', NULL, '["root"]', '{}', 'root', ?, NULL, '', 0, 0, NULL, 0, 0, 0, '', 'service', NULL)`,
					[]any{sec(4)}},
				{`INSERT INTO broker_mounts (uuid, path, type, accessor, description, config, options, created_at)
					VALUES ('m', 'kv/', 'kv', 'kv_1', '', '{}', '{}', ?)`, []any{sec(8)}},
				{`INSERT INTO broker_policies (name, policy, updated_at) VALUES ('p', '', ?)`, []any{sec(9)}},
				{`INSERT INTO leases (id, mount_uuid, path, token_id, issued_at, expires_at, max_expires_at, last_renewal,
					renewable, internal, meta, state, attempts, next_attempt, last_error)
					VALUES ('l1', 'm', 'creds/x', 't1', ?, ?, ?, ?, 1, ?, '{}', 'active', 2, ?, 'e')`,
					[]any{sec(10), sec(12), sec(13), sec(11), []byte{1}, sec(14)}},
				{`INSERT INTO leases (id, mount_uuid, path, token_id, issued_at, expires_at, max_expires_at, last_renewal,
					renewable, internal, meta, state, attempts, next_attempt, last_error)
					VALUES ('l2', 'm', 'creds/x', NULL, ?, ?, ?, NULL, 0, ?, '{}', 'active', 0, 0, '')`,
					[]any{sec(10), sec(12), sec(13), []byte{1}}},
				{`INSERT INTO broker_audit_devices (path, type, description, options, created_at) VALUES ('file/', 'file', '', '{}', ?)`, []any{sec(15)}},
				{`INSERT INTO broker_remounts (id, source, target, status, error, created_at) VALUES ('r', 'a/', 'b/', 'success', '', ?)`, []any{sec(16)}},
			} {
				if _, err := old.Exec(ctx, ins.q, ins.args...); err != nil {
					t.Fatalf("%s: %v", ins.q, err)
				}
			}
			for i := range 3 { // audit rows always held nanoseconds
				if _, err := old.Exec(ctx, `INSERT INTO audit_log (seq, time, type, body, prev_hash, hash) VALUES (?, ?, 'test', ?, ?, ?)`,
					i+1, store.Nanos(at(17).Add(123456789)), fmt.Sprintf(`{"n":%d}`, i), fmt.Sprint("h", i), fmt.Sprint("h", i+1)); err != nil {
					t.Fatal(err)
				}
			}
			before := readAudit(t, old)
			old.Close()

			db := storetest.Open(t, url)
			type want = map[string][]*time.Time
			tm := func(i int) *time.Time { v := at(i); return &v }
			for _, c := range []struct {
				table, key, cols string
				rows             want
			}{
				{"seal_keys", "version", "created_at", want{"1": {tm(1)}}},
				{"secrets", "name", "created_at", want{"s": {tm(2)}}},
				{"keyring", "id", "updated_at", want{"1": {tm(3)}}},
				{"tokens", "id", "created_at, expires_at, max_expires_at, last_renewal", want{
					"t1": {tm(4), tm(6), tm(7), tm(5)}, "t2": {tm(4), nil, nil, nil}}},
				{"broker_mounts", "uuid", "created_at", want{"m": {tm(8)}}},
				{"broker_policies", "name", "updated_at", want{"p": {tm(9)}}},
				{"leases", "id", "issued_at, expires_at, max_expires_at, last_renewal, next_attempt", want{
					"l1": {tm(10), tm(12), tm(13), tm(11), tm(14)}, "l2": {tm(10), tm(12), tm(13), nil, &time.Time{}}}},
				{"broker_audit_devices", "path", "created_at", want{"file/": {tm(15)}}},
				{"broker_remounts", "id", "created_at", want{"r": {tm(16)}}},
			} {
				got := readTimes(t, db, c.table, c.key, c.cols)
				if !reflect.DeepEqual(got, c.rows) {
					t.Errorf("%s after migration:\n got  %s\n want %s", c.table, show(got), show(c.rows))
				}
			}

			if after := readAudit(t, db); !reflect.DeepEqual(after, before) {
				t.Errorf("audit rows changed by the migration:\n got  %q\n want %q", after, before)
			}
		})
	}
}

// readTimes returns each row's time columns by key; NULL is nil.
func readTimes(t *testing.T, db *store.DB, table, key, cols string) map[string][]*time.Time {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT `+key+`, `+cols+` FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := strings.Count(cols, ",") + 1
	out := map[string][]*time.Time{}
	for rows.Next() {
		var k string
		vals := make([]*int64, n)
		dest := []any{&k}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			var p *time.Time
			if v != nil {
				tm := store.Time(*v)
				if *v == 0 {
					tm = time.Time{} // "not scheduled", not 1970
				}
				p = &tm
			}
			out[k] = append(out[k], p)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readAudit returns every audit row, as stored.
func readAudit(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT seq, time, type, body, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var seq, tm int64
		var typ, body, prev, hash string
		if err := rows.Scan(&seq, &tm, &typ, &body, &prev, &hash); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(seq, tm, typ, body, prev, hash))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func show(m map[string][]*time.Time) string {
	s := ""
	for k, ts := range m {
		s += k + ":"
		for _, t := range ts {
			if t == nil {
				s += " NULL"
			} else {
				s += " " + t.Format(time.RFC3339Nano)
			}
		}
		s += fmt.Sprintf(" (%d) ", len(ts))
	}
	return s
}
