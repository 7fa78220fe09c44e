// Package guard is runcred's pre-plan credential guard: organization- and
// project-level allowlists of what a run phase's TFC_* variables may point
// its workload-identity tokens at (audiences, Vault addresses, auth paths
// and roles, AWS role ARNs), and the check the run lifecycle makes when a
// phase is claimed, when its inputs are read and before each token is
// minted. A post-plan policy is too late for this: a plan mints its tokens
// and sends them before any policy runs.
//
// Only what may hand a token to someone else is closed by default: a Vault
// address must be runcred's own broker or on an allowlist, and an audience
// must be one of the contract's fixed defaults or on an allowlist. Vault
// auth paths and roles and AWS role ARNs are opt-in narrowing: the relying
// party's own trust check binds them to the token's subject, so an empty
// list allows any, and a non-empty one allows only what it holds.
package guard
