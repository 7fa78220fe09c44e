package terraform.policies.allowed_assume_roles_test

import data.terraform.policies.allowed_assume_roles as p

params := {"allowed_role_arns": [
	"arn:aws:iam::111111111111:role/terraform",
	"arn:aws:iam::222222222222:role/deploy-*",
]}

aws(exprs) := object.union({"name": "aws", "full_name": "registry.opentofu.org/hashicorp/aws"}, {"expressions": exprs})

plan(providers) := {"plan": {"variables": {}, "configuration": {"provider_config": providers, "root_module": {}}}}

const(v) := {"constant_value": v}

refs(rs) := {"references": rs}

test_literal_allowed if {
	count(p.deny) == 0 with input as plan({"aws": aws({"assume_role": [{"role_arn": const("arn:aws:iam::111111111111:role/terraform")}]})})
		with data.params as params
}

test_glob_allowed_and_bounded if {
	count(p.deny) == 0 with input as plan({"aws": aws({"assume_role": [{"role_arn": const("arn:aws:iam::222222222222:role/deploy-app/eu")}]})})
		with data.params as params
	# "*" does not cross ":": another account does not match.
	count(p.deny) == 1 with input as plan({"aws": aws({"assume_role": [{"role_arn": const("arn:aws:iam::222222222222:role/deploy-x:arn:aws:iam::999999999999:role/deploy-x")}]})})
		with data.params as params
}

test_literal_denied if {
	p.deny == {`provider "aws": assume_role[0].role_arn is "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`} with input as plan({"aws": aws({"assume_role": [{"role_arn": const("arn:aws:iam::999999999999:role/admin")}]})})
		with data.params as params
}

test_chain_every_hop_checked if {
	msgs := p.deny with input as plan({"aws.chain": aws({"assume_role": [
		{"role_arn": const("arn:aws:iam::111111111111:role/terraform")},
		{"role_arn": const("arn:aws:iam::999999999999:role/admin")},
	]})})
		with data.params as params
	msgs == {`provider "aws.chain": assume_role[1].role_arn is "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`}
}

test_web_identity_checked if {
	count(p.deny) == 1 with input as plan({"aws": aws({"assume_role_with_web_identity": [{"role_arn": const("arn:aws:iam::999999999999:role/admin")}]})})
		with data.params as params
}

test_root_variable_resolved if {
	inp := object.union(plan({"aws": aws({"assume_role": [{"role_arn": refs(["var.role"])}]})}), {"plan": {"variables": {"role": {"value": "arn:aws:iam::111111111111:role/terraform"}}}})
	count(p.deny) == 0 with input as inp with data.params as params
	bad := object.union(inp, {"plan": {"variables": {"role": {"value": "arn:aws:iam::999999999999:role/admin"}}}})
	count(p.deny) == 1 with input as bad with data.params as params
}

test_local_fails_closed if {
	msgs := p.deny with input as plan({"aws": aws({"assume_role": [{"role_arn": refs(["local.role"])}]})})
		with data.params as params
	msgs == {`provider "aws": assume_role[0].role_arn (refers to local.role) cannot be resolved from the plan: only literals and variables can be`}
}

test_several_references_fail_closed if {
	count(p.deny) == 1 with input as plan({"aws": aws({"assume_role": [{"role_arn": refs(["var.a", "var.b"])}]})})
		with data.params as params
	count(p.deny) == 1 with input as plan({"aws": aws({"assume_role": [{"role_arn": refs(["var.roles[0]", "var.roles"])}]})})
		with data.params as params
}

test_missing_role_arn_fails_closed if {
	count(p.deny) == 1 with input as plan({"aws": aws({"assume_role": [{"session_name": const("x")}]})})
		with data.params as params
}

test_missing_variable_fails_closed if {
	count(p.deny) == 1 with input as plan({"aws": aws({"assume_role": [{"role_arn": refs(["var.nope"])}]})})
		with data.params as params
}

test_module_variable_resolved_to_root if {
	inp := {"plan": {
		"variables": {"top": {"value": "arn:aws:iam::999999999999:role/admin"}},
		"configuration": {
			"provider_config": {"module.a.module.b:aws": object.union(aws({"assume_role": [{"role_arn": refs(["var.inner"])}]}), {"module_address": "module.a.module.b"})},
			"root_module": {"module_calls": {"a": {
				"expressions": {"mid": refs(["var.top"])},
				"module": {"module_calls": {"b": {"expressions": {"inner": refs(["var.mid"])}, "module": {}}}},
			}}},
		},
	}}
	p.deny == {`provider "module.a.module.b:aws": assume_role[0].role_arn is "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`} with input as inp
		with data.params as params
	count(p.deny) == 0 with input as inp with data.params as params
		with input.plan.variables.top.value as "arn:aws:iam::111111111111:role/terraform"
}

test_module_constant_and_default_resolved if {
	root := {"module_calls": {"a": {
		"expressions": {"role": const("arn:aws:iam::999999999999:role/admin")},
		"module": {"variables": {"dflt": {"default": "arn:aws:iam::999999999999:role/other"}}},
	}}}
	pc := object.union(aws({"assume_role": [{"role_arn": refs(["var.role"])}, {"role_arn": refs(["var.dflt"])}]}), {"module_address": "module.a"})
	msgs := p.deny with input as {"plan": {"variables": {}, "configuration": {"provider_config": {"module.a:aws": pc}, "root_module": root}}}
		with data.params as params
	msgs == {
		`provider "module.a:aws": assume_role[0].role_arn is "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`,
		`provider "module.a:aws": assume_role[1].role_arn is "arn:aws:iam::999999999999:role/other", which is not in allowed_role_arns`,
	}
}

test_module_for_each_fails_closed if {
	root := {"module_calls": {"a": {"expressions": {"role": refs(["each.value"])}, "module": {}}}}
	pc := object.union(aws({"assume_role": [{"role_arn": refs(["var.role"])}]}), {"module_address": "module.a"})
	count(p.deny) == 1 with input as {"plan": {"variables": {}, "configuration": {"provider_config": {"module.a:aws": pc}, "root_module": root}}}
		with data.params as params
}

test_no_params_fails_closed if {
	"parameter allowed_role_arns is not set to a list of role ARN patterns" in p.deny with input as plan({})
		with data.params as {}
}

test_non_aws_ignored if {
	count(p.deny) == 0 with input as plan({"random": {"name": "random", "expressions": {"assume_role": [{"role_arn": const("x")}]}}})
		with data.params as params
}

test_require_assume_role if {
	count(p.deny) == 0 with input as plan({"aws": aws({"region": const("eu-west-1")})}) with data.params as params
	count(p.deny) == 1 with input as plan({"aws": aws({"region": const("eu-west-1")})})
		with data.params as object.union(params, {"require_assume_role": true})
}

test_run_credentials_checked if {
	run := {"credentials": {
		"plan": {"aws": [{"tag": "", "role_arn": "arn:aws:iam::111111111111:role/terraform"}]},
		"apply": {
			"aws": [{"tag": "prod", "role_arn": "arn:aws:iam::999999999999:role/admin"}],
			"vault_backed_aws": [{"tag": "", "role_arn": "arn:aws:iam::888888888888:role/x"}, {"tag": "", "role_arn": ""}],
		},
	}}
	msgs := p.deny with input as object.union(plan({}), {"run": run}) with data.params as params
	msgs == {
		`the run's apply-phase AWS credentials (tag "prod") name role "arn:aws:iam::999999999999:role/admin", which is not in allowed_role_arns`,
		`the run's apply-phase Vault-backed AWS credentials name role "arn:aws:iam::888888888888:role/x", which is not in allowed_role_arns`,
	}
}

test_run_credentials_without_role_fail_closed if {
	count(p.deny) == 1 with input as object.union(plan({}), {"run": {"credentials": {"plan": {"aws": [{"tag": ""}]}}}})
		with data.params as params
}

test_literal_role_arns_only if {
	inp := object.union(plan({"aws": aws({"assume_role": [{"role_arn": refs(["var.role"])}]})}), {"plan": {"variables": {"role": {"value": "arn:aws:iam::111111111111:role/terraform"}}}})
	count(p.deny) == 0 with input as inp with data.params as params
	count(p.deny) == 1 with input as inp with data.params as object.union(params, {"literal_role_arns_only": true})
	count(p.deny) == 0 with input as plan({"aws": aws({"assume_role": [{"role_arn": const("arn:aws:iam::111111111111:role/terraform")}]})})
		with data.params as object.union(params, {"literal_role_arns_only": true})
}
