# The admin workspace: the platform team's broker side of the classic
# admin/operator setup, written with terraform-provider-vault against
# runcred's Vault-compatible broker. It provisions, for one operator:
#
#   - an AWS secrets-engine role limited to one scope (here one S3 bucket;
#     on AWS, the classic ec2-only role);
#   - an ACL policy that can read only that role's credentials and one KV
#     path, and an AppRole bound to it;
#   - KV v2 mounts whose paths end in a random suffix: the operator's
#     values, the manager's, and one recording the current paths of the
#     others;
#   - the policy the manager workspace's runs get.
#
# VAULT_ADDR, VAULT_TOKEN and VAULT_CACERT come from the run's environment
# (TFC_VAULT_PROVIDER_AUTH: the run logs in to the broker with its
# workload-identity token, role "admin").
terraform {
  required_providers {
    vault  = { source = "hashicorp/vault", version = "5.11.0" }
    random = { source = "hashicorp/random", version = "3.9.1" }
  }
}

variable "operator" {
  type        = string
  description = "The operator's name: its AWS role, policy and AppRole are named after it."
  default     = "operator"
}
variable "bucket" {
  type        = string
  description = "The one bucket the operator's credentials may use."
}
variable "aws_endpoint" {
  type        = string
  description = "STS (and IAM) endpoint of the cloud; MinIO's URL in tests and the demo."
}
variable "aws_access_key" { type = string }
variable "aws_secret_key" {
  type      = string
  sensitive = true
}
variable "aws_mount" {
  type        = string
  description = "Where the AWS secrets engine is mounted."
  default     = "aws"
}
variable "role_arn" {
  type    = string
  default = "arn:aws:iam::123456789012:role/operator"
}

# The run's broker token lives for the phase and is revoked when it ends;
# a child token would add nothing.
provider "vault" { skip_child_token = true }

# One suffix per mount: rotating a mount's path replaces only its suffix.
resource "random_string" "suffix" {
  for_each = toset(["operator", "manager", "paths"])
  length   = 8
  special  = false
  upper    = false
}

resource "vault_mount" "kv" {
  for_each    = random_string.suffix
  path        = "secret-${each.value.result}"
  type        = "kv"
  options     = { version = "2" }
  description = "${each.key} values"
}

resource "vault_kv_secret_v2" "operator" {
  mount     = vault_mount.kv["operator"].path
  name      = "config"
  data_json = jsonencode({ bucket = var.bucket })
}

resource "vault_kv_secret_v2" "manager" {
  mount     = vault_mount.kv["manager"].path
  name      = "config"
  data_json = jsonencode({ operator_workspace = var.operator })
}

# The chicken-and-egg mount: where the others are now. The manager finds
# this one through the admin workspace's outputs.
resource "vault_kv_secret_v2" "paths" {
  mount = vault_mount.kv["paths"].path
  name  = "current"
  data_json = jsonencode({
    operator = vault_mount.kv["operator"].path
    manager  = vault_mount.kv["manager"].path
  })
}

resource "vault_aws_secret_backend" "aws" {
  path                      = var.aws_mount
  access_key                = var.aws_access_key
  secret_key                = var.aws_secret_key
  region                    = "us-east-1"
  sts_endpoint              = var.aws_endpoint
  iam_endpoint              = var.aws_endpoint
  default_lease_ttl_seconds = 900
  max_lease_ttl_seconds     = 3600
}

# The operator's scope: assumed-role credentials whose session policy
# allows the one bucket and nothing else.
resource "vault_aws_secret_backend_role" "operator" {
  backend         = vault_aws_secret_backend.aws.path
  name            = var.operator
  credential_type = "assumed_role"
  role_arns       = [var.role_arn]
  default_sts_ttl = 900
  max_sts_ttl     = 3600
  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
      Resource = ["arn:aws:s3:::${var.bucket}", "arn:aws:s3:::${var.bucket}/*"]
    }]
  })
}

data "vault_policy_document" "operator" {
  rule {
    path         = "${vault_aws_secret_backend.aws.path}/creds/${vault_aws_secret_backend_role.operator.name}"
    capabilities = ["read"]
  }
  rule {
    path         = "${vault_aws_secret_backend.aws.path}/sts/${vault_aws_secret_backend_role.operator.name}"
    capabilities = ["update"]
  }
  rule {
    path         = "${vault_mount.kv["operator"].path}/data/config"
    capabilities = ["read"]
  }
}

resource "vault_policy" "operator" {
  name   = var.operator
  policy = data.vault_policy_document.operator.hcl
}

resource "vault_auth_backend" "approle" {
  type = "approle"
  path = "approle"
}

resource "vault_approle_auth_backend_role" "operator" {
  backend        = vault_auth_backend.approle.path
  role_name      = var.operator
  token_policies = [vault_policy.operator.name]
  token_ttl      = 1200
  token_max_ttl  = 3600
  secret_id_ttl  = 86400
}

# What the manager workspace's runs may do in the broker: read the
# operator's role ID, issue its secret IDs, and read the paths and its own
# values. Nothing of the operator's.
data "vault_policy_document" "manager" {
  rule {
    path         = "auth/approle/role/${vault_approle_auth_backend_role.operator.role_name}/role-id"
    capabilities = ["read"]
  }
  rule {
    path         = "auth/approle/role/${vault_approle_auth_backend_role.operator.role_name}/secret-id"
    capabilities = ["update"]
  }
  rule {
    path         = "auth/approle/role/${vault_approle_auth_backend_role.operator.role_name}/secret-id-accessor/*"
    capabilities = ["update"]
  }
  rule {
    path         = "${vault_mount.kv["paths"].path}/data/current"
    capabilities = ["read"]
  }
  rule {
    path         = "${vault_mount.kv["manager"].path}/data/config"
    capabilities = ["read"]
  }
}

resource "vault_policy" "manager" {
  name   = "manager"
  policy = data.vault_policy_document.manager.hcl
}

output "paths_mount" { value = vault_mount.kv["paths"].path }
output "approle_path" { value = vault_auth_backend.approle.path }
output "aws_mount" { value = vault_aws_secret_backend.aws.path }
output "operator_role" { value = vault_approle_auth_backend_role.operator.role_name }
