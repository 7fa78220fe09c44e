# Credentials read through the vault provider land in the state.
provider "vault" {
  address = "http://127.0.0.1:8200"
}

data "vault_aws_access_credentials" "creds" {
  backend = "aws"
  role    = "deploy"
}

data "vault_generic_secret" "sts" {
  path = "aws/sts/deploy"
}

data "vault_kv_secret_v2" "config" {
  mount = "kv"
  name  = "app/config"
}

resource "terraform_data" "uses" {
  input = length(data.vault_generic_secret.sts.data_json)
}

variable "role" {
  type    = string
  default = "deploy"
}

# A path built from a variable: only the prior state shows it.
data "vault_generic_secret" "computed" {
  path = "aws/creds/${var.role}"
}
