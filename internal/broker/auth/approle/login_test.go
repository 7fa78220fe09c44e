package approle

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestLoginFlow(t *testing.T) {
	h := newHarness(t)
	h.createRole("deploy", map[string]any{
		"token_policies":          "Dev, ops ,dev",
		"token_ttl":               "20m",
		"token_max_ttl":           "1h",
		"token_explicit_max_ttl":  7200,
		"token_num_uses":          "3",
		"token_no_default_policy": true,
		"token_bound_cidrs":       []any{"10.0.0.0/8"},
	})
	roleID := h.roleID("deploy")
	secretID, _ := h.secretID("deploy", map[string]any{"metadata": `{"team":"infra","role_name":"evil"}`})

	auth := wantLoginOK(t)(h.login(defaultAddr, " "+roleID+" ", secretID+"\n"))
	want := &engine.Auth{
		DisplayName:     "",
		Alias:           roleID,
		Policies:        []string{"dev", "ops"},
		NoDefaultPolicy: true,
		Metadata:        map[string]string{"role_name": "deploy", "team": "infra"},
		TTL:             20 * time.Minute,
		MaxTTL:          time.Hour,
		ExplicitMaxTTL:  2 * time.Hour,
		NumUses:         3,
		BoundCIDRs:      []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Renewable:       true,
		TokenType:       "", // the role's "default": the mount's tuning decides
	}
	if !reflect.DeepEqual(auth, want) {
		t.Fatalf("auth\n got %+v\nwant %+v", auth, want)
	}
	// Unlimited secret IDs keep working.
	wantLoginOK(t)(h.login(defaultAddr, roleID, secretID))
}

func TestLoginPeriodicBatchAndSecretTokenCIDRs(t *testing.T) {
	h := newHarness(t)
	h.createRole("p", map[string]any{"period": "2h", "token_bound_cidrs": "10.0.0.0/8"})
	sid, _ := h.secretID("p", map[string]any{"token_bound_cidrs": "10.1.0.0/16,10.2.0.1"})
	auth := wantLoginOK(t)(h.login(defaultAddr, h.roleID("p"), sid))
	if auth.Period != 2*time.Hour || auth.TokenType != "" {
		t.Fatalf("period/type: %+v", auth)
	}
	wantCIDRs := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.1/32")}
	if !reflect.DeepEqual(auth.BoundCIDRs, wantCIDRs) {
		t.Fatalf("secret ID token_bound_cidrs must override the role's: %v", auth.BoundCIDRs)
	}

	h.createRole("b", map[string]any{"token_type": "batch"})
	sid, _ = h.secretID("b", nil)
	if auth := wantLoginOK(t)(h.login(defaultAddr, h.roleID("b"), sid)); auth.TokenType != "batch" {
		t.Fatalf("token type %q", auth.TokenType)
	}
}

func TestLoginDenied(t *testing.T) {
	h := newHarness(t)
	h.createRole("a", map[string]any{"secret_id_ttl": "60s"})
	h.createRole("b", nil)
	h.createRole("narrow", map[string]any{"secret_id_bound_cidrs": "192.168.0.0/16"})
	h.createRole("gone", nil)
	a, b, narrow := h.roleID("a"), h.roleID("b"), h.roleID("narrow")
	sidA, _ := h.secretID("a", nil)
	sidB, _ := h.secretID("b", nil)
	sidCIDR, _ := h.secretID("b", map[string]any{"cidr_list": "172.16.0.0/12"})
	sidNarrow, _ := h.secretID("narrow", nil)
	sidDestroyed, _ := h.secretID("b", nil)
	h.must(engine.Update, "role/b/secret-id/destroy", map[string]any{"secret_id": sidDestroyed})
	gone := h.roleID("gone")
	sidGone, _ := h.secretID("gone", nil)
	h.must(engine.Delete, "role/gone", nil)

	for _, tc := range []struct {
		name, addr string
		data       map[string]any
		msg        string
	}{
		{"no role_id", defaultAddr, map[string]any{"secret_id": sidA}, "missing role_id"},
		{"blank role_id", defaultAddr, map[string]any{"role_id": "  ", "secret_id": sidA}, "missing role_id"},
		{"no secret_id", defaultAddr, map[string]any{"role_id": a}, "missing secret_id"},
		{"wrong secret", defaultAddr, map[string]any{"role_id": a, "secret_id": sidA + "x"}, "invalid role or secret ID"},
		{"wrong role id", defaultAddr, map[string]any{"role_id": a + "x", "secret_id": sidA}, "invalid role or secret ID"},
		{"role id case", defaultAddr, map[string]any{"role_id": upper(a), "secret_id": sidA}, "invalid role or secret ID"},
		{"secret of another role", defaultAddr, map[string]any{"role_id": a, "secret_id": sidB}, "invalid role or secret ID"},
		{"role id as secret", defaultAddr, map[string]any{"role_id": b, "secret_id": b}, "invalid role or secret ID"},
		{"destroyed secret", defaultAddr, map[string]any{"role_id": b, "secret_id": sidDestroyed}, "invalid role or secret ID"},
		{"deleted role", defaultAddr, map[string]any{"role_id": gone, "secret_id": sidGone}, "invalid role or secret ID"},
		{"huge secret", defaultAddr, map[string]any{"role_id": a, "secret_id": string(make([]byte, 5000))}, "invalid role or secret ID"},
		{"secret CIDR", "10.9.9.9", map[string]any{"role_id": b, "secret_id": sidCIDR},
			`source address "10.9.9.9" unauthorized by CIDR restrictions on the secret ID`},
		{"role CIDR", "10.9.9.9", map[string]any{"role_id": narrow, "secret_id": sidNarrow},
			`source address "10.9.9.9" unauthorized by CIDR restrictions on the role`},
		{"no address", "", map[string]any{"role_id": narrow, "secret_id": sidNarrow}, "failed to get connection information"},
		{"role_id wrong type", defaultAddr, map[string]any{"role_id": []any{a}, "secret_id": sidA}, `"role_id"`},
		{"secret_id wrong type", defaultAddr, map[string]any{"role_id": a, "secret_id": map[string]any{}}, `"secret_id"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.doFrom(tc.addr, engine.Update, "login", tc.data)
			wantLoginDenied(t, resp, err, tc.msg)
		})
	}

	// The same secret IDs work where they should, so the denials above
	// are about what each case changed.
	wantLoginOK(t)(h.login(defaultAddr, a, sidA))
	wantLoginOK(t)(h.login("172.16.5.5", b, sidCIDR))
	wantLoginOK(t)(h.login("::ffff:192.168.1.1", narrow, sidNarrow))

	t.Run("expired", func(t *testing.T) {
		h.clock.Add(59 * time.Second)
		wantLoginOK(t)(h.login(defaultAddr, a, sidA))
		h.clock.Add(time.Second)
		resp, err := h.login(defaultAddr, a, sidA)
		wantLoginDenied(t, resp, err, "invalid role or secret ID")
	})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestLoginNumUses(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", map[string]any{"secret_id_num_uses": 3})
	roleID := h.roleID("r")
	sid, acc := h.secretID("r", map[string]any{"cidr_list": "10.0.0.0/8"})

	// A login refused for its address spends no use.
	resp, err := h.login("192.0.2.1", roleID, sid)
	wantLoginDenied(t, resp, err, "unauthorized by CIDR restrictions on the secret ID")

	for i := 0; i < 3; i++ {
		wantLoginOK(t)(h.login(defaultAddr, roleID, sid))
		if i == 0 {
			look := h.must(engine.Update, "role/r/secret-id-accessor/lookup", map[string]any{"secret_id_accessor": acc})
			if look.Data["secret_id_num_uses"] != 2 {
				t.Fatalf("uses left after one login: %v", look.Data["secret_id_num_uses"])
			}
		}
	}
	resp, err = h.login(defaultAddr, roleID, sid)
	wantLoginDenied(t, resp, err, "invalid role or secret ID")
	for _, k := range h.st.Keys() {
		if k != "role/r" && k != h.b.roleIDKey(roleID) {
			t.Fatalf("used-up secret ID left %q behind", k)
		}
	}
}

func TestLoginNumUsesConcurrent(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", map[string]any{"secret_id_num_uses": 5})
	roleID := h.roleID("r")
	sid, _ := h.secretID("r", nil)

	// Slow reads of secret IDs widen the window between a login's read
	// and its write, so a missing lock would let many logins through.
	st := slowStorage{h.st}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, denied := 0, 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &engine.Request{Operation: engine.Update, Path: "login", Storage: st, RemoteAddr: netip.MustParseAddr(defaultAddr),
				Data: map[string]any{"role_id": roleID, "secret_id": sid}}
			resp, err := engine.Serve(context.Background(), h.b.Routes(), req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && resp != nil && resp.Auth != nil:
				ok++
			case err != nil && resp == nil:
				denied++
			}
		}()
	}
	wg.Wait()
	if ok != 5 || denied != 35 {
		t.Fatalf("%d logins succeeded and %d were denied; want 5 and 35", ok, denied)
	}
}

func TestLoginWithoutSecretID(t *testing.T) {
	h := newHarness(t)
	h.createRole("cidr", map[string]any{"bind_secret_id": false, "secret_id_bound_cidrs": []any{"10.0.0.0/8", "2001:db8::/32"}})
	roleID := h.roleID("cidr")
	for _, addr := range []string{defaultAddr, "2001:db8::1"} {
		// No secret_id needed, and one given is ignored.
		wantLoginOK(t)(h.doFrom(addr, engine.Update, "login", map[string]any{"role_id": roleID}))
		wantLoginOK(t)(h.login(addr, roleID, "anything"))
	}
	for _, addr := range []string{"192.0.2.1", "2001:db9::1"} {
		resp, err := h.doFrom(addr, engine.Update, "login", map[string]any{"role_id": roleID})
		wantLoginDenied(t, resp, err, `unauthorized by CIDR restrictions on the role`)
	}

	// A role bound by token CIDRs only still needs no secret_id: the token
	// is what carries the restriction.
	h.createRole("tok", map[string]any{"bind_secret_id": false, "token_bound_cidrs": "10.0.0.0/8"})
	auth := wantLoginOK(t)(h.doFrom("192.0.2.1", engine.Update, "login", map[string]any{"role_id": h.roleID("tok")}))
	if len(auth.BoundCIDRs) != 1 || auth.BoundCIDRs[0].String() != "10.0.0.0/8" {
		t.Fatalf("token CIDRs %v", auth.BoundCIDRs)
	}
}

func TestLoginAfterRoleChanges(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", map[string]any{"token_bound_cidrs": "10.0.0.0/8"})
	old := h.roleID("r")
	sid, _ := h.secretID("r", map[string]any{"token_bound_cidrs": "10.1.0.0/16"})

	// A new role_id retires the old one at once.
	h.must(engine.Update, "role/r/role-id", map[string]any{"role_id": "custom-id"})
	resp, err := h.login(defaultAddr, old, sid)
	wantLoginDenied(t, resp, err, "invalid role or secret ID")
	wantLoginOK(t)(h.login(defaultAddr, "custom-id", sid))

	// Narrowing the role's token CIDRs disables secret IDs whose own list
	// is no longer inside them.
	h.must(engine.Update, "role/r/token-bound-cidrs", map[string]any{"token_bound_cidrs": "10.2.0.0/16"})
	resp, err = h.login(defaultAddr, "custom-id", sid)
	wantLoginDenied(t, resp, err, "failed to verify subset relationship")

	// Turning bind_secret_id off then on keeps secret IDs required.
	h.must(engine.Update, "role/r/bind-secret-id", map[string]any{"bind_secret_id": false})
	h.must(engine.Delete, "role/r/bind-secret-id", nil)
	resp, err = h.doFrom(defaultAddr, engine.Update, "login", map[string]any{"role_id": "custom-id"})
	wantLoginDenied(t, resp, err, "missing secret_id")

	// A role created again under the same name and role_id does not
	// inherit the old role's secret IDs.
	h.must(engine.Delete, "role/r", nil)
	h.createRole("r", map[string]any{"role_id": "custom-id"})
	resp, err = h.login(defaultAddr, "custom-id", sid)
	wantLoginDenied(t, resp, err, "invalid role or secret ID")
}

// slowStorage pauses after each read of a secret ID.
type slowStorage struct{ engine.Storage }

func (s slowStorage) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Storage.Get(ctx, key)
	if strings.HasPrefix(key, "secret_id/") {
		time.Sleep(2 * time.Millisecond)
	}
	return v, err
}

func (s slowStorage) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	return s.Storage.Atomic(ctx, lock, func(inner engine.Storage) error { return fn(slowStorage{inner}) })
}

// faultyStorage fails every operation on keys with a prefix.
type faultyStorage struct {
	engine.Storage
	prefix string
	op     string // "get" or "put"
}

func (s faultyStorage) Get(ctx context.Context, key string) ([]byte, error) {
	if s.op == "get" && strings.HasPrefix(key, s.prefix) {
		return nil, errors.New("disk on fire")
	}
	return s.Storage.Get(ctx, key)
}

func (s faultyStorage) Put(ctx context.Context, key string, v []byte) error {
	if s.op == "put" && strings.HasPrefix(key, s.prefix) {
		return errors.New("disk on fire")
	}
	return s.Storage.Put(ctx, key, v)
}

func (s faultyStorage) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	return s.Storage.Atomic(ctx, lock, func(inner engine.Storage) error {
		return fn(faultyStorage{Storage: inner, prefix: s.prefix, op: s.op})
	})
}

// writeCounter counts the transactions and writes made through it.
type writeCounter struct {
	engine.Storage
	writes *int
}

func (s writeCounter) Put(ctx context.Context, key string, v []byte) error {
	*s.writes++
	return s.Storage.Put(ctx, key, v)
}

func (s writeCounter) Delete(ctx context.Context, key string) error {
	*s.writes++
	return s.Storage.Delete(ctx, key)
}

func (s writeCounter) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	*s.writes++
	return s.Storage.Atomic(ctx, lock, fn)
}

// TestLoginWritesOnlyToSpend: a login with a secret ID without a use limit,
// and a refused login, write nothing and open no transaction; a login
// spending a limited secret ID's use does.
func TestLoginWritesOnlyToSpend(t *testing.T) {
	h := newHarness(t)
	h.createRole("open", nil)
	h.createRole("limited", map[string]any{"secret_id_num_uses": 2})
	open, limited := h.roleID("open"), h.roleID("limited")
	sidOpen, _ := h.secretID("open", nil)
	sidLimited, _ := h.secretID("limited", nil)
	for _, tc := range []struct {
		name, roleID, secretID string
		ok                     bool
		writes                 int
	}{
		{"unlimited", open, sidOpen, true, 0},
		{"refused", limited, sidLimited + "x", false, 0},
		{"limited", limited, sidLimited, true, 1},
	} {
		var writes int
		req := &engine.Request{Operation: engine.Update, Path: "login", Storage: writeCounter{h.st, &writes},
			RemoteAddr: netip.MustParseAddr(defaultAddr), Data: map[string]any{"role_id": tc.roleID, "secret_id": tc.secretID}}
		resp, err := engine.Serve(context.Background(), h.b.Routes(), req)
		if (err == nil && resp != nil && resp.Auth != nil) != tc.ok {
			t.Fatalf("%s: resp %+v, err %v", tc.name, resp, err)
		}
		if writes != tc.writes {
			t.Errorf("%s login: %d writes or transactions, want %d", tc.name, writes, tc.writes)
		}
	}
}

// TestLoginStorageFailure: a storage error is a 500 and never an Auth.
func TestLoginStorageFailure(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", map[string]any{"secret_id_num_uses": 2})
	roleID := h.roleID("r")
	sid, _ := h.secretID("r", nil)
	for _, fs := range []faultyStorage{
		{prefix: "role_id/", op: "get"}, {prefix: "role/", op: "get"}, {prefix: "secret_id/", op: "get"}, {prefix: "secret_id/", op: "put"},
	} {
		fs.Storage = h.st
		req := &engine.Request{Operation: engine.Update, Path: "login", Storage: fs, RemoteAddr: netip.MustParseAddr(defaultAddr),
			Data: map[string]any{"role_id": roleID, "secret_id": sid}}
		resp, err := engine.Serve(context.Background(), h.b.Routes(), req)
		if resp != nil || err == nil || fail.KindOf(err) != fail.Internal {
			t.Fatalf("%s %s failing: resp %+v, err %v", fs.op, fs.prefix, resp, err)
		}
	}
	wantLoginOK(t)(h.login(defaultAddr, roleID, sid))
}
