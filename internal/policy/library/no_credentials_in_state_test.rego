package terraform.policies.no_credentials_in_state_test

import data.terraform.policies.no_credentials_in_state as p

res(addr, t, exprs) := {"address": addr, "mode": "data", "type": t, "name": "x", "expressions": exprs}

plan(root) := {"plan": {"configuration": {"root_module": root}, "resource_changes": []}}

test_vault_aws_credentials_flagged if {
	msgs := p.deny with input as plan({"resources": [res("data.vault_aws_access_credentials.creds", "vault_aws_access_credentials", {"backend": {"constant_value": "aws"}})]})
	count(msgs) == 1
	some m in msgs
	contains(m, "data.vault_aws_access_credentials.creds")
	contains(m, "dynamic credentials")
}

test_generic_secret_creds_path_flagged_in_module if {
	root := {"module_calls": {"m": {"module": {"resources": [res("data.vault_generic_secret.c", "vault_generic_secret", {"path": {"constant_value": "aws-prod/creds/deploy"}})]}}}}
	msgs := p.deny with input as plan(root)
	msgs == {`module.m.data.vault_generic_secret.c (vault_generic_secret) reads "aws-prod/creds/deploy", cloud credentials that end up in the state: use the run's dynamic credentials instead (workload identity: TFC_AWS_PROVIDER_AUTH, TFC_VAULT_BACKED_AWS_AUTH, TFC_GCP_PROVIDER_AUTH, TFC_AZURE_PROVIDER_AUTH)`}
}

test_kv_v2_and_resource_changes_flagged if {
	count(p.deny) == 1 with input as plan({"resources": [res("data.vault_kv_secret_v2.c", "vault_kv_secret_v2", {"mount": {"constant_value": "aws"}, "name": {"constant_value": "sts/deploy"}})]})
	count(p.deny) == 1 with input as {"plan": {"configuration": {"root_module": {}}, "resource_changes": [{
		"address": "data.vault_generic_secret.c", "type": "vault_generic_secret",
		"change": {"after": {"path": "gcp/roleset/ci/token"}},
	}]}}
}

test_ordinary_secrets_pass if {
	count(p.deny) == 0 with input as plan({"resources": [
		res("data.vault_generic_secret.db", "vault_generic_secret", {"path": {"constant_value": "secret/app/config"}}),
		res("data.vault_kv_secret_v2.c", "vault_kv_secret_v2", {"mount": {"constant_value": "kv"}, "name": {"constant_value": "aws/creds"}}),
		{"address": "random_pet.p", "mode": "managed", "type": "random_pet", "name": "p"},
	]})
}

test_paths_parameter_replaces_defaults if {
	inp := plan({"resources": [res("data.vault_generic_secret.c", "vault_generic_secret", {"path": {"constant_value": "secret/cloud/key"}})]})
	count(p.deny) == 0 with input as inp
	count(p.deny) == 1 with input as inp with data.params.credential_paths as ["secret/cloud/*"]
}

wrap(m) := {"module_calls": {"m": {"module": m}}}

test_deep_modules_reported if {
	leaf := {"resources": [res("data.vault_aws_access_credentials.c", "vault_aws_access_credentials", {})]}
	eight := wrap(wrap(wrap(wrap(wrap(wrap(wrap(wrap(leaf))))))))
	msgs := p.deny with input as plan(eight)
	count(msgs) == 1
	some m in msgs
	startswith(m, "module.m.module.m.module.m.module.m.module.m.module.m.module.m.module.m.data.vault_aws_access_credentials.c")
	msgs9 := p.deny with input as plan({"module_calls": {"x": {"module": eight}}})
	msgs9 == {"modules below module.x.module.m.module.m.module.m.module.m.module.m.module.m.module.m are nested more than 8 levels deep and were not checked"}
}

test_prior_state_paths_flagged if {
	inp := {"plan": {"configuration": {"root_module": {}}, "resource_changes": [], "prior_state": {"values": {"root_module": {
		"resources": [{"address": "data.vault_generic_secret.a", "mode": "data", "type": "vault_generic_secret", "values": {"path": "secret/app"}}],
		"child_modules": [{"resources": [{
			"address": "module.m.data.vault_generic_secret.c", "mode": "data", "type": "vault_generic_secret",
			"values": {"path": "aws/creds/deploy"},
		}]}],
	}}}}}
	msgs := p.deny with input as inp
	count(msgs) == 1
	some m in msgs
	startswith(m, `module.m.data.vault_generic_secret.c (vault_generic_secret) reads "aws/creds/deploy"`)
}
