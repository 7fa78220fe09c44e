package approle

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Fixed credentials, so seeds mean the same in every fuzz worker process.
const (
	fuzzRoleID   = "fuzz-role-id-0001"
	fuzzSecretID = "fuzz-secret-id-0001"
)

// shape turns a fuzz string into one of the types a JSON body can carry.
func shape(s string, kind uint8) any {
	switch kind % 7 {
	case 1:
		return json.Number(s)
	case 2:
		return float64(len(s))
	case 3:
		return []any{s}
	case 4:
		return map[string]any{"v": s}
	case 5:
		return nil
	case 6:
		return len(s)%2 == 0
	}
	return s
}

// FuzzLogin sends arbitrary role_id/secret_id values of any type: a login
// never panics, never answers with both a response and an error, and yields
// an Auth only for the real role_id and secret_id.
func FuzzLogin(f *testing.F) {
	h := newHarness(f)
	h.createRole("r", map[string]any{"role_id": fuzzRoleID, "secret_id_bound_cidrs": "10.0.0.0/8"})
	h.must(engine.Update, "role/r/custom-secret-id", map[string]any{"secret_id": fuzzSecretID})
	h.createRole("limited", map[string]any{"secret_id_num_uses": 1})
	limitedID := h.roleID("limited")
	f.Add(fuzzRoleID, fuzzSecretID, uint8(0), uint8(0))
	f.Add(" "+fuzzRoleID, fuzzSecretID+"\t", uint8(1), uint8(0))
	f.Add(fuzzRoleID, fuzzRoleID, uint8(0), uint8(0))
	f.Add(limitedID, fuzzSecretID, uint8(0), uint8(3))
	f.Add("", "", uint8(5), uint8(4))
	f.Fuzz(func(t *testing.T, roleID, secretID string, rk, sk uint8) {
		data := map[string]any{"role_id": shape(roleID, rk), "secret_id": shape(secretID, sk)}
		req := &engine.Request{Operation: engine.Update, Path: "login", Data: data, Storage: h.st, RemoteAddr: netip.MustParseAddr(defaultAddr)}
		resp, err := engine.Serve(context.Background(), h.b.Routes(), req)
		if err != nil && resp != nil {
			t.Fatalf("response and error: %+v, %v", resp, err)
		}
		gotRole, _, _ := engine.Fields(data).String("role_id")
		gotSecret, _, _ := engine.Fields(data).String("secret_id")
		legit := strings.TrimSpace(gotRole) == fuzzRoleID && strings.TrimSpace(gotSecret) == fuzzSecretID
		if resp != nil && resp.Auth != nil && !legit {
			t.Fatalf("login with role_id %q secret_id %q produced %+v", gotRole, gotSecret, resp.Auth)
		}
		if legit && err != nil {
			t.Fatalf("real credentials refused: %v", err)
		}
		if err != nil && fail.KindOf(err) != fail.Invalid {
			t.Fatalf("login error of kind %v: %v", fail.KindOf(err), err)
		}
	})
}

// decodeBody decodes a fuzzed JSON body as the core would, or reports false.
func decodeBody(body []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var data map[string]any
	if dec.Decode(&data) != nil || data == nil {
		return nil, false
	}
	return data, true
}

// FuzzRoleWrite writes arbitrary role bodies: a refusal is a 400 that
// stores nothing; an accepted role is valid, canonical and indexed.
func FuzzRoleWrite(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"bind_secret_id":false,"secret_id_bound_cidrs":"10.0.0.0/8, ::ffff:1.2.3.4/128"}`,
		`{"token_ttl":"1h","token_max_ttl":3600,"token_policies":["A"," b "],"policies":"c"}`,
		`{"token_type":"batch","token_period":"10s","token_num_uses":"3"}`,
		`{"role_id":"x","secret_id_num_uses":-1,"secret_id_ttl":"7d","local_secret_ids":"true"}`,
		`{"token_bound_cidrs":[1,"2001:db8::/129"],"period":1e3,"token_explicit_max_ttl":"-1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data, ok := decodeBody(body)
		if !ok {
			return
		}
		h := newHarness(t)
		req := &engine.Request{Operation: engine.Create, Path: "role/r", Data: data, Storage: h.st}
		resp, err := engine.Serve(context.Background(), h.b.Routes(), req)
		if err != nil {
			if resp != nil || fail.KindOf(err) != fail.Invalid || len(h.st.Keys()) != 0 {
				t.Fatalf("refusal: resp %+v, err %v (%v), stored %v", resp, err, fail.KindOf(err), h.st.Keys())
			}
			return
		}
		r, err := loadRole(context.Background(), h.st, "r")
		if err != nil || r == nil {
			t.Fatalf("accepted role not stored: %v", err)
		}
		if _, err := r.validate(h.b.maxLease); err != nil {
			t.Fatalf("invalid role stored: %v", err)
		}
		for _, list := range [][]string{r.SecretIDBoundCIDRs, r.TokenBoundCIDRs} {
			again, err := engine.CanonicalCIDRs("x", list)
			if err != nil || strings.Join(again, ",") != strings.Join(list, ",") {
				t.Fatalf("stored CIDRs %v are not canonical", list)
			}
		}
		for _, p := range r.TokenPolicies {
			if p == "" || p != strings.ToLower(strings.TrimSpace(p)) {
				t.Fatalf("stored policy %q is not canonical", p)
			}
		}
		if got, err := h.b.roleByID(context.Background(), h.st, r.RoleID); err != nil || got == nil || got.Name != "r" {
			t.Fatalf("role_id %q not indexed: %v", r.RoleID, err)
		}
	})
}

// FuzzSecretIDWrite issues secret IDs with arbitrary bodies against a
// limited role: a refusal stores nothing; an accepted secret ID never
// exceeds what the role allows.
func FuzzSecretIDWrite(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"metadata":"{\"a\":\"b\"}","cidr_list":"10.1.0.0/16","token_bound_cidrs":["10.2.0.1"],"num_uses":2,"ttl":"1m"}`,
		`{"metadata":"a=b,c=d","num_uses":0,"ttl":0}`,
		`{"metadata":"eyJhIjoiYiJ9","cidr_list":"0.0.0.0/0"}`,
		`{"metadata":{"a":"b"},"num_uses":"9","ttl":"2h"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data, ok := decodeBody(body)
		if !ok {
			return
		}
		h := newHarness(t)
		h.createRole("r", map[string]any{
			"secret_id_num_uses": 5, "secret_id_ttl": "1h", "secret_id_bound_cidrs": "10.0.0.0/8", "token_bound_cidrs": "10.0.0.0/8",
		})
		before := len(h.st.Keys())
		req := &engine.Request{Operation: engine.Update, Path: "role/r/secret-id", Data: data, Storage: h.st}
		resp, err := engine.Serve(context.Background(), h.b.Routes(), req)
		if err != nil {
			if resp != nil || fail.KindOf(err) != fail.Invalid || len(h.st.Keys()) != before {
				t.Fatalf("refusal: resp %+v, err %v (%v), stored %v", resp, err, fail.KindOf(err), h.st.Keys())
			}
			return
		}
		r, _ := loadRole(context.Background(), h.st, "r")
		var e secretIDEntry
		if found, err := getJSON(context.Background(), h.st, secretKey(r.Scope, h.b.secretHMAC(r, resp.Data["secret_id"].(string))), &e); !found || err != nil {
			t.Fatalf("issued secret ID not stored: %v", err)
		}
		if e.NumUses < 1 || e.NumUses > 5 || e.TTL <= 0 || e.TTL > time.Hour {
			t.Fatalf("secret ID exceeds the role: uses %d ttl %v", e.NumUses, e.TTL)
		}
		for _, c := range [][2][]string{{e.CIDRList, r.SecretIDBoundCIDRs}, {e.TokenBoundCIDRs, r.TokenBoundCIDRs}} {
			if ok, err := subset(c[0], c[1]); !ok || err != nil {
				t.Fatalf("secret ID CIDRs %v outside role's %v", c[0], c[1])
			}
		}
	})
}
