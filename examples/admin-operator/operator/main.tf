# The operator workspace, in the classic form: the vault provider logs in
# with the AppRole the manager wrote into this workspace's sensitive
# variables, reads the operator's values, and reads AWS credentials for
# the one scope the admin granted.
#
# Classic, and its known weakness: the credentials a data source reads land
# in the state (the no-credentials-in-state policy flags it). On AWS one
# writes data "vault_aws_access_credentials" and hands its keys to the aws
# provider; here a generic read of the same path serves, as the test's and
# the demo's cloud (MinIO) lacks the sts:GetCallerIdentity that data source
# checks its keys with.
terraform {
  required_providers {
    vault = { source = "hashicorp/vault", version = "5.11.0" }
  }
}

variable "vault_addr" { type = string }
variable "role_id" {
  type      = string
  sensitive = true
}
variable "secret_id" {
  type      = string
  sensitive = true
}
variable "kv_mount" { type = string }
variable "aws_mount" {
  type    = string
  default = "aws"
}
variable "aws_role" {
  type    = string
  default = "operator"
}

provider "vault" {
  address          = var.vault_addr
  skip_child_token = true
  auth_login {
    path = "auth/approle/login"
    parameters = {
      role_id   = var.role_id
      secret_id = var.secret_id
    }
  }
}

data "vault_kv_secret_v2" "config" {
  mount = var.kv_mount
  name  = "config"
}

data "vault_generic_secret" "aws" {
  path = "${var.aws_mount}/creds/${var.aws_role}"
}

resource "terraform_data" "deployment" {
  input = {
    bucket     = data.vault_kv_secret_v2.config.data["bucket"]
    access_key = data.vault_generic_secret.aws.data["access_key"]
  }
}

output "bucket" { value = nonsensitive(data.vault_kv_secret_v2.config.data["bucket"]) }
