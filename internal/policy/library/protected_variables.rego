# METADATA
# title: Variables another workspace manages are written only by it
# description: |
#   A variable that another workspace manages (input.run.variable_list[_].managed_by)
#   must have been last written by a run of that workspace, and its value
#   must be the one that workspace last wrote: the value HMACs are equal.
#   input.run carries HMACs of values under a key of the installation, never
#   the values.
package terraform.policies.protected_variables

# Variables of this run that another workspace manages.
managed contains v if {
	some v in input.run.variable_list
	object.get(v, "managed_by", "") != ""
	v.managed_by != input.run.workspace.name
}

deny contains msg if {
	not has_variable_list
	msg := "input.run.variable_list is missing: the variables' provenance cannot be checked"
}

deny contains msg if {
	some v in managed
	not written_by_manager(v)
	msg := sprintf("variable %q (%s) is managed by workspace %q but was last written by %s",
		[v.key, object.get(v, "category", "?"), v.managed_by, writer(object.get(v, "last_writer", {}))])
}

# Written last by its manager, yet without the value it wrote: the input
# is incomplete, and the check fails closed. (Written last by anyone else,
# the rule above denies it already.)
deny contains msg if {
	some v in managed
	written_by_manager(v)
	object.get(v, "manager_value_hmac", "") == ""
	msg := sprintf("variable %q (%s) is managed by workspace %q, but the value it last wrote is not known",
		[v.key, object.get(v, "category", "?"), v.managed_by])
}

deny contains msg if {
	some v in managed
	want := object.get(v, "manager_value_hmac", "")
	want != ""
	object.get(v, "value_hmac", "") != want
	msg := sprintf("variable %q (%s) differs from the value workspace %q last wrote",
		[v.key, object.get(v, "category", "?"), v.managed_by])
}

has_variable_list if is_array(input.run.variable_list)

written_by_manager(v) if {
	v.last_writer.kind == "run"
	v.last_writer.workspace == v.managed_by
}

# An unknown or missing writer still names the failure: the check fails
# closed either way.
default writer(_) := "an unknown writer"

writer(w) := sprintf("user %q", [w.name]) if w.kind == "user"

writer(w) := sprintf("a token of team %q", [w.name]) if w.kind == "team_token"

writer(w) := "the organization token" if w.kind == "organization_token"

writer(w) := sprintf("run %s of workspace %q", [w.name, w.workspace]) if w.kind == "run"

writer(w) := "an unknown writer" if not w.kind in {"user", "team_token", "organization_token", "run"}
