package aws

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/peers/stsfake"
)

// vaultList is one rule broken, quoted the way Vault quotes its multierror.
func vaultList(msg string) string {
	return `error(s) validating supplied role data: "1 error occurred:\n\t* ` + msg + `\n\n"`
}

func TestRoleDenials(t *testing.T) {
	ar := map[string]any{"credential_type": "assumed_role", "role_arns": testRole}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	ft := map[string]any{"credential_type": "federation_token", "policy_arns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
	st := map[string]any{"credential_type": "session_token"}
	tests := []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"iam_user", map[string]any{"credential_type": "iam_user", "policy_arns": "arn:aws:iam::aws:policy/A"},
			"credential_type iam_user is not supported by runcred yet"},
		{"no credential_type", map[string]any{"role_arns": testRole},
			`error(s) validating supplied role data: "2 errors occurred:\n\t* did not supply credential_type\n\t* cannot supply role_arns when credential_type isn't assumed_role\n\n"`},
		{"unknown credential_type", map[string]any{"credential_type": "magic"}, vaultList("unrecognized credential type: magic")},
		{"assumed_role without role_arns", map[string]any{"credential_type": "assumed_role"}, vaultList("role_arns is required when credential_type is assumed_role")},
		{"role_arns on federation_token", with(ft, "role_arns", testRole), vaultList("cannot supply role_arns when credential_type isn't assumed_role")},
		{"role_arns on session_token", with(st, "role_arns", testRole), "cannot supply role_arns when credential_type isn't assumed_role"},
		{"federation_token without policy", map[string]any{"credential_type": "federation_token"},
			vaultList("must specify at least one of policy_arns or policy_document with federation_token credential_type")},
		{"federation_token with only groups", map[string]any{"credential_type": "federation_token", "iam_groups": "admins"},
			"must specify at least one of policy_arns or policy_document with federation_token credential_type"},
		{"session_token with policy_arns", with(st, "policy_arns", "arn:aws:iam::aws:policy/A"), vaultList("cannot supply a policy or role when using credential_type session_token")},
		{"session_token with policy_document", with(st, "policy_document", "{}"), vaultList("cannot supply a policy or role when using credential_type session_token")},
		{"default above max", with(ar, "default_sts_ttl", "2h", "max_sts_ttl", "1h"), vaultList(`\"default_sts_ttl\" value must be less than or equal to \"max_sts_ttl\" value`)},
		{"negative ttl", with(ar, "max_sts_ttl", json.Number("-1")), "max_sts_ttl must not be negative"},
		{"ttl not a duration", with(ar, "default_sts_ttl", "soon"), `field "default_sts_ttl": expected a duration`},
		{"external_id off assumed_role", with(ft, "external_id", "x"), vaultList("cannot supply external_id when credential_type isn't assumed_role")},
		{"session_tags off assumed_role", with(st, "session_tags", "a=b"), vaultList("cannot supply session_tags when credential_type isn't assumed_role")},
		{"session_tags malformed", with(ar, "session_tags", "novalue"), `field "session_tags": expected a map of strings or a list of key=value pairs`},
		{"mfa_serial_number off session_token", with(ar, "mfa_serial_number", "arn:aws:iam::1:mfa/u"), vaultList("cannot supply mfa_serial_number when credential_type isn't session_token")},
		{"user_path", with(ar, "user_path", "/x/"), vaultList("user_path parameter only valid for iam_user credential type")},
		{"permissions_boundary_arn", with(ar, "permissions_boundary_arn", "arn:aws:iam::aws:policy/B"), vaultList("cannot supply permissions_boundary_arn when credential_type isn't iam_user")},
		{"policy_document not JSON", with(ar, "policy_document", "{nope"), `cannot parse policy document: "{nope"`},
		{"role_arns not ARNs", with(ar, "role_arns", "deploy"), vaultList(`\"deploy\" is not an ARN`)},
		{"policy_arns not ARNs", with(ft, "policy_arns", "ReadOnly"), vaultList(`\"ReadOnly\" is not an ARN`)},
		{"groups alone on assumed_role", with(ar, "iam_groups", "admins"),
			"iam_groups without policy_document or policy_arns is not supported by runcred"},
		{"legacy policy", map[string]any{"policy": "{}"}, "the legacy policy and arn parameters are not supported by runcred"},
		{"legacy arn", map[string]any{"arn": testRole}, "the legacy policy and arn parameters are not supported by runcred"},
		{"role_arns wrong type", with(ar, "role_arns", map[string]any{}), `field "role_arns": expected a list of strings`},
	}
	e := newEnv(t, stsfake.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.call(engine.Update, "roles/r", tt.data)
			wantErr(t, err, fail.Invalid, tt.msg)
			if resp, err := e.call(engine.Read, "roles/r", nil); resp != nil || err != nil {
				t.Errorf("refused role was stored: %v %v", resp, err)
			}
		})
	}
}

func TestRoleReadWriteListDelete(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	if resp, err := e.call(engine.List, "roles/", nil); resp != nil || err != nil {
		t.Errorf("empty list: %v %v, want nil nil (404)", resp, err)
	}
	resp := e.mustWrite("roles/deploy", map[string]any{
		"credential_type": "assumed_role", "role_arns": []any{testRole, otherRole},
		"policy_document": "{\n  \"Version\": \"2012-10-17\"\n}", "session_tags": map[string]any{"team": "infra"},
		"external_id": "ext", "default_sts_ttl": json.Number("900"), "max_sts_ttl": "2h",
	})
	if resp != nil {
		t.Errorf("write answered %+v", resp)
	}
	got := e.mustRead("roles/deploy", nil).Data
	want := map[string]any{
		"credential_type": "assumed_role", "credential_types": []string{"assumed_role"},
		"role_arns": []string{testRole, otherRole}, "policy_arns": []string{},
		"policy_document": `{"Version":"2012-10-17"}`, "iam_groups": []string{}, "iam_tags": map[string]string{},
		"session_tags": map[string]string{"team": "infra"}, "external_id": "ext",
		"default_sts_ttl": int64(900), "max_sts_ttl": int64(7200), "user_path": "",
		"permissions_boundary_arn": "", "mfa_serial_number": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read\n%v\nwant\n%v", got, want)
	}

	// An update changes only what it names, and is validated as a whole.
	e.mustWrite("roles/deploy", map[string]any{"external_id": ""})
	if got := e.mustRead("roles/deploy", nil).Data; got["external_id"] != "" || got["max_sts_ttl"] != int64(7200) {
		t.Errorf("after partial update: %v", got)
	}
	_, err := e.call(engine.Update, "roles/deploy", map[string]any{"credential_type": "federation_token"})
	wantErr(t, err, fail.Invalid, "cannot supply role_arns when credential_type isn't assumed_role")

	e.mustWrite("roles/dev.team@corp", map[string]any{"credential_type": "session_token"})
	list, err := e.call(engine.List, "roles", nil)
	if err != nil || !reflect.DeepEqual(list.Data["keys"], []string{"deploy", "dev.team@corp"}) {
		t.Errorf("list %v %v", list, err)
	}
	for i := 0; i < 2; i++ { // deleting twice succeeds, as in Vault
		if resp, err := e.call(engine.Delete, "roles/deploy", nil); resp != nil || err != nil {
			t.Fatalf("delete: %v %v", resp, err)
		}
	}
	if resp, err := e.call(engine.Read, "roles/deploy", nil); resp != nil || err != nil {
		t.Errorf("read after delete: %v %v", resp, err)
	}
}

func TestRoleWarnings(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	resp := e.mustWrite("roles/r", map[string]any{
		"credential_type": "assumed_role", "role_arns": testRole, "policy_arns": "arn:aws:iam::aws:policy/A",
		"iam_groups": "admins,ops", "iam_tags": []any{"a=b"}, "colour": "blue",
	})
	if resp == nil || len(resp.Warnings) != 3 ||
		resp.Warnings[0] != "Endpoint ignored these unrecognized parameters: [colour]" ||
		!strings.HasPrefix(resp.Warnings[1], "iam_groups is stored but not applied") ||
		!strings.HasPrefix(resp.Warnings[2], "iam_tags applies to iam_user credentials only") {
		t.Fatalf("warnings %+v", resp)
	}
	if got := e.mustRead("roles/r", nil).Data["iam_groups"]; !reflect.DeepEqual(got, []string{"admins", "ops"}) {
		t.Errorf("iam_groups stored as %v", got)
	}
}
