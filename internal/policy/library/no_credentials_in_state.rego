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

# Every resource and data source of the configuration, root and modules,
# as [address, type, expressions].
config_resources contains [addr, r.type, object.get(r, "expressions", {})] if {
	walk(input.plan.configuration.root_module, [path, r])
	count(path) >= 2
	path[count(path) - 2] == "resources"
	is_string(r.type)
	addr := resource_address(path, r)
}

resource_address(path, r) := concat(".", array.concat(
	[sprintf("module.%s", [p]) | some i, p in path; i > 0; path[i - 1] == "module_calls"],
	[object.get(r, "address", r.type)],
))

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

after_path("vault_kv_secret_v2", after) := concat("/", [after.mount, after.name])

after_path(t, after) := after.path if t != "vault_kv_secret_v2"
