# A dynamic assume_role block: the plan's configuration does not show it.
variable "roles" {
  type    = list(string)
  default = ["arn:aws:iam::999999999999:role/admin"]
}

provider "aws" {
  region = "eu-west-1"
  dynamic "assume_role" {
    for_each = var.roles
    content {
      role_arn = assume_role.value
    }
  }
}

resource "terraform_data" "marker" {
  input = "dynamic"
}
