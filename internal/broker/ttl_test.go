package broker_test

import (
	"encoding/json"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGrantedTTLIsReported: a token's or lease's lease_duration on
// creation and renewal is the TTL granted, as in Vault, even when the
// request arrives late in a second (the clock stands at .999 s here).
// terraform-provider-vault asks for a 1200 s child token and was told 1199.
func TestGrantedTTLIsReported(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		mountLeases(t, s, "lt")
		s.Clock.Add(999 * time.Millisecond)

		sec, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{
			TTL: "1200s", ExplicitMaxTTL: "1200s", Policies: []string{"default"}, Renewable: new(bool)})
		if err != nil {
			t.Fatal(err)
		}
		if sec.Auth.LeaseDuration != 1200 {
			t.Fatalf("token create lease_duration = %d, want 1200", sec.Auth.LeaseDuration)
		}
		self, err := s.client(t, sec.Auth.ClientToken).Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"ttl", "creation_ttl"} {
			if n, _ := self.Data[k].(json.Number).Int64(); n != 1200 {
				t.Errorf("lookup-self %s = %v, want 1200", k, self.Data[k])
			}
		}

		renewable, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{TTL: "1h", Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(time.Second)
		r, err := s.client(t, renewable.Auth.ClientToken).Auth().Token().RenewSelf(1200)
		if err != nil || r.Auth.LeaseDuration != 1200 {
			t.Fatalf("renew-self = %+v, %v; want lease_duration 1200", r, err)
		}

		lease, err := s.Client.Logical().ReadWithData("lt/creds/a", map[string][]string{"ttl": {"1200s"}})
		if err != nil || lease.LeaseDuration != 1200 {
			t.Fatalf("lease = %+v, %v; want lease_duration 1200", lease, err)
		}
		if rl, err := s.Client.Sys().Renew(lease.LeaseID, 1200); err != nil || rl.LeaseDuration != 1200 {
			t.Fatalf("lease renew = %+v, %v; want lease_duration 1200", rl, err)
		}
		look, err := s.Client.Sys().Lookup(lease.LeaseID)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := look.Data["ttl"].(json.Number).Int64(); n != 1200 {
			t.Fatalf("lease lookup ttl = %v, want 1200", look.Data["ttl"])
		}
	})
}
