# A small configuration that needs only the offline provider mirror.
terraform {
  required_providers {
    random = { source = "hashicorp/random" }
    time   = { source = "hashicorp/time" }
  }
}

variable "name" {
  type = string
}

variable "password" {
  type      = string
  sensitive = true
}

# Set by tests through the environment (TF_VAR_x), e.g. from a pre hook.
variable "x" {
  type    = string
  default = "unset"
}

resource "random_pet" "pet" {
  prefix = var.name
}

resource "time_static" "t" {}

resource "terraform_data" "d" {
  input = {
    pet      = random_pet.pet.id
    password = var.password
  }
}

output "pet" {
  value = random_pet.pet.id
}

output "x" {
  value = var.x
}

output "password" {
  value     = var.password
  sensitive = true
}

# A configuration may print a sensitive value on purpose; the log must
# then hold the mask, never the value.
output "password_shown" {
  value = nonsensitive(var.password)
}
