package acl

import "testing"

func TestAnyUnder(t *testing.T) {
	tests := []struct {
		policy string
		mount  string
		want   bool
	}{
		{`path "secret/data/app" { capabilities = ["read"] }`, "secret/", true},
		{`path "secret/data/*" { capabilities = ["read"] }`, "secret/", true},
		{`path "sec*" { capabilities = ["list"] }`, "secret/", true},       // covers the mount
		{`path "+/data/app" { capabilities = ["read"] }`, "secret/", true}, // any first segment
		{`path "team/+/x" { capabilities = ["read"] }`, "team/a/", true},
		{`path "team/+/x" { capabilities = ["read"] }`, "other/a/", false},
		{`path "secret2/data/app" { capabilities = ["read"] }`, "secret/", false},
		{`path "secret/data/app" { capabilities = ["deny"] }`, "secret/", false},
		{`path "kv/*" { capabilities = ["read"] }`, "secret/", false},
		{`path "se+" { capabilities = ["read"] }`, "secret/", false}, // "+" is a whole segment only
	}
	for _, tt := range tests {
		p, err := Parse("p", tt.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := New(p).AnyUnder(tt.mount); got != tt.want {
			t.Errorf("%s on %s: %v, want %v", tt.policy, tt.mount, got, tt.want)
		}
	}
}
