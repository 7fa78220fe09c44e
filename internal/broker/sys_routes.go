package broker

import (
	"context"

	"github.com/runcred/runcred/internal/broker/engine"
)

// sysRoutes are the sys/ paths runcred implements, with Vault's
// unauthenticated and root-protected (sudo) paths marked on them. An
// operation a sys/ route does not serve is answered as a path with no
// route, as Vault's system backend does; the few routes whose handler sorts
// out the operations itself serve every one.
func (b *Broker) sysRoutes() *coreRoutes {
	type route = engine.Route[coreHandler]
	type ops = map[engine.Operation]coreHandler
	type p = engine.Path
	read := func(h coreHandler) ops { return ops{engine.Read: h} }
	write := func(h coreHandler) ops { return ops{engine.Update: h} } // a create is served by the update handler
	list := func(h coreHandler) ops { return ops{engine.List: h} }
	mounts := func(auth bool, prefix string) coreHandler {
		return func(ctx context.Context, c *call) (*Response, error) {
			return b.mountOp(ctx, c, c.rest[len(prefix):], auth)
		}
	}
	listMounts := func(auth bool) coreHandler {
		return func(ctx context.Context, _ *call) (*Response, error) { return b.listMounts(ctx, auth) }
	}
	policy := func(prefix, field string) coreHandler {
		return func(ctx context.Context, c *call) (*Response, error) {
			return b.policyOp(ctx, c.op, c.rest[len(prefix):], engine.Fields(c.req.Data), field)
		}
	}
	t := engine.NewTable(coreNoRoute, coreNoRoute,
		route{Path: p{Pattern: "health", Unauthenticated: true, Unaudited: true}, Operations: read(b.sysHealth)},
		route{Path: p{Pattern: "seal-status", Unauthenticated: true, Unaudited: true}, Operations: read(b.sysSealStatus)},
		route{Path: p{Pattern: "leader", Unauthenticated: true, Unaudited: true}, Operations: read(b.sysLeader)},
		route{Path: p{Pattern: "mounts"}, Operations: read(listMounts(false))},
		route{Path: p{Pattern: "mounts/*"}, Operations: engine.Every(mounts(false, "mounts/"))},
		route{Path: p{Pattern: "auth"}, Operations: read(listMounts(true))},
		route{Path: p{Pattern: "auth/*", Sudo: true}, Operations: engine.Every(mounts(true, "auth/"))},
		route{Path: p{Pattern: "remount", Sudo: true}, Operations: write(b.sysRemount)},
		route{Path: p{Pattern: "remount/status/*"}, Operations: read(b.sysRemountStatus)},
		route{Path: p{Pattern: "internal/ui/mounts", Unauthenticated: true}, Operations: read(b.uiMounts)},
		// Any access under the mount shows it: the handler checks.
		route{Path: p{Pattern: "internal/ui/mounts/*", SelfAuthorized: true}, Operations: read(b.uiMount)},
		route{Path: p{Pattern: "policies/acl"}, Operations: list(b.policyNames)},
		route{Path: p{Pattern: "policies/acl/"}, Operations: list(b.policyNames)},
		route{Path: p{Pattern: "policies/acl/*"}, Operations: engine.Every(policy("policies/acl/", "policy"))},
		route{Path: p{Pattern: "policy"}, Operations: read(b.policyNames)},
		route{Path: p{Pattern: "policy/*"}, Operations: engine.Every(policy("policy/", "rules"))},
		route{Path: p{Pattern: "capabilities-self"}, Operations: write(b.capabilities)},
		route{Path: p{Pattern: "capabilities"}, Operations: write(b.capabilities)},
		route{Path: p{Pattern: "audit", Sudo: true}, Operations: read(b.listDevices)},
		route{Path: p{Pattern: "audit/*", Sudo: true}, Operations: engine.Every[coreHandler](b.deviceOp)},
		route{Path: p{Pattern: "audit-hash/*"}, Operations: write(b.auditHash)},
		// sys/leases/*. The legacy sys/renew and sys/revoke* paths are not
		// served (OpenBao removed them: CVE-2026-45808).
		route{Path: p{Pattern: "leases", Sudo: true}, Operations: read(b.irrevocableLeases)},
		route{Path: p{Pattern: "leases/count", Sudo: true}, Operations: read(b.countLeases)},
		route{Path: p{Pattern: "leases/lookup"}, Operations: write(b.sysLeaseLookup)},
		// Only the LIST under leases/lookup/ is root-protected: the entry
		// without operations, declared first, answers the others.
		route{Path: p{Pattern: "leases/lookup/*"}},
		route{Path: p{Pattern: "leases/lookup/*", Sudo: true}, Operations: list(b.listLeases)},
		route{Path: p{Pattern: "leases/renew"}, Operations: write(b.sysLeaseRenew)},
		route{Path: p{Pattern: "leases/renew/*"}, Operations: write(b.sysLeaseRenew)},
		route{Path: p{Pattern: "leases/revoke"}, Operations: write(b.leaseRevoke)},
		route{Path: p{Pattern: "leases/revoke/*"}, Operations: write(b.leaseRevoke)},
		route{Path: p{Pattern: "leases/revoke-prefix/*", Sudo: true}, Operations: write(b.revokePrefixOp(false))},
		route{Path: p{Pattern: "leases/revoke-force/*", Sudo: true}, Operations: write(b.revokePrefixOp(true))},
	)
	return &coreRoutes{table: t, sys: true}
}
