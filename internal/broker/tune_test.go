package broker_test

import (
	"net/http"
	"slices"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestTuneReadsBack: what a mount is enabled or tuned with reads back from
// sys/mounts and the tune endpoint, as terraform-provider-vault reads it
// (a setting accepted but not returned is a diff on every plan); what
// runcred has no code for is refused with the field named, nothing stored.
func TestTuneReadsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		sys := s.Client.Sys()
		if err := sys.EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatal(err)
		}
		if err := sys.Mount("secret", &vault.MountInput{Type: "kv-v2", Config: vault.MountConfigInput{
			AuditNonHMACRequestKeys: []string{"user"}, ListingVisibility: "unauth"}}); err != nil {
			t.Fatal(err)
		}
		conf, err := sys.MountConfig("auth/approle")
		if err != nil {
			t.Fatal(err)
		}
		if conf.TokenType != "default-service" || conf.ListingVisibility != "" {
			t.Fatalf("an untuned auth method: %+v", conf)
		}
		if err := sys.TuneMount("auth/approle", vault.MountConfigInput{ListingVisibility: "hidden", TokenType: "service",
			AuditNonHMACResponseKeys: []string{"role_id"}, PassthroughRequestHeaders: []string{""}}); err != nil {
			t.Fatal(err)
		}
		conf, err = sys.MountConfig("auth/approle")
		if err != nil {
			t.Fatal(err)
		}
		if conf.TokenType != "service" || conf.ListingVisibility != "hidden" || !slices.Equal(conf.AuditNonHMACResponseKeys, []string{"role_id"}) {
			t.Fatalf("tuned auth method reads %+v", conf)
		}
		mounts, err := sys.ListMounts()
		if err != nil {
			t.Fatal(err)
		}
		kv := mounts["secret/"].Config
		if kv.ListingVisibility != "unauth" || !slices.Equal(kv.AuditNonHMACRequestKeys, []string{"user"}) || kv.TokenType != "" {
			t.Fatalf("sys/mounts shows secret/ with %+v", kv)
		}

		for _, bad := range []struct {
			path string
			in   vault.MountConfigInput
			msg  string
		}{
			{"auth/approle", vault.MountConfigInput{TokenType: "batch"}, `token type "batch" is not supported by runcred`},
			{"auth/approle", vault.MountConfigInput{TokenType: "default-batch"}, `token type "default-batch" is not supported`},
			{"auth/approle", vault.MountConfigInput{TokenType: "sometimes"}, `invalid token_type "sometimes"`},
			{"secret", vault.MountConfigInput{TokenType: "service"}, "token_type can only be set on auth methods"},
			{"secret", vault.MountConfigInput{ListingVisibility: "public"}, `invalid listing_visibility "public"`},
			{"secret", vault.MountConfigInput{PassthroughRequestHeaders: []string{"X-Custom"}}, "passthrough_request_headers is not supported"},
			{"auth/approle", vault.MountConfigInput{AllowedResponseHeaders: []string{"X-Custom"}}, "allowed_response_headers is not supported"},
		} {
			wantError(t, sys.TuneMount(bad.path, bad.in), http.StatusBadRequest, bad.msg)
		}
		err = sys.EnableAuthWithOptions("other", &vault.EnableAuthOptions{Type: "approle", Config: vault.MountConfigInput{TokenType: "batch"}})
		wantError(t, err, http.StatusBadRequest, `token type "batch" is not supported`)
		if auths, err := sys.ListAuth(); err != nil || auths["other/"] != nil {
			t.Fatalf("a refused mount was made: %v %v", auths, err)
		}
		// The refused tunes left what was there.
		conf, err = sys.MountConfig("auth/approle")
		if err != nil || conf.TokenType != "service" || conf.ListingVisibility != "hidden" {
			t.Fatalf("after refused tunes: %+v %v", conf, err)
		}
	})
}
