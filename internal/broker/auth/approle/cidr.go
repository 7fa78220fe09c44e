package approle

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// canonicalCIDRs parses CIDR blocks (a bare address is a one-address block)
// into their masked canonical form; field names the input in errors.
// IPv4-mapped IPv6 blocks become IPv4 blocks, so they match IPv4 clients.
func canonicalCIDRs(field string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, fail.Invalidf("invalid CIDR block %q in %s", s, field)
		}
		out = append(out, p.String())
	}
	return out, nil
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

// prefixes parses stored canonical blocks.
func prefixes(in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, fail.Wrap(fail.Internal, err, "corrupt CIDR block in approle storage")
		}
		out = append(out, p)
	}
	return out, nil
}

// subset reports whether every block of inner lies within some block of
// outer; any list is a subset of an empty outer (no restriction).
func subset(inner, outer []string) (bool, error) {
	if len(outer) == 0 {
		return true, nil
	}
	in, err := prefixes(inner)
	if err != nil {
		return false, err
	}
	out, err := prefixes(outer)
	if err != nil {
		return false, err
	}
	for _, p := range in {
		found := false
		for _, q := range out {
			if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// requireSubset is subset as Vault's error on the secret ID side.
func requireSubset(inner, outer []string) error {
	ok, err := subset(inner, outer)
	if err != nil {
		return err
	}
	if !ok {
		return fail.Invalidf("failed to verify subset relationship between CIDR blocks on the role %q and CIDR blocks on the secret ID %q", outer, inner)
	}
	return nil
}

// checkSource admits addr when cidrs is empty or one of them holds it; what
// ("role" or "secret ID") names the restriction in Vault's error.
func checkSource(addr netip.Addr, cidrs []string, what string) error {
	if len(cidrs) == 0 {
		return nil
	}
	if !addr.IsValid() {
		return fail.Invalidf("failed to get connection information")
	}
	addr = addr.Unmap().WithZone("")
	ps, err := prefixes(cidrs)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Contains(addr) {
			return nil
		}
	}
	return fail.Invalidf("source address %q unauthorized by CIDR restrictions on the %s", addr.String(), what)
}
