package engine

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// CanonicalCIDRs parses CIDR blocks and bare addresses (one-address blocks),
// as Vault's parseutil.ParseAddrs accepts them, into one canonical text per
// block: masked; an IPv4-mapped IPv6 block as its IPv4 block, so it matches
// IPv4 clients; a single address without its /32 or /128, as Vault reads it
// back. Zoned addresses are refused: a block means the same on every node.
// field names the input in the error. No input gives nil.
func CanonicalCIDRs(field string, raw []string) ([]string, error) {
	var out []string
	for _, s := range raw {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, fail.Invalidf("invalid CIDR block %q in %s", s, field)
		}
		out = append(out, formatCIDR(p))
	}
	return out, nil
}

// Prefixes parses blocks stored as CanonicalCIDRs wrote them (an older
// "a.b.c.d/32" form too). They were checked when stored, so an error is
// corrupt storage: a 500, not the caller's fault. No input gives nil.
func Prefixes(stored []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range stored {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, fail.Wrap(fail.Internal, err, "corrupt CIDR block in storage")
		}
		out = append(out, p)
	}
	return out, nil
}

// AddrIn reports whether addr lies in one of cidrs. An IPv4-mapped address
// counts as its IPv4 address. A request without an address (the zero Addr)
// is in none, as Vault refuses one without connection information; a zoned
// address is in none, as the core's own token check sees it.
func AddrIn(addr netip.Addr, cidrs []netip.Prefix) bool {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return false
	}
	for _, p := range cidrs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("not an address: %q", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func formatCIDR(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
