# The manager workspace: provisions the operator workspace in runcred with
# terraform-provider-tfe and writes its sensitive variables, read from the
# broker with terraform-provider-vault: the AppRole's role ID and a fresh
# secret ID, and where the operator's values are.
#
# TFE_TOKEN: the run's own API token, which runcred puts in every phase's
# environment; no team token is stored here. It reaches what the platform
# team granted this workspace (manage workspaces and variables in the
# operators project) and the outputs the admin workspace shares with it;
# every write it makes is recorded as made by this workspace's run, and the
# variables it writes are managed by this workspace.
# VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT: the run's broker login
# (TFC_VAULT_PROVIDER_AUTH, role "manager", policy "manager").
terraform {
  required_providers {
    tfe   = { source = "hashicorp/tfe", version = "0.80.0" }
    vault = { source = "hashicorp/vault", version = "5.11.0" }
  }
}

variable "hostname" {
  type        = string
  description = "runcred's host (and port), as the tfe provider finds it by service discovery."
}
variable "organization" { type = string }
variable "admin_workspace" {
  type    = string
  default = "admin"
}
variable "manager_workspace" {
  type    = string
  default = "manager"
}
variable "operator_workspace" {
  type    = string
  default = "operator"
}
variable "operator_project_id" {
  type        = string
  description = "The project the operator workspace goes in: the one this workspace's run token was granted."
}
variable "vault_addr" {
  type        = string
  description = "The broker's address, as the operator's runs reach it."
}

provider "tfe" { hostname = var.hostname }
provider "vault" { skip_child_token = true } # the run's token is the phase's already

# The chicken-and-egg: the paths mount is named in the admin workspace's
# outputs; it names the others.
data "tfe_outputs" "admin" {
  organization = var.organization
  workspace    = var.admin_workspace
}

locals {
  paths_mount = data.tfe_outputs.admin.nonsensitive_values.paths_mount
  role        = data.tfe_outputs.admin.nonsensitive_values.operator_role
  approle     = data.tfe_outputs.admin.nonsensitive_values.approle_path
}

data "vault_kv_secret_v2" "paths" {
  mount = local.paths_mount
  name  = "current"
}

data "vault_approle_auth_backend_role_id" "operator" {
  backend   = local.approle
  role_name = local.role
}

resource "vault_approle_auth_backend_role_secret_id" "operator" {
  backend   = local.approle
  role_name = local.role
  metadata  = jsonencode({ issued_for = var.operator_workspace })
  # The provider reads the TTL back, which is the role's when none is
  # asked for: leaving it out would plan a new secret ID every run.
  ttl = 86400
}

data "tfe_workspace" "manager" {
  organization = var.organization
  name         = var.manager_workspace
}

resource "tfe_workspace" "operator" {
  organization = var.organization
  name         = var.operator_workspace
  project_id   = var.operator_project_id
  description  = "Managed by workspace ${var.manager_workspace}: its variables are written there."
}

resource "tfe_variable" "role_id" {
  workspace_id = tfe_workspace.operator.id
  key          = "role_id"
  value        = data.vault_approle_auth_backend_role_id.operator.role_id
  category     = "terraform"
  sensitive    = true
  description  = "AppRole role ID (managed by ${var.manager_workspace})"
}

resource "tfe_variable" "secret_id" {
  workspace_id = tfe_workspace.operator.id
  key          = "secret_id"
  value        = vault_approle_auth_backend_role_secret_id.operator.secret_id
  category     = "terraform"
  sensitive    = true
  description  = "AppRole secret ID (managed by ${var.manager_workspace})"
}

resource "tfe_variable" "kv_mount" {
  workspace_id = tfe_workspace.operator.id
  key          = "kv_mount"
  value        = data.vault_kv_secret_v2.paths.data["operator"]
  category     = "terraform"
  description  = "Where the operator's values are (managed by ${var.manager_workspace})"
}

resource "tfe_variable" "aws_mount" {
  workspace_id = tfe_workspace.operator.id
  key          = "aws_mount"
  value        = data.tfe_outputs.admin.nonsensitive_values.aws_mount
  category     = "terraform"
}

resource "tfe_variable" "vault_addr" {
  workspace_id = tfe_workspace.operator.id
  key          = "vault_addr"
  value        = var.vault_addr
  category     = "terraform"
}

# A new secret ID, or a moved KV path, reaches the operator at once: each
# apply here queues a run there.
resource "tfe_run_trigger" "operator" {
  workspace_id  = tfe_workspace.operator.id
  sourceable_id = data.tfe_workspace.manager.id
}

output "operator_workspace_id" { value = tfe_workspace.operator.id }
output "role_id" { value = data.vault_approle_auth_backend_role_id.operator.role_id }
