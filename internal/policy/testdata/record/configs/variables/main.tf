# Role ARNs through variables: a root variable, a module variable passed
# down two module levels from a root variable, a module variable left at
# its default, and a local, which the plan cannot show.
variable "role_arn" {
  type = string
}

variable "module_role_arn" {
  type = string
}

locals {
  hidden = "arn:aws:iam::999999999999:role/admin"
}

provider "aws" {
  assume_role {
    role_arn = var.role_arn
  }
}

provider "aws" {
  alias = "local"
  assume_role {
    role_arn = local.hidden
  }
}

module "outer" {
  source   = "./modules/outer"
  role_arn = var.module_role_arn
}

resource "terraform_data" "marker" {
  input = "variables"
}
