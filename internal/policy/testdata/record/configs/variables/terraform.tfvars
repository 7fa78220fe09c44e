role_arn        = "arn:aws:iam::111111111111:role/terraform"
module_role_arn = "arn:aws:iam::999999999999:role/admin"
