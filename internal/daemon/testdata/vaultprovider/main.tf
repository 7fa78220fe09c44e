# The admin workspace of a platform team, written with the real
# terraform-provider-vault against runcred's broker. The test applies it at
# step 1, changes an attribute of every resource at step 2, and imports the
# importable ones into a fresh state; every plan in between must be empty.
terraform {
  required_providers {
    vault = { source = "hashicorp/vault", version = "5.11.0" }
  }
}

variable "step" { type = number }
variable "issuer" { type = string }
variable "issuer_ca" { type = string }
variable "minio_url" { type = string }
variable "minio_user" { type = string }
variable "minio_password" {
  type      = string
  sensitive = true
}
variable "sts_url" { type = string }
variable "sts_access_key" { type = string }
variable "sts_secret_key" {
  type      = string
  sensitive = true
}

locals {
  two = var.step > 1
}

# VAULT_ADDR, VAULT_TOKEN and VAULT_CACERT come from the environment.
provider "vault" {}

resource "vault_mount" "kv" {
  path        = "secret"
  type        = "kv"
  options     = { version = "2" }
  description = local.two ? "application secrets (step 2)" : "application secrets"

  default_lease_ttl_seconds = 3600
  max_lease_ttl_seconds     = local.two ? 14400 : 7200
}

resource "vault_kv_secret_v2" "app" {
  mount     = vault_mount.kv.path
  name      = "app/config"
  data_json = jsonencode({ user = "app", password = local.two ? "second" : "first" })
  custom_metadata {
    max_versions = local.two ? 5 : 10
    data         = { owner = "platform" }
  }
}

data "vault_kv_secret_v2" "app" {
  mount = vault_mount.kv.path
  name  = vault_kv_secret_v2.app.name
}

data "vault_policy_document" "app" {
  rule {
    path         = "secret/data/app/*"
    capabilities = local.two ? ["read", "list"] : ["read"]
  }
  rule {
    path         = "aws/creds/deploy"
    capabilities = ["read"]
  }
}

resource "vault_policy" "app" {
  name   = "app"
  policy = data.vault_policy_document.app.hcl
}

resource "vault_auth_backend" "approle" {
  type        = "approle"
  path        = "approle"
  description = local.two ? "machines (step 2)" : "machines"
  tune {
    default_lease_ttl  = "1h"
    max_lease_ttl      = local.two ? "4h" : "2h"
    listing_visibility = "hidden"
    token_type         = "default-service"
  }
}

data "vault_auth_backend" "approle" {
  path = vault_auth_backend.approle.path
}

resource "vault_approle_auth_backend_role" "app" {
  backend        = vault_auth_backend.approle.path
  role_name      = "app"
  token_policies = [vault_policy.app.name]
  token_ttl      = local.two ? 1800 : 3600
  token_max_ttl  = 7200
  secret_id_ttl  = 600

  secret_id_num_uses     = local.two ? 5 : 10
  secret_id_bound_cidrs  = ["127.0.0.0/8"]
  token_bound_cidrs      = local.two ? ["127.0.0.0/8", "10.0.0.0/8"] : ["127.0.0.0/8"]
  token_explicit_max_ttl = 86400
  token_num_uses         = 0
}

data "vault_approle_auth_backend_role_id" "app" {
  backend   = vault_auth_backend.approle.path
  role_name = vault_approle_auth_backend_role.app.role_name
}

resource "vault_approle_auth_backend_role_secret_id" "app" {
  backend   = vault_auth_backend.approle.path
  role_name = vault_approle_auth_backend_role.app.role_name
  metadata  = jsonencode({ team = local.two ? "payments" : "platform" })
  # The provider reads back secret_id_ttl and secret_id_num_uses, which are
  # the role's when none is asked for (as in Vault): leaving them out would
  # plan a replacement.
  ttl      = 600
  num_uses = 5
}

resource "vault_aws_secret_backend" "aws" {
  path                      = "aws"
  description               = local.two ? "MinIO (step 2)" : "MinIO"
  access_key                = var.minio_user
  secret_key                = var.minio_password
  region                    = "us-east-1"
  sts_endpoint              = var.minio_url
  iam_endpoint              = var.minio_url
  default_lease_ttl_seconds = 1200
  max_lease_ttl_seconds     = 3600
}

resource "vault_aws_secret_backend_role" "deploy" {
  backend         = vault_aws_secret_backend.aws.path
  name            = "deploy"
  credential_type = "assumed_role"
  role_arns       = ["arn:aws:iam::123456789012:role/deploy"]
  default_sts_ttl = local.two ? 1800 : 900
  max_sts_ttl     = 3600
}

# A second AWS engine on an STS that also answers GetCallerIdentity, which
# the data source below calls to check the credentials it was given (MinIO
# has no such call).
resource "vault_aws_secret_backend" "sts" {
  path         = "aws-sts"
  description  = local.two ? "STS (step 2)" : "STS"
  access_key   = var.sts_access_key
  secret_key   = var.sts_secret_key
  region       = "us-east-1"
  sts_endpoint = var.sts_url
}

resource "vault_aws_secret_backend_role" "sts" {
  backend         = vault_aws_secret_backend.sts.path
  name            = "deploy"
  credential_type = "assumed_role"
  role_arns       = ["arn:aws:iam::123456789012:role/deploy"]
  default_sts_ttl = local.two ? 1800 : 900
}

data "vault_aws_access_credentials" "deploy" {
  backend = vault_aws_secret_backend.sts.path
  role    = vault_aws_secret_backend_role.sts.name
  type    = "sts"
  region  = "us-east-1"
}

resource "vault_jwt_auth_backend" "jwt" {
  path                  = "jwt"
  type                  = "jwt"
  description           = local.two ? "runs (step 2)" : "runs"
  oidc_discovery_url    = var.issuer
  oidc_discovery_ca_pem = var.issuer_ca
  bound_issuer          = var.issuer
  default_role          = local.two ? "ci" : null
  namespace_in_state    = !local.two
  tune {
    default_lease_ttl = "20m"
    max_lease_ttl     = local.two ? "2h" : "1h"
    token_type        = "default-service"
  }
}

resource "vault_jwt_auth_backend_role" "ci" {
  backend         = vault_jwt_auth_backend.jwt.path
  role_name       = "ci"
  role_type       = "jwt"
  user_claim      = "sub"
  bound_audiences = ["vault.workload.identity"]
  bound_claims    = { terraform_workspace_name = local.two ? "ws2" : "ws1", terraform_organization_name = "demo" }
  token_policies  = [vault_policy.app.name]
  token_ttl       = local.two ? 600 : 1200

  bound_claims_type = local.two ? "glob" : "string"
  claim_mappings    = { terraform_project_name = "project" }
  bound_subject     = "organization:demo:project:Default Project:workspace:ws1:run_phase:plan"
  token_max_ttl     = 3600
  token_no_default_policy = local.two
}

resource "vault_token" "ci" {
  policies          = [vault_policy.app.name]
  ttl               = "1h"
  renewable         = true
  display_name      = "ci"
  no_default_policy = true
  metadata  = { purpose = local.two ? "release" : "ci" }
}

resource "vault_generic_endpoint" "role" {
  depends_on           = [vault_auth_backend.approle]
  path                 = "auth/approle/role/generic"
  ignore_absent_fields = true
  data_json = jsonencode({
    token_policies = ["app"]
    token_ttl      = local.two ? 600 : 1200
  })
}

output "kv_user" {
  value     = data.vault_kv_secret_v2.app.data["user"]
  sensitive = true
}
output "role_id" { value = data.vault_approle_auth_backend_role_id.app.role_id }
output "aws_lease" { value = data.vault_aws_access_credentials.deploy.lease_duration }
output "approle_accessor" { value = data.vault_auth_backend.approle.accessor }
