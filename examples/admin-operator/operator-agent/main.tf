# The operator workspace on the better path: the agent logs in with the
# AppRole (TFC_VAULT_AUTH_TYPE=approle, from the same role_id and secret_id
# variables the manager writes), reads AWS credentials for the granted role
# (TFC_VAULT_BACKED_AWS_AUTH) and hands them to the run as a shared
# credentials file, revoked with the token when the phase ends. No key is
# in the configuration, the plan or the state, and OpenTofu never sees the
# secret ID. The workspace's environment variables:
#
#   TFC_VAULT_PROVIDER_AUTH=true  TFC_VAULT_ADDR=<broker>  TFC_VAULT_AUTH_TYPE=approle
#   TFC_VAULT_BACKED_AWS_AUTH=true  TFC_VAULT_BACKED_AWS_AUTH_TYPE=assumed_role
#   TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE=operator
#   TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN=arn:aws:iam::123456789012:role/operator
#
# The state lives in the operator's own bucket, written with those
# credentials. (The endpoints are MinIO's in the test and the demo; on AWS
# they go.)
terraform {
  backend "s3" {
    bucket                      = "operator-bucket"
    key                         = "operator/terraform.tfstate"
    region                      = "us-east-1"
    endpoints                   = { s3 = "http://127.0.0.1:9000", sts = "http://127.0.0.1:9000" }
    use_path_style              = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}

resource "terraform_data" "deployment" {
  input = { release = "1" }
}
