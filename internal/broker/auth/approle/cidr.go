package approle

import (
	"net/netip"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// subset reports whether every block of inner lies within some block of
// outer; any list is a subset of an empty outer (no restriction). Both are
// stored canonical lists.
func subset(inner, outer []string) (bool, error) {
	if len(outer) == 0 {
		return true, nil
	}
	in, err := engine.Prefixes(inner)
	if err != nil {
		return false, err
	}
	out, err := engine.Prefixes(outer)
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
	ps, err := engine.Prefixes(cidrs)
	if err != nil {
		return err
	}
	if !engine.AddrIn(addr, ps) {
		return fail.Invalidf("source address %q unauthorized by CIDR restrictions on the %s", addr.Unmap().String(), what)
	}
	return nil
}
