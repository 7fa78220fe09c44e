package jwt

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"repo:org/app*", "repo:org/app", true},
		{"repo:org/app*", "repo:org/app-evil:ref:refs/heads/main", true}, // Vault semantics
		{"repo:org/app*", "repo:org/ap", false},
		{"*:ref:refs/heads/main", "repo:org/app:ref:refs/heads/main", true},
		{"*:ref:refs/heads/main", "repo:org/app:ref:refs/heads/main-x", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false}, // prefix and suffix may not overlap
		{"a*a", "aa", true},
		{"**", "x", true},
		{"a**b", "ab", true},
		{"?", "x", false}, // no other wildcards
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v; want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestJSONPointer(t *testing.T) {
	doc := map[string]any{
		"a":   map[string]any{"b": []any{"x", map[string]any{"c": "deep"}}},
		"k/s": "slash", "t~": "tilde", "": "empty",
	}
	tests := []struct {
		ptr  string
		want any
	}{
		{"/a/b/0", "x"},
		{"/a/b/1/c", "deep"},
		{"/a/b/2", nil},
		{"/a/b/-1", nil},
		{"/a/b/x", nil},
		{"/k~1s", "slash"},
		{"/t~0", "tilde"},
		{"/", "empty"},
		{"/missing/x", nil},
		{"/a/b/0/more", nil},
	}
	for _, tt := range tests {
		if got := getClaim(doc, tt.ptr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("getClaim(%q) = %v; want %v", tt.ptr, got, tt.want)
		}
	}
}

func TestSameNumber(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"5", "5", true}, {"5", "5.0", true}, {"5", "5e0", true}, {"5", "6", false},
		{"5", "5.9", false}, {"9007199254740993", "9007199254740992", false}, {"x", "x", false},
	} {
		if got := sameNumber(tt.a, tt.b); got != tt.want {
			t.Errorf("sameNumber(%s, %s) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseClaims(t *testing.T) {
	good, err := parseClaims([]byte(`{"iss":"i","sub":"s","aud":"a","exp":10.7,"nbf":-3,"iat":null,"x":{"y":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if good.iss != "i" || good.sub != "s" || !reflect.DeepEqual(good.aud, []string{"a"}) || !good.audPresent ||
		*good.exp != 10 || *good.nbf != -3 || good.iat != nil || good.all["x"].(map[string]any)["y"] != json.Number("1") {
		t.Fatalf("parsed = %+v", good)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `"s"`, `{}{}`, `{} x`, `{"a":1`,
		`{"sub":1}`, `{"aud":[1]}`, `{"aud":{}}`, `{"exp":"1"}`, `{"nbf":true}`, `{"iat":1e20}`,
	} {
		if _, err := parseClaims([]byte(bad)); err == nil {
			t.Errorf("parseClaims(%s) succeeded", bad)
		}
	}
}
