# METADATA
# title: AWS providers and the run's credentials assume only allow-listed roles
# description: |
#   Every assume_role and assume_role_with_web_identity block of every aws
#   provider configuration in the plan (root and modules, aliases, role
#   chains) must name a role ARN that matches a pattern of the parameter
#   allowed_role_arns; so must the role ARNs of the run's own credentials
#   (TFC_AWS_*_ROLE_ARN and Vault-backed AWS). A role_arn that is a literal
#   or a variable (root variables through the plan's variables, module
#   variables through their module calls up to the root) is resolved; any
#   other expression cannot be seen in the plan and fails.
#
#   Patterns are globs over the ARN with ":" as the separator: "*" matches
#   any run of characters within one ":"-separated field (so it may span
#   "/"), "**" any run at all, "?" one character, "[a-z]" a class and
#   "{a,b}" alternatives.
#
#   A plan shows an expression only as the references it makes: a function
#   of a variable (replace(var.x, …), "${var.x}-admin") shows as var.x
#   alone and is taken for it. literal_role_arns_only closes that gap at
#   the cost of variables.
#
#   Parameters: allowed_role_arns (list of patterns, required);
#   require_assume_role (bool): an aws provider that assumes no role fails
#   (a dynamic assume_role block is invisible in the plan, so such a
#   provider looks like one that assumes none); literal_role_arns_only
#   (bool): only literal ARNs are accepted, every reference fails.
package terraform.policies.allowed_assume_roles

kinds := ["assume_role", "assume_role_with_web_identity"]

patterns := data.params.allowed_role_arns if is_array(data.params.allowed_role_arns)

deny contains msg if {
	not patterns
	msg := "parameter allowed_role_arns is not set to a list of role ARN patterns"
}

allowed(arn) if {
	is_string(arn)
	some pattern in patterns
	glob.match(pattern, [":"], arn)
}

aws_providers[key] := pc if {
	some key, pc in input.plan.configuration.provider_config
	is_aws(pc)
}

is_aws(pc) if pc.name == "aws"

is_aws(pc) if endswith(object.get(pc, "full_name", ""), "/hashicorp/aws")

# Every role block of every aws provider, by [provider key, kind, index].
blocks[[key, kind, i]] := b if {
	some key, pc in aws_providers
	some kind in kinds
	some i, b in object.get(pc, ["expressions", kind], [])
}

deny contains msg if {
	some key, pc in aws_providers
	some kind in kinds
	x := object.get(pc, ["expressions", kind], [])
	not is_array(x)
	msg := sprintf("provider %q: %s is not a list of blocks in the plan; it cannot be checked", [key, kind])
}

deny contains msg if {
	some [key, kind, i], b in blocks
	arn := role_arn(b, aws_providers[key])
	not allowed(arn)
	msg := sprintf("provider %q: %s[%d].role_arn is %q, which is not in allowed_role_arns", [key, kind, i, arn])
}

deny contains msg if {
	some [key, kind, i], b in blocks
	not role_arn(b, aws_providers[key])
	msg := sprintf("provider %q: %s[%d].role_arn (%s) cannot be resolved from the plan: %s", [key, kind, i, describe(object.get(b, "role_arn", null)), resolvable])
}

resolvable := "only literal ARNs are accepted (literal_role_arns_only)" if data.params.literal_role_arns_only

else := "only literals and variables can be"

deny contains msg if {
	data.params.require_assume_role == true
	some key, pc in aws_providers
	every kind in kinds {
		count(object.get(pc, ["expressions", kind], [])) == 0
	}
	msg := sprintf("provider %q assumes no role, and require_assume_role is set", [key])
}

# The run's own credentials.
deny contains msg if {
	some phase in ["plan", "apply"]
	some c in object.get(input.run, ["credentials", phase, "aws"], [])
	not allowed(object.get(c, "role_arn", ""))
	msg := sprintf("the run's %s-phase AWS credentials%s name role %q, which is not in allowed_role_arns", [phase, tag(c), object.get(c, "role_arn", "")])
}

deny contains msg if {
	some phase in ["plan", "apply"]
	some c in object.get(input.run, ["credentials", phase, "vault_backed_aws"], [])
	arn := object.get(c, "role_arn", "")
	arn != ""
	not allowed(arn)
	msg := sprintf("the run's %s-phase Vault-backed AWS credentials%s name role %q, which is not in allowed_role_arns", [phase, tag(c), arn])
}

tag(c) := "" if object.get(c, "tag", "") == ""

tag(c) := sprintf(" (tag %q)", [c.tag]) if object.get(c, "tag", "") != ""

# role_arn is the ARN a block names, undefined when it cannot be resolved.
role_arn(b, _) := b.role_arn.constant_value if is_string(b.role_arn.constant_value)

role_arn(b, pc) := v if {
	not b.role_arn.constant_value
	not data.params.literal_role_arns_only
	x := single_var(b.role_arn)
	names := module_names(object.get(pc, "module_address", ""))
	v := resolve_var(names, x)
}

# single_var is X when the expression refers to var.X and nothing else.
single_var(e) := name if {
	count(e.references) == 1
	startswith(e.references[0], "var.")
	name := substring(e.references[0], 4, -1)
	regex.match(`^[A-Za-z_][A-Za-z0-9_-]*$`, name)
}

# module_names are the module call names of a module address:
# "module.a.module.b" is ["a", "b"], "" is [].
module_names(addr) := [] if addr == ""

module_names(addr) := names if {
	addr != ""
	parts := split(addr, ".")
	count(parts) % 2 == 0
	every i, p in parts {
		module_keyword(i, p)
	}
	names := [p | some i, p in parts; i % 2 == 1]
}

module_keyword(i, _) if i % 2 == 1

module_keyword(i, p) if {
	i % 2 == 0
	p == "module"
}

# call_path is where the module call of names sits below the root module.
call_path(names) := [seg | some i, n in names; some seg in segment(i, n)]

segment(0, n) := ["module_calls", n]

segment(i, n) := ["module", "module_calls", n] if i > 0

call(names, k) := object.get(input.plan.configuration.root_module, call_path(array.slice(names, 0, k)), {})

# The variable graph along a module path: node "k|X" is variable X of the
# module at depth k; it points at "k-1|Y" when its module call passes
# var.Y. Rego has no recursion; graph.reachable follows the chain.
var_graph(names) := {sprintf("%d|%s", [k, x]): next |
	some k in numbers.range(1, count(names))
	k >= 1
	k <= count(names)
	some x, e in object.get(call(names, k), "expressions", {})
	next := [sprintf("%d|%s", [k - 1, y]) | y := single_var(e)]
}

resolve_var(names, x) := v if {
	start := sprintf("%d|%s", [count(names), x])
	edges := var_graph(names)

	# graph.reachable reports only nodes that are keys of the graph.
	g := object.union({n: [] | some n in ({start} | {t | some ts in edges; some t in ts})}, edges)
	reach := graph.reachable(g, {start})
	ends := {n | some n in reach; count(object.get(g, n, [])) == 0}
	count(ends) == 1
	some end in ends
	v := value_at(names, end)
}

value_at(_, node) := v if {
	[k, x] := split_node(node)
	k == 0
	v := input.plan.variables[x].value
	is_string(v)
}

value_at(names, node) := v if {
	[k, x] := split_node(node)
	k > 0
	v := call(names, k).expressions[x].constant_value
	is_string(v)
}

# A module variable its call does not set takes its default.
value_at(names, node) := v if {
	[k, x] := split_node(node)
	k > 0
	not call(names, k).expressions[x]
	v := call(names, k).module.variables[x].default
	is_string(v)
}

split_node(node) := [to_number(parts[0]), parts[1]] if {
	parts := split(node, "|")
	count(parts) == 2
}

describe(null) := "no role_arn"

describe(e) := sprintf("refers to %s", [concat(", ", e.references)]) if is_array(e.references)

describe(e) := "an expression" if {
	e != null
	not is_array(e.references)
}
