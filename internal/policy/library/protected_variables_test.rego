package terraform.policies.protected_variables_test

import data.terraform.policies.protected_variables as p

manager := {"kind": "run", "name": "run-abc", "workspace": "vault-admin"}

var(over) := object.union({
	"key": "vault_role_id", "category": "terraform", "sensitive": true,
	"managed_by": "vault-admin", "last_writer": manager,
	"value_hmac": "aa11", "manager_value_hmac": "aa11",
}, over)

run(vars) := {"workspace": {"name": "app"}, "variable_list": vars}

test_manager_wrote_it_passes if {
	count(p.deny) == 0 with input.run as run([var({})])
}

test_unmanaged_variables_pass if {
	count(p.deny) == 0 with input.run as run([
		{"key": "region", "category": "env", "managed_by": "", "last_writer": {"kind": "user", "name": "op"}},
		{"key": "x", "category": "terraform", "last_writer": {"kind": "user", "name": "op"}},
	])
}

test_own_workspace_managing_passes if {
	count(p.deny) == 0 with input.run as run([var({"managed_by": "app", "last_writer": {"kind": "user", "name": "op"}})])
}

test_operator_overwrote_fails if {
	msgs := p.deny with input.run as run([var({"last_writer": {"kind": "user", "name": "mallory"}, "value_hmac": "bb22"})])
	msgs == {
		`variable "vault_role_id" (terraform) is managed by workspace "vault-admin" but was last written by user "mallory"`,
		`variable "vault_role_id" (terraform) differs from the value workspace "vault-admin" last wrote`,
	}
}

test_restored_value_by_other_writer_still_fails if {
	# Same value, wrong writer: provenance alone fails it.
	msgs := p.deny with input.run as run([var({"last_writer": {"kind": "team_token", "name": "ops"}})])
	msgs == {`variable "vault_role_id" (terraform) is managed by workspace "vault-admin" but was last written by a token of team "ops"`}
}

test_run_of_other_workspace_fails if {
	msgs := p.deny with input.run as run([var({"last_writer": {"kind": "run", "name": "run-x", "workspace": "intruder"}})])
	count(msgs) == 1
}

test_value_differs_fails if {
	msgs := p.deny with input.run as run([var({"value_hmac": "cc33"})])
	msgs == {`variable "vault_role_id" (terraform) differs from the value workspace "vault-admin" last wrote`}
}

test_manager_never_wrote_fails if {
	msgs := p.deny with input.run as run([var({"manager_value_hmac": ""})])
	some m in msgs
	contains(m, "the value it last wrote is not known")
}

test_missing_provenance_fails_closed if {
	count(p.deny) > 0 with input.run as run([{"key": "k", "category": "env", "managed_by": "vault-admin"}])
}

test_missing_variable_list_fails_closed if {
	p.deny == {"input.run.variable_list is missing: the variables' provenance cannot be checked"} with input.run as {"workspace": {"name": "app"}}
}

test_env_and_terraform_same_key_both_checked if {
	msgs := p.deny with input.run as run([
		var({}),
		var({"category": "env", "last_writer": {"kind": "user", "name": "mallory"}}),
	])
	msgs == {`variable "vault_role_id" (env) is managed by workspace "vault-admin" but was last written by user "mallory"`}
}

test_other_writer_as_the_server_sends_it_fails_once if {
	# The server sends no manager value once another wrote last: one
	# message, naming the writer.
	msgs := p.deny with input.run as run([var({"last_writer": {"kind": "team_token", "name": "ops"}, "value_hmac": "bb22", "manager_value_hmac": ""})])
	msgs == {`variable "vault_role_id" (terraform) is managed by workspace "vault-admin" but was last written by a token of team "ops"`}
}
