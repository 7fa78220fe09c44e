variable "inner_role" {
  type = string
}

provider "aws" {
  assume_role {
    role_arn = var.inner_role
  }
}

resource "terraform_data" "inner" {
  input = var.inner_role
}
