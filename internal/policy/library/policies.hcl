# runcred's built-in policy library, attachable as one policy set.
# The levels below are the defaults; a set built from the library may
# change them.

policy "protected-variables" {
  query             = "data.terraform.policies.protected_variables.deny"
  enforcement_level = "hard-mandatory"
  description       = "A variable another workspace manages holds the value its manager last wrote, and only its manager wrote it."
}

policy "allowed-assume-roles" {
  query             = "data.terraform.policies.allowed_assume_roles.deny"
  enforcement_level = "mandatory"
  description       = "Every role an aws provider assumes, and every role the run's credentials name, is on the allow-list (parameter allowed_role_arns)."
}

policy "no-credentials-in-state" {
  query             = "data.terraform.policies.no_credentials_in_state.deny"
  enforcement_level = "advisory"
  description       = "No data source or resource puts cloud credentials into the state; the run's dynamic credentials serve instead."
}
