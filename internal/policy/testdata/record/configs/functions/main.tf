# A function of a variable: the plan shows the same references as the
# variable alone, so the policy cannot tell them apart (see README).
variable "role_arn" {
  type    = string
  default = "arn:aws:iam::111111111111:role/terraform"
}

provider "aws" {
  assume_role {
    role_arn = replace(var.role_arn, "111111111111", "999999999999")
  }
}

provider "aws" {
  alias = "template"
  assume_role {
    role_arn = "${var.role_arn}-admin"
  }
}

resource "terraform_data" "marker" {
  input = "functions"
}
