package aws

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/peers/stsfake"
)

func TestAssumedRoleCreds(t *testing.T) {
	e := newEnv(t, stsfake.Options{ExternalIDs: map[string]string{testRole: "ext-1"}})
	e.mustWrite("roles/deploy", map[string]any{
		"credential_type": "assumed_role", "role_arns": testRole,
		"policy_document": `{"Version": "2012-10-17", "Statement": []}`, "policy_arns": "arn:aws:iam::aws:policy/ReadOnlyAccess",
		"external_id": "ext-1", "session_tags": []any{"team=infra", "env=prod"},
	})
	for _, path := range []string{"creds/deploy", "sts/deploy"} {
		for _, op := range []engine.Operation{engine.Read, engine.Update} {
			resp, err := e.call(op, path, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", op, path, err)
			}
			call := e.lastCall()
			if call.Action != "AssumeRole" || call.RoleArn != testRole || call.DurationSeconds != 3600 ||
				call.Policy != `{"Version":"2012-10-17","Statement":[]}` ||
				strings.Join(call.PolicyArns, ",") != "arn:aws:iam::aws:policy/ReadOnlyAccess" || call.ExternalID != "ext-1" ||
				len(call.Tags) != 2 || call.TagMap()["team"] != "infra" || call.TagMap()["env"] != "prod" {
				t.Errorf("%s sent %+v", path, call)
			}
			d := resp.Data
			issued, ok := e.sts.Issued(d["access_key"].(string))
			if !ok || issued.RoleSessionName != call.RoleSessionName {
				t.Fatalf("access key %v was not issued by this call", d["access_key"])
			}
			token, _ := d["security_token"].(string)
			if token == "" || d["session_token"] != token || d["secret_key"] == "" || len(d) != 5 ||
				d["arn"] != "arn:aws:sts::123456789012:assumed-role/deploy/"+call.RoleSessionName {
				t.Errorf("data %v", d)
			}
			s := resp.Secret
			if s == nil || s.TTL != time.Hour || s.Renewable || s.Internal["is_sts"] != true ||
				s.Internal["access_key"] != d["access_key"] || s.Internal["role"] != "deploy" ||
				s.Internal["username"] != call.RoleSessionName {
				t.Errorf("secret %+v", s)
			}
			for k, v := range s.Internal {
				if v == d["secret_key"] || v == token {
					t.Errorf("internal data %q holds a secret", k)
				}
			}
		}
	}
}

func TestRoleARNChoice(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	e.mustWrite("roles/two", map[string]any{"credential_type": "assumed_role", "role_arns": []any{testRole, otherRole}})
	_, err := e.call(engine.Read, "creds/two", nil)
	wantErr(t, err, fail.Invalid, "did not supply a role_arn parameter and unable to determine one")
	_, err = e.call(engine.Read, "creds/two", map[string]any{"role_arn": "arn:aws:iam::123456789012:role/admin"})
	wantErr(t, err, fail.Invalid, `role_arn "arn:aws:iam::123456789012:role/admin" not in allowed role arns for Vault role "two"`)
	if _, err := e.call(engine.Read, "creds/two", map[string]any{"role_arn": otherRole}); err != nil {
		t.Fatal(err)
	}
	if got := e.lastCall().RoleArn; got != otherRole {
		t.Errorf("assumed %q", got)
	}
	if n := len(e.sts.Calls()); n != 1 {
		t.Errorf("%d STS calls, want only the allowed one", n)
	}
	_, err = e.call(engine.Read, "creds/nope", nil)
	wantErr(t, err, fail.Invalid, `Role "nope" not found`)
}

func TestTTL(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	tests := []struct {
		name        string
		role        map[string]any
		ttl         any
		mountMax    time.Duration
		wantSeconds int
	}{
		{"default", nil, nil, 0, 3600},
		{"asked, from a query string", nil, "900", 0, 900},
		{"asked as a duration", nil, "2h", 0, 7200},
		{"zero is not asked", nil, json.Number("0"), 0, 3600},
		{"role default", map[string]any{"default_sts_ttl": "30m"}, nil, 0, 1800},
		{"asked beats role default", map[string]any{"default_sts_ttl": "30m"}, "1000", 0, 1000},
		{"capped by max_sts_ttl", map[string]any{"max_sts_ttl": "20m"}, "10h", 0, 1200},
		{"default capped by max_sts_ttl", map[string]any{"max_sts_ttl": "1000s"}, nil, 0, 1000},
		{"capped by the mount", nil, "10h", 25 * time.Minute, 1500},
		{"max_sts_ttl beats the mount", map[string]any{"max_sts_ttl": "5h"}, "10h", 25 * time.Minute, 18000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string]any{"credential_type": "federation_token", "policy_document": "{}", "default_sts_ttl": "0", "max_sts_ttl": "0"}
			for k, v := range tt.role {
				data[k] = v
			}
			e.mustWrite("roles/fed", data)
			e.b.conf.MaxLeaseTTL = tt.mountMax
			req := map[string]any{}
			if tt.ttl != nil {
				req["ttl"] = tt.ttl
			}
			resp, err := e.call(engine.Read, "sts/fed", req)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.lastCall().DurationSeconds; got != tt.wantSeconds {
				t.Errorf("asked STS for %ds, want %d", got, tt.wantSeconds)
			}
			if got := resp.Secret.TTL; got != time.Duration(tt.wantSeconds)*time.Second {
				t.Errorf("lease TTL %s", got)
			}
		})
	}
	_, err := e.call(engine.Read, "sts/fed", map[string]any{"ttl": "-1"})
	wantErr(t, err, fail.Invalid, "ttl must not be negative")
	_, err = e.call(engine.Read, "sts/fed", map[string]any{"ttl": "soon"})
	wantErr(t, err, fail.Invalid, `field "ttl": expected a duration`)
}

func TestSessionNames(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	e.mustWrite("roles/deploy", map[string]any{"credential_type": "assumed_role", "role_arns": testRole})
	unix := strconv.FormatInt(e.now.Unix(), 10)
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		tok  *engine.Token
		data map[string]any
		want string // a regexp
	}{
		{"run", runToken("run-abc123", "plan"), nil, `^runcred-run-abc123-plan$`},
		{"run, normalized", runToken("run/1 é", "apply"), nil, `^runcred-run_1__-apply$`},
		{"run, truncated", runToken(long, "apply"), nil, `^runcred-x{56}$`},
		{"run id without phase", &engine.Token{DisplayName: "jwt-x", Meta: map[string]string{"terraform_run_id": "run-1"}}, nil,
			`^vault-jwt-x-deploy-` + unix + `-[A-Za-z0-9]{20}$`},
		{"token", &engine.Token{DisplayName: "token"}, nil, `^vault-token-deploy-` + unix + `-[A-Za-z0-9]{20}$`},
		{"no token", nil, nil, `^vault--deploy-` + unix + `-[A-Za-z0-9]{20}$`},
		{"long display name", &engine.Token{DisplayName: "approle " + long}, nil,
			`^vault-approle_x{34}-` + unix + `-[A-Za-z0-9]{4}$`},
		{"asked", &engine.Token{DisplayName: "token"}, map[string]any{"role_session_name": "ci job/7"}, `^ci_job_7$`},
		{"asked, truncated", nil, map[string]any{"role_session_name": long}, `^x{64}$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.do(engine.Read, "creds/deploy", tt.data, tt.tok)
			if err != nil {
				t.Fatal(err)
			}
			got := e.lastCall().RoleSessionName
			if !regexp.MustCompile(tt.want).MatchString(got) {
				t.Errorf("session name %q, want %s", got, tt.want)
			}
			if resp.Secret.Internal["username"] != got {
				t.Errorf("lease records %v", resp.Secret.Internal["username"])
			}
		})
	}
}

func TestRunTokenCannotNameItsSession(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	e.mustWrite("roles/deploy", map[string]any{"credential_type": "assumed_role", "role_arns": "arn:aws:iam::123456789012:role/deploy"})
	before := len(e.sts.Calls())
	_, err := e.do(engine.Read, "creds/deploy", map[string]any{"role_session_name": "runcred-run-other-apply"}, runToken("run-1", "plan"))
	if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), "role_session_name cannot be set") {
		t.Fatalf("run token naming its session: %v", err)
	}
	if len(e.sts.Calls()) != before {
		t.Fatal("STS was called for a refused request")
	}
}

func TestFederationToken(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	e.mustWrite("roles/fed", map[string]any{"credential_type": "federation_token",
		"policy_document": `{"Version":"2012-10-17"}`, "policy_arns": []any{"arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"}})
	unix := strconv.FormatInt(e.now.Unix(), 10)
	for _, tt := range []struct {
		tok  *engine.Token
		want string
	}{
		{nil, `^vault-` + unix + `-[A-Za-z0-9]{15}$`},
		{runToken("run-abc123", "apply"), `^runcred-run-abc123$`},
		{runToken("run-"+strings.Repeat("y", 40), "apply"), `^runcred-run-y{20}$`},
	} {
		resp, err := e.do(engine.Read, "creds/fed", nil, tt.tok)
		if err != nil {
			t.Fatal(err)
		}
		call := e.lastCall()
		if !regexp.MustCompile(tt.want).MatchString(call.Name) || len(call.Name) > 32 {
			t.Errorf("name %q, want %s", call.Name, tt.want)
		}
		if call.Action != "GetFederationToken" || call.Policy != `{"Version":"2012-10-17"}` || len(call.PolicyArns) != 2 || call.RoleArn != "" {
			t.Errorf("sent %+v", call)
		}
		if _, has := resp.Data["arn"]; has || len(resp.Data) != 4 || resp.Data["security_token"] != resp.Data["session_token"] {
			t.Errorf("data %v", resp.Data)
		}
	}
}

func TestSessionToken(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	e.mustWrite("roles/s", map[string]any{"credential_type": "session_token", "mfa_serial_number": "arn:aws:iam::123456789012:mfa/ci"})
	resp, err := e.call(engine.Update, "sts/s", map[string]any{"mfa_code": "123456", "ttl": "4h"})
	if err != nil {
		t.Fatal(err)
	}
	call := e.lastCall()
	if call.Action != "GetSessionToken" || call.SerialNumber != "arn:aws:iam::123456789012:mfa/ci" || call.TokenCode != "123456" ||
		call.DurationSeconds != 14400 || call.Policy != "" || call.Name != "" {
		t.Errorf("sent %+v", call)
	}
	if resp.Secret.TTL != 4*time.Hour || resp.Secret.Internal["username"] != nil {
		t.Errorf("secret %+v", resp.Secret)
	}
}

func TestSTSErrors(t *testing.T) {
	e := newEnv(t, stsfake.Options{Roles: []string{testRole}})
	e.mustWrite("roles/other", map[string]any{"credential_type": "assumed_role", "role_arns": otherRole})
	e.mustWrite("roles/deploy", map[string]any{"credential_type": "assumed_role", "role_arns": testRole})
	e.mustWrite("roles/fed", map[string]any{"credential_type": "federation_token", "policy_arns": "arn:aws:iam::aws:policy/A"})
	e.mustWrite("roles/s", map[string]any{"credential_type": "session_token"})

	_, err := e.call(engine.Read, "creds/other", nil)
	wantErr(t, err, fail.Invalid, "Error assuming role: sts: AccessDenied: User: arn:aws:iam::123456789012:user/runcred is not authorized to perform: sts:AssumeRole on resource: "+otherRole)
	_, err = e.call(engine.Read, "creds/deploy", map[string]any{"ttl": "60"})
	wantErr(t, err, fail.Invalid, "Error assuming role: sts: ValidationError: 1 validation error detected: Value '60' at 'durationSeconds'")
	_, err = e.call(engine.Read, "creds/fed", map[string]any{"ttl": "60"})
	wantErr(t, err, fail.Invalid, "Error generating STS keys: sts: ValidationError:")
	_, err = e.call(engine.Read, "creds/deploy", map[string]any{"role_session_name": "x"})
	wantErr(t, err, fail.Invalid, "Error assuming role: sts: ValidationError:")

	e.sts.FailWith(&stsfake.Error{Status: 500, Code: "InternalFailure", Message: "boom"})
	_, err = e.call(engine.Read, "creds/deploy", nil)
	wantErr(t, err, fail.Upstream, "Error assuming role: sts: InternalFailure: boom")
	_, err = e.call(engine.Read, "creds/s", nil)
	wantErr(t, err, fail.Upstream, "Error generating STS keys: sts: InternalFailure: boom")
	e.sts.FailWith(nil)

	// Wrong keys are found on use, not on write.
	e.mustWrite("config/root", map[string]any{"access_key": e.sts.AccessKey, "secret_key": "wrong", "sts_endpoint": e.sts.URL, "max_retries": "0"})
	_, err = e.call(engine.Read, "creds/deploy", nil)
	wantErr(t, err, fail.Invalid, "Error assuming role: sts: SignatureDoesNotMatch")

	if err := e.st.Delete(t.Context(), rootKey); err != nil {
		t.Fatal(err)
	}
	_, err = e.call(engine.Read, "creds/deploy", nil)
	wantErr(t, err, fail.Invalid, "no AWS credentials configured: write access_key and secret_key to aws/config/root")
}

func TestClientCacheFollowsConfig(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	e.mustWrite("roles/s", map[string]any{"credential_type": "session_token"})
	get := func() *cachedClient {
		t.Helper()
		if _, err := e.call(engine.Read, "creds/s", nil); err != nil {
			t.Fatal(err)
		}
		return e.b.client
	}
	first := get()
	if get() != first {
		t.Error("unchanged configuration built a new client")
	}
	root := map[string]any{"access_key": e.sts.AccessKey, "secret_key": e.sts.SecretKey, "sts_endpoint": e.sts.URL, "max_retries": "0"}
	e.mustWrite("config/root", root)
	if get() != first {
		t.Error("rewriting the same configuration built a new client")
	}
	prev := first
	for _, c := range []struct{ field, value string }{{"max_retries", "1"}, {"region", "eu-west-1"}, {"sts_region", "eu-central-1"}} {
		changed := map[string]any{}
		for k, x := range root {
			changed[k] = x
		}
		changed[c.field] = c.value
		e.mustWrite("config/root", changed)
		next := get()
		if next == prev {
			t.Errorf("changing %s kept the old client", c.field)
		}
		prev = next
	}
	if got := e.lastCall().Region; got != "eu-central-1" {
		t.Errorf("signed for region %q, want sts_region", got)
	}
}

func TestLeaseOfExpiredCredentials(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	e.mustWrite("roles/s", map[string]any{"credential_type": "session_token"})
	e.now = e.now.Add(2 * time.Hour) // the STS's clock is behind ours
	resp, err := e.call(engine.Read, "creds/s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Secret.TTL != time.Second {
		t.Errorf("lease TTL %s, want 1s (0 would mean the mount default)", resp.Secret.TTL)
	}
}

func TestRevokeIsANoOp(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	var b engine.Backend = e.b
	if _, ok := b.(engine.Renewer); ok {
		t.Error("STS leases must not be renewable")
	}
	err := b.(engine.Revoker).Revoke(t.Context(), engine.Lease{Path: "creds/x", Internal: map[string]any{"is_sts": true}, Storage: e.st})
	if err != nil || len(e.sts.Calls()) != 0 {
		t.Errorf("revoke: %v, %d STS calls", err, len(e.sts.Calls()))
	}
}

// TestLeaseIsTheGrantedTTL: the lease of 900 s credentials is 900 s,
// whether the engine's clock stands late in the second the STS issued them
// in (measured from the exact instant it read 899) or still in the second
// before it (it would read 901, longer than asked).
func TestLeaseIsTheGrantedTTL(t *testing.T) {
	for _, skew := range []time.Duration{999 * time.Millisecond, -time.Millisecond} {
		e := newEnv(t, stsfake.Options{})
		e.mustWrite("roles/s", map[string]any{"credential_type": "assumed_role",
			"role_arns": "arn:aws:iam::123456789012:role/deploy", "default_sts_ttl": 900})
		e.now = e.now.Add(skew)
		resp, err := e.call(engine.Read, "creds/s", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Secret.TTL != 900*time.Second {
			t.Errorf("engine clock %s off the STS's: lease TTL %s, want 15m0s", skew, resp.Secret.TTL)
		}
	}
}
