package acl

// Built-in policy names. The root policy is not an ACL: a token holding it
// may do anything, and the core handles it before any ACL is built.
// "default" is attached to tokens unless they opt out, and may be edited.
const (
	RootName    = "root"
	DefaultName = "default"
)

// immutableNames cannot be written: root, and Vault's fixed policy for
// response-wrapping tokens.
var immutableNames = []string{RootName, "response-wrapping"}

// DefaultPolicy is the text of the built-in "default" policy, attached to
// tokens unless no_default_policy is set. It is Vault's, minus the two
// identity/entity lines (identity/entity/id/{{identity.entity.id}} and
// .../name/{{identity.entity.name}}): they are templated, templates are not
// supported yet, and runcred has no identity store for them to reach. Like
// Vault it grants no sys/leases/revoke; revoke-self revokes a token's leases.
const DefaultPolicy = `
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}
`
