# Literal role ARNs: the default provider assumes an allowed role; the
# alias chains an allowed role to one that is not.
provider "aws" {
  region = "eu-west-1"
  assume_role {
    role_arn     = "arn:aws:iam::111111111111:role/terraform"
    session_name = "runcred"
  }
}

provider "aws" {
  alias  = "chain"
  region = "eu-west-1"
  assume_role {
    role_arn = "arn:aws:iam::111111111111:role/terraform"
  }
  assume_role {
    role_arn = "arn:aws:iam::999999999999:role/admin"
  }
}

provider "aws" {
  alias = "web"
  assume_role_with_web_identity {
    role_arn                = "arn:aws:iam::222222222222:role/deploy-web"
    web_identity_token_file = "/run/token"
  }
}

resource "terraform_data" "marker" {
  input = "roles"
}
