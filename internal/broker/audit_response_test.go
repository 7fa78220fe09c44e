package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestUnauditedResponseIsWithheldAndRevoked: when the log takes a request
// record but not its response record, the handler has run and issued
// something; the caller gets a 500 and nothing issued without a record
// survives: a token, stored in the response record's transaction, never
// was; a lease is revoked.
func TestUnauditedResponseIsWithheldAndRevoked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := start(t, db, options{})
		mountLeases(t, s, "withheld")
		tokensBefore := countTokens(t, db)
		leasesBefore := countLeases(t, db)

		refuseInserts(t, db, "audit_log", "broker.response")
		if _, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}}); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("token create with its response unaudited: %v", err)
		}
		requestRecorded(t, s, "auth/token/create")
		if _, err := s.Client.Logical().Read("withheld/creds/x"); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("lease read with its response unaudited: %v", err)
		}
		requestRecorded(t, s, "withheld/creds/x")
		allowInserts(t, db, "audit_log")

		if n := countTokens(t, db); n != tokensBefore {
			t.Errorf("%d tokens after a withheld token response, want %d: the withheld token survives", n, tokensBefore)
		}
		if n := countLeases(t, db); n != leasesBefore {
			t.Errorf("%d leases after a withheld lease response, want %d: the withheld lease survives", n, leasesBefore)
		}
		// The lease was issued, then revoked through its engine, and the
		// revocation recorded with its reason.
		recs, err := s.Audit.Tail(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		var revokes []string
		for _, r := range recs {
			if r.Type == "broker.lease.revoke" || r.Type == "broker.token.revoke" {
				var body struct {
					Leases []struct {
						LeaseID string `json:"lease_id"`
					} `json:"leases"` // a lease.revoke record's; a token.revoke's is a count
					Reason string `json:"reason"`
				}
				var err error
				if r.Type == "broker.lease.revoke" {
					err = json.Unmarshal(r.Body, &body)
				} else {
					err = json.Unmarshal(r.Body, &struct {
						Reason *string `json:"reason"`
					}{&body.Reason})
				}
				if err != nil {
					t.Fatal(err)
				}
				if body.Reason == "response not audited" {
					revokes = append(revokes, r.Type)
					if r.Type == "broker.lease.revoke" && (len(body.Leases) != 1 || !testLeases.wasRevoked(body.Leases[0].LeaseID)) {
						t.Errorf("withheld lease %v not revoked through its engine", body.Leases)
					}
				}
			}
		}
		if strings.Join(revokes, ",") != "broker.lease.revoke" {
			t.Errorf("revocations recorded for withheld responses: %v", revokes)
		}
		if rep, err := s.Audit.Verify(ctx); err != nil || rep.Broken != nil {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// TestTokenNotStoredIsAnAuditedError: a token the database refuses to store
// is not issued: the caller gets an error, the response record says so and
// carries no token, and the chain verifies.
func TestTokenNotStoredIsAnAuditedError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := start(t, db, options{})
		tokensBefore := countTokens(t, db)
		refuseInserts(t, db, "tokens", "")
		if _, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}}); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("token create with tokens refused: %v, want a 500", err)
		}
		if n := countTokens(t, db); n != tokensBefore {
			t.Errorf("%d tokens, want %d", n, tokensBefore)
		}
		recs, err := s.Audit.Tail(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		var last struct {
			Error    string
			Request  struct{ Path string }
			Response *json.RawMessage
		}
		if len(recs) != 1 || recs[0].Type != "broker.response" {
			t.Fatalf("last record %+v, want the response record", recs)
		}
		if err := json.Unmarshal(recs[0].Body, &last); err != nil {
			t.Fatal(err)
		}
		if last.Request.Path != "auth/token/create" || last.Error == "" || last.Response != nil {
			t.Errorf("response record %s: want the error of auth/token/create and no response", recs[0].Body)
		}
		if rep, err := s.Audit.Verify(ctx); err != nil || rep.Broken != nil {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// TestPureReadIsRecordedWithItsResponse: a KV read's request record is
// written with its response's, in one commit and in order; when the log
// refuses the response record, the read is withheld and neither record
// exists. A token with a use limit spends a use, which must be recorded
// first: its request record is written before the read runs.
func TestPureReadIsRecordedWithItsResponse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := start(t, db, options{})
		kv := mountKV(t, s)
		if _, err := kv.Put(ctx, "app", map[string]any{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		recs, err := s.Audit.Tail(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Type != "broker.request" || recs[1].Type != "broker.response" || !recs[0].Time.Equal(recs[1].Time) {
			t.Fatalf("last records %+v, want the read's request and response, committed together", recs)
		}
		for _, r := range recs {
			var body struct {
				Request struct{ Path, Operation string }
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Request.Path != "secret/data/app" || body.Request.Operation != "read" {
				t.Errorf("%s record of %+v, want the read of secret/data/app", r.Type, body.Request)
			}
		}

		before := countRows(t, db, "audit_log")
		refuseInserts(t, db, "audit_log", "broker.response")
		if sec, err := kv.Get(ctx, "app"); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("KV read with its response unaudited: %+v, %v; want a 500", sec, err)
		}
		if n := countRows(t, db, "audit_log"); n != before {
			t.Errorf("%d records after a withheld read, want %d: none of it recorded", n, before)
		}

		allowInserts(t, db, "audit_log")
		limited, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"root"}, NumUses: 3})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Client.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(limited.Auth.ClientToken)
		refuseInserts(t, db, "audit_log", "broker.response")
		if _, err := c.KVv2("secret").Get(ctx, "app"); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("KV read by a limited token with its response unaudited: %v; want a 500", err)
		}
		requestRecorded(t, s, "secret/data/app")
		allowInserts(t, db, "audit_log")
	})
}

// TestRequestRecordPrecedesChange: on a path whose request record waits
// for its first change, a log that refuses request records refuses the
// request before anything changes: a KV write stores nothing, a KV read and
// an AppRole login whose secret ID has a use limit return nothing, and the
// use is not spent.
func TestRequestRecordPrecedesChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := start(t, db, options{})
		kv := mountKV(t, s)
		if _, err := kv.Put(ctx, "app", map[string]any{"k": "v1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Client.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Client.Logical().Write("auth/approle/role/r", map[string]any{"secret_id_num_uses": 2}); err != nil {
			t.Fatal(err)
		}
		role, err := s.Client.Logical().Read("auth/approle/role/r/role-id")
		if err != nil {
			t.Fatal(err)
		}
		sid, err := s.Client.Logical().Write("auth/approle/role/r/secret-id", nil)
		if err != nil {
			t.Fatal(err)
		}
		login := map[string]any{"role_id": role.Data["role_id"], "secret_id": sid.Data["secret_id"]}
		anon, err := s.Client.Clone()
		if err != nil {
			t.Fatal(err)
		}
		anon.ClearToken()

		refuseInserts(t, db, "audit_log", "broker.request")
		if _, err := kv.Put(ctx, "app", map[string]any{"k": "v2"}); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("KV write with its request unaudited: %v; want a 500", err)
		}
		if sec, err := kv.Get(ctx, "app"); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("KV read with its request unaudited: %+v, %v; want a 500", sec, err)
		}
		if sec, err := anon.Logical().Write("auth/approle/login", login); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("AppRole login with its request unaudited: %+v, %v; want a 500", sec, err)
		}
		allowInserts(t, db, "audit_log")

		sec, err := kv.Get(ctx, "app")
		if err != nil || sec.Data["k"] != "v1" {
			t.Fatalf("after a refused write: %+v, %v; want v1 unchanged", sec, err)
		}
		for i := range 2 { // both uses are left
			if _, err := anon.Logical().Write("auth/approle/login", login); err != nil {
				t.Fatalf("login %d after a refused login: %v", i+1, err)
			}
		}
		if _, err := anon.Logical().Write("auth/approle/login", login); err == nil {
			t.Fatal("a third login with a secret ID of two uses succeeded")
		}
		if rep, err := s.Audit.Verify(ctx); err != nil || rep.Broken != nil {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// requestRecorded asserts that the newest broker record is the request
// record for path: the request was let through, only its response failed.
func requestRecorded(t *testing.T, s *server, path string) {
	t.Helper()
	var last struct {
		Type    string
		Request struct{ Path string }
	}
	recs, err := s.Audit.Tail(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Type, "broker.request") || strings.HasPrefix(r.Type, "broker.response") {
			if err := json.Unmarshal(r.Body, &last); err != nil {
				t.Fatal(err)
			}
			last.Type = r.Type
		}
	}
	if last.Type != "broker.request" || last.Request.Path != path {
		t.Fatalf("last broker record is %s for %q, want the request record for %q", last.Type, last.Request.Path, path)
	}
}

func countTokens(t *testing.T, db *store.DB) int { return countRows(t, db, "tokens") }
func countLeases(t *testing.T, db *store.DB) int { return countRows(t, db, "leases") }

func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// refuseInserts makes the database refuse inserts into table, as a full
// disk would: those of audit records of type typ, or, when typ is empty,
// every one. allowInserts takes them again.
func refuseInserts(t *testing.T, db *store.DB, table, typ string) {
	t.Helper()
	when, plWhen := "", "TRUE"
	if typ != "" {
		when, plWhen = fmt.Sprintf("WHEN NEW.type = '%s'", typ), fmt.Sprintf("NEW.type = '%s'", typ)
	}
	stmts := []string{fmt.Sprintf(`CREATE TRIGGER refuse_%[1]s BEFORE INSERT ON %[1]s %[2]s BEGIN SELECT RAISE(ABORT, 'disk full'); END`, table, when)}
	if db.Dialect() == store.Postgres {
		stmts = []string{
			fmt.Sprintf(`CREATE OR REPLACE FUNCTION refuse_%s() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF %s THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$`, table, plWhen),
			fmt.Sprintf(`CREATE TRIGGER refuse_%[1]s BEFORE INSERT ON %[1]s FOR EACH ROW EXECUTE FUNCTION refuse_%[1]s()`, table),
		}
	}
	for _, q := range stmts {
		if _, err := db.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

func allowInserts(t *testing.T, db *store.DB, table string) {
	t.Helper()
	q := `DROP TRIGGER refuse_` + table
	if db.Dialect() == store.Postgres {
		q += ` ON ` + table
	}
	if _, err := db.Exec(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}
