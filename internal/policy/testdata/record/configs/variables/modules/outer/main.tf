variable "role_arn" {
  type = string
}

variable "default_role_arn" {
  type    = string
  default = "arn:aws:iam::222222222222:role/deploy-default"
}

provider "aws" {
  alias = "outer"
  assume_role {
    role_arn = var.default_role_arn
  }
}

module "inner" {
  source     = "./inner"
  inner_role = var.role_arn
}

resource "terraform_data" "outer" {
  input = var.role_arn
}
