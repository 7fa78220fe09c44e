package engine

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
)

func TestCanonicalCIDRs(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"10.1.2.3/8", " 192.168.1.1 ", "10.0.0.1/32"}, []string{"10.0.0.0/8", "192.168.1.1", "10.0.0.1"}},
		{[]string{"2001:db8::1", "2001:db8::1/128", "2001:db8:ffff::/32"}, []string{"2001:db8::1", "2001:db8::1", "2001:db8::/32"}},
		{[]string{"::ffff:10.0.0.0/104", "::ffff:1.2.3.4", "::ffff:0:0/96", "::ffff:0:0/80"}, []string{"10.0.0.0/8", "1.2.3.4", "0.0.0.0/0", "::/80"}},
		{[]string{"0.0.0.0/0", "::/0"}, []string{"0.0.0.0/0", "::/0"}},
	} {
		got, err := CanonicalCIDRs("f", tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("CanonicalCIDRs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "nope", "10.0.0.0/33", "300.1.1.1", "10.0.0.1/", "fe80::1%eth0", "fe80::/10%eth0", "10.0.0.0/8/8", "host.example:80"} {
		_, err := CanonicalCIDRs("secret_id_bound_cidrs", []string{"10.0.0.0/8", bad})
		if fail.KindOf(err) != fail.Invalid || fail.Message(err) != `invalid CIDR block "`+bad+`" in secret_id_bound_cidrs` {
			t.Errorf("CanonicalCIDRs(%q): %v (%v)", bad, err, fail.KindOf(err))
		}
	}
}

func TestPrefixes(t *testing.T) {
	got, err := Prefixes([]string{"10.0.0.1", "10.0.0.2/32", "10.0.0.0/8"})
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Prefixes = %v, %v", got, err)
	}
	if got, err := Prefixes(nil); got != nil || err != nil {
		t.Fatalf("Prefixes(nil) = %#v, %v", got, err)
	}
	// A corrupt entry is the server's fault: a 500 whose detail is hidden.
	if _, err := Prefixes([]string{"garbage"}); err == nil || fail.KindOf(err) != fail.Internal {
		t.Fatalf("corrupt entry: %v (%v)", err, fail.KindOf(err))
	}
}

func TestAddrIn(t *testing.T) {
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("fe80::/10")}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true}, // an IPv4 client on a dual-stack socket
		{"2001:db8::7", true},
		{"11.0.0.1", false},
		{"2001:db9::1", false},
		{"::ffff:11.0.0.1", false},
		{"fe80::1%eth0", false}, // as the core's token check sees a zoned address
		{"", false},             // no connection information
	} {
		var a netip.Addr
		if tt.addr != "" {
			a = netip.MustParseAddr(tt.addr)
		}
		if got := AddrIn(a, cidrs); got != tt.want {
			t.Errorf("AddrIn(%q) = %v; want %v", tt.addr, got, tt.want)
		}
	}
	if AddrIn(netip.MustParseAddr("10.0.0.1"), nil) {
		t.Error("an address is in an empty list")
	}
}

// FuzzCanonicalCIDRs: an accepted block is canonical (writing it again
// gives the same text), parses back with Prefixes, and holds its own
// address.
func FuzzCanonicalCIDRs(f *testing.F) {
	for _, s := range []string{"10.1.2.3/8", "2001:db8::1", "::ffff:1.2.3.4/120", "fe80::1%eth0", "0.0.0.0/0", " 1.2.3.4 ", "1.2.3.4/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := CanonicalCIDRs("f", []string{s})
		if err != nil {
			if fail.KindOf(err) != fail.Invalid || !strings.Contains(fail.Message(err), "invalid CIDR block") {
				t.Fatalf("refusal %v (%v)", err, fail.KindOf(err))
			}
			return
		}
		again, err := CanonicalCIDRs("f", out)
		if err != nil || !reflect.DeepEqual(again, out) {
			t.Fatalf("%q gave %q, which gives %q, %v", s, out, again, err)
		}
		ps, err := Prefixes(out)
		if err != nil || len(ps) != 1 || ps[0] != ps[0].Masked() || ps[0].Addr().Is4In6() && ps[0].Bits() >= 96 {
			t.Fatalf("%q: prefixes %v, %v", out, ps, err)
		}
		if !AddrIn(ps[0].Addr(), ps) {
			t.Fatalf("%v does not hold its own address", ps[0])
		}
	})
}
