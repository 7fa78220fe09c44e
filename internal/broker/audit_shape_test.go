package broker_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store/storetest"
)

// TestAuditRecordShape pins the keys, their order and which are left out
// of the broker's records in Vault's audit shape: a KV write and read by a
// token with a TTL, a token create (a response that issues a token), a
// request refused for a bad token, and a file device's line. Values are
// masked: strings as "S", numbers as 0.
func TestAuditRecordShape(t *testing.T) {
	s := start(t, storetest.Open(t, storetest.SQLiteURL(t)), options{})
	ctx := context.Background()
	logPath := filepath.Join(s.AuditDir, "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &vault.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().Mount("kv", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	c := s.client(t, s.policyToken(t, "kv", `path "kv/data/a" { capabilities = ["create", "update", "read"] }`))
	if _, err := c.KVv2("kv").Put(ctx, "a", map[string]any{"x": "y", "n": 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("kv").Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}, Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	_, _ = s.client(t, "hvs.not-a-token").KVv2("kv").Get(ctx, "a")

	const (
		auth     = `"auth":{"accessor":"S","client_token":"S","display_name":"S","metadata":{},"num_uses":0,"policies":["S","S"],"token_issue_time":"S","token_policies":["S","S"],"token_ttl":0,"token_type":"S"}`
		rootAuth = `"auth":{"accessor":"S","client_token":"S","display_name":"S","metadata":{},"num_uses":0,"policies":["S"],"token_issue_time":"S","token_policies":["S"],"token_type":"S"}`
		request  = `"client_token":"S","client_token_accessor":"S",`
		rest     = `"headers":{"user-agent":"S"},"id":"S","mount_accessor":"S","mount_point":"S","mount_type":"S","namespace":{"id":"S"},"operation":"S","path":"S","remote_address":"S"}`
		mount    = `"mount_accessor":"S","mount_point":"S","mount_type":"S"`
	)
	want := map[string]string{
		"kv write request":  `{` + auth + `,"request":{` + request + `"data":{"data":{"n":0,"x":"S"}},` + rest + `,"type":"S"}`,
		"kv write response": `{` + auth + `,"request":{` + request + `"data":{"data":{"n":0,"x":"S"}},` + rest + `,"response":{"data":{"created_time":"S","custom_metadata":null,"deletion_time":"S","destroyed":false,"version":0},` + mount + `},"type":"S"}`,
		"kv read response":  `{` + auth + `,"request":{` + request + rest + `,"response":{"data":{"data":{"n":0,"x":"S"},"metadata":{"created_time":"S","custom_metadata":null,"deletion_time":"S","destroyed":false,"version":0}},` + mount + `},"type":"S"}`,
		"token create response": `{` + rootAuth + `,"request":{` + request + `"data":{"display_name":"S","entity_alias":"S","meta":{"k":"S"},"num_uses":0,"policies":["S"],"type":"S"},` + rest +
			`,"response":{"auth":{"accessor":"S","client_token":"S","metadata":{"k":"S"},"policies":["S"],"token_policies":["S"],"token_ttl":0,"token_type":"S"},` + mount + `},"type":"S"}`,
		"refused request": `{"auth":null,"error":"S","request":{` + rest + `,"type":"S"}`,
	}
	got := map[string]string{}
	rows, err := s.DB.Query(ctx, `SELECT type, body FROM audit_log WHERE type IN ('broker.request', 'broker.response') ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ, body string
		if err := rows.Scan(&typ, &body); err != nil {
			t.Fatal(err)
		}
		name := ""
		switch {
		case strings.Contains(body, `"error"`) && strings.Contains(body, `"auth":null`):
			name = "refused request"
		case strings.Contains(body, `"operation":"read","path":"kv/data/a"`):
			name = "kv read"
		case strings.Contains(body, `"path":"kv/data/a"`):
			name = "kv write"
		case strings.Contains(body, `"path":"auth/token/create"`):
			name = "token create"
		default:
			continue
		}
		if name != "refused request" {
			name += " " + strings.TrimPrefix(typ, "broker.")
		}
		got[name] = masked(body)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s record:\n got %s\nwant %s", name, got[name], w)
		}
	}
	// A file device's line is the record with its time, in key order.
	lines := readAuditFile(t, logPath)
	last := masked(lines[len(lines)-1])
	if !strings.HasPrefix(last, `{"auth":null,"error":"S","request":{`) || !strings.HasSuffix(last, `},"time":"S","type":"S"}`) {
		t.Errorf("file device line: %s", last)
	}
}

var jsonScalar = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*`)

// masked is a JSON text with every string value replaced by "S" and every
// number by 0; object keys stay.
func masked(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range jsonScalar.FindAllStringIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		tok := s[m[0]:m[1]]
		switch {
		case tok[0] == '"' && strings.HasPrefix(strings.TrimLeft(s[m[1]:], " "), ":"):
			b.WriteString(tok)
		case tok[0] == '"':
			b.WriteString(`"S"`)
		default:
			b.WriteString("0")
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
