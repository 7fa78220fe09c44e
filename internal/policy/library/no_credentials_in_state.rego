# METADATA
# title: No cloud credentials in the state
# description: |
#   Flags data sources and resources that write cloud credentials into the
#   state: Vault's AWS and Azure secrets engines read through the Vault
#   provider, generic and KV reads of a secrets engine's credential paths,
#   and long-lived keys created as resources. Runs get short-lived
#   credentials of their own (workload identity: TFC_AWS_PROVIDER_AUTH,
#   TFC_VAULT_BACKED_AWS_AUTH and the like), which never reach the state.
#
#   Parameters: credential_paths (list of globs, "/" separated) replaces the
#   default Vault paths that hold credentials.
package terraform.policies.no_credentials_in_state

credential_types := {
	"vault_aws_access_credentials": "AWS credentials from Vault",
	"vault_aws_static_access_credentials": "AWS credentials from Vault",
	"vault_azure_access_credentials": "Azure credentials from Vault",
	"aws_iam_access_key": "a long-lived AWS access key",
	"google_service_account_key": "a long-lived GCP service account key",
	"azuread_application_password": "a long-lived Azure application secret",
	"azuread_service_principal_password": "a long-lived Azure service principal secret",
}

secret_reads := {"vault_generic_secret", "vault_kv_secret", "vault_kv_secret_v2"}

# watched are the types either check looks at, an object for lookups.
watched := object.union({t: true | some t in secret_reads}, credential_types)

default_paths := [
	"aws*/creds/**", "aws*/sts/**", "aws*/static-creds/**",
	"azure*/creds/**",
	"gcp*/token/**", "gcp*/key/**", "gcp*/roleset/*/token", "gcp*/roleset/*/key",
	"gcp*/static-account/*/token", "gcp*/static-account/*/key",
	"gcp*/impersonated-account/*/token",
]

paths := data.params.credential_paths if is_array(data.params.credential_paths)

else := default_paths

advice := "use the run's dynamic credentials instead (workload identity: TFC_AWS_PROVIDER_AUTH, TFC_VAULT_BACKED_AWS_AUTH, TFC_GCP_PROVIDER_AUTH, TFC_AZURE_PROVIDER_AUTH)"

# Modules of the configuration by address prefix ("" for the root,
# "module.a.module.b." below), one rule per depth: Rego has no recursion,
# and walking the whole configuration costs more than the rest of the
# policy on a large plan. Modules nested deeper than level8 are reported.
level0[""] := input.plan.configuration.root_module

level1[prefix] := call.module if {
	some parent, m in level0
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

level2[prefix] := call.module if {
	some parent, m in level1
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

level3[prefix] := call.module if {
	some parent, m in level2
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

level4[prefix] := call.module if {
	some parent, m in level3
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

level5[prefix] := call.module if {
	some parent, m in level4
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

level6[prefix] := call.module if {
	some parent, m in level5
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

level7[prefix] := call.module if {
	some parent, m in level6
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

level8[prefix] := call.module if {
	some parent, m in level7
	some name, call in object.get(m, "module_calls", {})
	prefix := sprintf("%smodule.%s.", [parent, name])
}

modules := [level0, level1, level2, level3, level4, level5, level6, level7, level8]

deny contains msg if {
	some prefix, m in level8
	count(object.get(m, "module_calls", {})) > 0
	msg := sprintf("modules below %s are nested more than 8 levels deep and were not checked", [trim_suffix(prefix, ".")])
}

# Every resource and data source of the configuration, root and modules,
# as [address, type, expressions].
config_resources contains [concat("", [prefix, object.get(r, "address", r.type)]), r.type, object.get(r, "expressions", {})] if {
	some level in modules
	some prefix, m in level
	some r in object.get(m, "resources", [])
	watched[r.type]
}

deny contains msg if {
	some [addr, t, _] in config_resources
	what := credential_types[t]
	msg := sprintf("%s (%s) puts %s into the state: %s", [addr, t, what, advice])
}

deny contains msg if {
	some [addr, t, exprs] in config_resources
	t in secret_reads
	path := secret_path(t, exprs)
	some pattern in paths
	glob.match(pattern, ["/"], trim(path, "/"))
	msg := sprintf("%s (%s) reads %q, cloud credentials that end up in the state: %s", [addr, t, path, advice])
}

secret_path("vault_kv_secret_v2", exprs) := concat("/", [exprs.mount.constant_value, exprs.name.constant_value])

secret_path(t, exprs) := exprs.path.constant_value if t != "vault_kv_secret_v2"

# Resource changes hold values the configuration computes (a path built
# from variables): check those too.
deny contains msg if {
	some rc in input.plan.resource_changes
	rc.type in secret_reads
	path := after_path(rc.type, rc.change.after)
	some pattern in paths
	glob.match(pattern, ["/"], trim(path, "/"))
	msg := sprintf("%s (%s) reads %q, cloud credentials that end up in the state: %s", [rc.address, rc.type, path, advice])
}

# Data sources read during the plan are in the prior state with the values
# they were read with (a path built from variables), modules as nested
# child_modules, one rule per depth as above.
state0 := [object.get(input.plan, ["prior_state", "values", "root_module"], {})]

state1 := [c | some m in state0; some c in object.get(m, "child_modules", [])]

state2 := [c | some m in state1; some c in object.get(m, "child_modules", [])]

state3 := [c | some m in state2; some c in object.get(m, "child_modules", [])]

state4 := [c | some m in state3; some c in object.get(m, "child_modules", [])]

state5 := [c | some m in state4; some c in object.get(m, "child_modules", [])]

state6 := [c | some m in state5; some c in object.get(m, "child_modules", [])]

state7 := [c | some m in state6; some c in object.get(m, "child_modules", [])]

state8 := [c | some m in state7; some c in object.get(m, "child_modules", [])]

deny contains msg if {
	some level in [state0, state1, state2, state3, state4, state5, state6, state7, state8]
	some m in level
	some r in object.get(m, "resources", [])
	r.type in secret_reads
	path := after_path(r.type, r.values)
	some pattern in paths
	glob.match(pattern, ["/"], trim(path, "/"))
	msg := sprintf("%s (%s) reads %q, cloud credentials that end up in the state: %s", [r.address, r.type, path, advice])
}

after_path("vault_kv_secret_v2", after) := concat("/", [after.mount, after.name])

after_path(t, after) := after.path if t != "vault_kv_secret_v2"
