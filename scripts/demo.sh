#!/usr/bin/env bash
# make demo: runcred dev (server + in-process agent with OpenTofu) and MinIO as
# the cloud. Workspace demo-ws has AWS direct credentials: each phase's
# workload-identity token is exchanged at MinIO's STS, the plan phase may only
# read the state bucket, the apply phase may write it. A plan and an apply of a
# configuration whose s3 backend keeps its state in MinIO, the run log
# streamed to the terminal; then workspace vault-ws gets its AWS keys from
# runcred's Vault-compatible broker instead, revoked when each phase ends; then
# the admin/operator setup of examples/admin-operator (admin → manager →
# operator, chained by run triggers); then the audit trail. runcred serves HTTPS (dev --tls) with a CA made for the demo,
# which MinIO, the CLI, the agent and the broker's runs are told to trust.
# Everything runs on 127.0.0.1 and stops when the script ends, unless KEEP=1
# (make demo KEEP=1): then runcred and MinIO keep running, with the demo's
# runs, for the web UI, until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${RUNCRED_TOOLS_DIR:-$root/.tools}
RC=$root/bin/runcred MINIO=$tools/bin/minio MC=$tools/bin/mc TOFU=$tools/bin/tofu
RC_PORT=${DEMO_RUNCRED_PORT:-18200} MINIO_PORT=${DEMO_MINIO_PORT:-19000}
demo=$root/.demo
rm -rf "$demo" && mkdir -p "$demo" && chmod 700 "$demo"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { # URL, what [curl options]
	for _ in $(seq 1 150); do curl -fsS -o /dev/null "${@:3}" "$1" 2>/dev/null && return 0; sleep 0.2; done
	echo "demo: $2 did not come up; see $demo/*.log" >&2; exit 1
}
b64url_decode() { local s=${1//-/+}; s=${s//_//}; while (( ${#s} % 4 )); do s+="="; done; printf '%s' "$s" | base64 -d; }

step "Starting runcred dev --tls (data in $demo/runcred)"
"$RC" dev --tls --data-dir "$demo/runcred" --addr "127.0.0.1:$RC_PORT" \
	--tofu "$TOFU" --provider-mirror "$tools/providers" >"$demo/runcred.log" 2>&1 &
pids+=($!)
CA=$demo/runcred/tls/ca.pem
wait_for "https://127.0.0.1:$RC_PORT/readyz" runcred --cacert "$CA"
# The CLI trusts the demo's CA through RUNCRED_CACERT, curl through --cacert.
export RUNCRED_ADDR=https://127.0.0.1:$RC_PORT RUNCRED_TOKEN_FILE=$demo/runcred/root-token RUNCRED_CACERT=$CA
echo "issuer: $RUNCRED_ADDR  (discovery: $RUNCRED_ADDR/.well-known/openid-configuration)"
echo "CA:     $CA (what dev printed:)"
sed -n '/^HTTPS:/,/^$/p' "$demo/runcred.log" | sed 's/^/  /'

step "Starting MinIO as the cloud: it trusts runcred's issuer for audience aws.workload.identity"
# MinIO trusts the CAs in its certs directory's CAs/ for its own outgoing
# connections: here, the discovery document and JWKS fetched over HTTPS.
mkdir -p "$demo/minio-certs/CAs" && cp "$CA" "$demo/minio-certs/CAs/runcred-ca.crt"
admin_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
MINIO_ROOT_USER=demo-admin MINIO_ROOT_PASSWORD=$admin_pw MINIO_BROWSER=off MINIO_UPDATE=off \
MINIO_IDENTITY_OPENID_CONFIG_URL=$RUNCRED_ADDR/.well-known/openid-configuration \
MINIO_IDENTITY_OPENID_CLIENT_ID=aws.workload.identity \
MINIO_IDENTITY_OPENID_CLIENT_SECRET=$(head -c 18 /dev/urandom | base64 | tr -d '/+=') \
MINIO_IDENTITY_OPENID_ROLE_POLICY=demo-ws-state \
	"$MINIO" server "$demo/minio-data" --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$((MINIO_PORT + 1))" \
	--certs-dir "$demo/minio-certs" >"$demo/minio.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$MINIO_PORT/minio/health/ready" MinIO
export MC_CONFIG_DIR=$demo/mc MC_HOST_admin=http://demo-admin:$admin_pw@127.0.0.1:$MINIO_PORT
for _ in $(seq 1 150); do "$MC" -q admin info admin >/dev/null 2>&1 && break; sleep 0.2; done
"$MC" -q mb admin/demo-ws-state admin/vault-ws-state >/dev/null
# The role's policy: what an AWS trust policy + permissions would say. Runs
# of organization demo / workspace demo-ws may read the state bucket in
# either phase; only the apply phase may write it.
cat >"$demo/policy.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],
  "Resource":["arn:aws:s3:::demo-ws-state","arn:aws:s3:::demo-ws-state/*"],
  "Condition":{"StringLike":{"jwt:sub":["organization:demo:project:Default Project:workspace:demo-ws:run_phase:*"]}}},
 {"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::demo-ws-state/*"],
  "Condition":{"StringLike":{"jwt:sub":["organization:demo:project:Default Project:workspace:demo-ws:run_phase:apply"]}}}]}
JSON
"$MC" -q admin policy create admin demo-ws-state "$demo/policy.json" >/dev/null
role=$(grep -o 'arn:minio:iam:::role/[A-Za-z0-9_-]*' "$demo/minio.log" | head -1)
[ -n "$role" ] || { echo "demo: MinIO did not log its role ARN; see $demo/minio.log" >&2; exit 1; }
echo "role: $role"
cat "$demo/policy.json"

backend() { # BUCKET -- an s3 backend in MinIO, credentials from the run's environment
cat <<HCL
terraform {
  backend "s3" {
    bucket                      = "$1"
    key                         = "terraform.tfstate"
    region                      = "us-east-1"
    endpoints                   = { s3 = "http://127.0.0.1:$MINIO_PORT", sts = "http://127.0.0.1:$MINIO_PORT" }
    use_path_style              = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}
HCL
}
config() { # DIR BUCKET
	mkdir -p "$1"
	{ backend "$2"; cat <<'HCL'
variable "db_password" { sensitive = true }
variable "TFC_RUN_ID" {}
resource "random_pet" "name" {}
resource "terraform_data" "app" {
  input = { name = random_pet.name.id, password_length = nonsensitive(length(var.db_password)) }
}
output "name" { value = random_pet.name.id }
output "created_by" { value = var.TFC_RUN_ID }
HCL
	} >"$1/main.tf"
}

step "Workspace demo/demo-ws with AWS direct credentials (runcred workspace create; runcred var set)"
"$RC" workspace create demo/demo-ws --create-org
"$RC" var set demo/demo-ws TFC_AWS_PROVIDER_AUTH true --env
"$RC" var set demo/demo-ws TFC_AWS_RUN_ROLE_ARN "$role" --env
head -c 18 /dev/urandom | base64 | "$RC" var set demo/demo-ws db_password - --sensitive
"$RC" var list demo/demo-ws
config "$demo/config" demo-ws-state
echo; echo "configuration ($demo/config/main.tf):"; sed 's/^/  /' "$demo/config/main.tf"

step "Plan (runcred run start): the agent mints the plan token, OpenTofu exchanges it at MinIO's STS"
set +e
"$RC" run start demo/demo-ws "$demo/config" -m "demo: first run" | tee "$demo/run.txt"
set -e
run=$(grep -o 'run-[A-Za-z0-9]*' "$demo/run.txt" | head -1)
[ -n "$run" ] || { echo "demo: no run id; see $demo/runcred.log" >&2; exit 1; }
# Read whole before matching: grep -q stops at the first match, and under
# pipefail a writer that then meets the closed pipe would fail the check.
"$RC" run show "$run" >"$demo/run-show.txt"
grep -q 'planned' "$demo/run-show.txt" || { echo "demo: the plan did not finish; see $demo/runcred.log" >&2; exit 1; }
if "$MC" -q stat admin/demo-ws-state/terraform.tfstate >/dev/null 2>&1; then
	echo "demo: FAILED: the plan phase wrote state" >&2; exit 1
fi
echo "s3://demo-ws-state/terraform.tfstate after the plan: absent (the plan role cannot write)"

step "Apply (runcred run apply): the apply token, the apply role, state written to MinIO"
"$RC" run apply "$run"
"$MC" -q stat admin/demo-ws-state/terraform.tfstate >/dev/null
echo "s3://demo-ws-state/terraform.tfstate:"
"$MC" -q cat admin/demo-ws-state/terraform.tfstate | grep -E '"(serial|lineage|type|name)"' | sed 's/^/  /' | head -8

step "Vault-backed AWS: workspace demo/vault-ws gets keys from runcred's broker (Vault API under /v1/)"
vault() { # METHOD PATH [JSON] -- a Vault API call with the root token
	curl -fsS --cacert "$CA" -o /dev/null -X "$1" -H "X-Vault-Token: $(cat "$RUNCRED_TOKEN_FILE")" "$RUNCRED_ADDR/v1/$2" ${3:+--data "$3"}
}
broker_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# The broker's own MinIO user (its config/root keys): the state bucket, nothing else.
cat >"$demo/broker-policy.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::vault-ws-state","arn:aws:s3:::vault-ws-state/*"]}]}
JSON
"$MC" -q admin policy create admin broker-state "$demo/broker-policy.json" >/dev/null
"$MC" -q admin user add admin runcred-broker "$broker_pw" >/dev/null
"$MC" -q admin policy attach admin broker-state --user runcred-broker >/dev/null
vault POST sys/mounts/aws '{"type":"aws"}'
vault POST aws/config/root "{\"access_key\":\"runcred-broker\",\"secret_key\":\"$broker_pw\",\"sts_endpoint\":\"http://127.0.0.1:$MINIO_PORT\"}"
vault POST aws/roles/vault-ws '{"credential_type":"assumed_role","role_arns":["arn:aws:iam::123456789012:role/vault-ws"],"default_sts_ttl":"900"}'
vault POST sys/auth/jwt '{"type":"jwt"}'
# The broker fetches its own issuer's discovery document over HTTPS too.
ca_json=$(awk '{printf "%s\\n", $0}' "$CA") # PEM holds no quotes or backslashes
vault POST auth/jwt/config "{\"oidc_discovery_url\":\"$RUNCRED_ADDR\",\"bound_issuer\":\"$RUNCRED_ADDR\",\"oidc_discovery_ca_pem\":\"$ca_json\"}"
vault POST auth/jwt/role/vault-ws '{"role_type":"jwt","user_claim":"terraform_full_workspace","bound_audiences":["vault.workload.identity"],
 "bound_claims_type":"glob","bound_claims":{"sub":"organization:demo:project:Default Project:workspace:vault-ws:run_phase:*"},
 "token_policies":["vault-ws-aws"],"token_ttl":"20m"}'
vault PUT sys/policies/acl/vault-ws-aws '{"policy":"path \"aws/sts/vault-ws\" { capabilities = [\"update\"] }\npath \"aws/creds/vault-ws\" { capabilities = [\"read\"] }\npath \"secret/data/demo\" { capabilities = [\"read\"] }"}'
vault POST sys/mounts/secret '{"type":"kv","options":{"version":"2"}}'
vault POST secret/data/demo '{"data":{"text":"read over HTTPS by terraform-provider-vault"}}'
echo "mounted aws/, secret/ (kv v2) and auth/jwt/; role vault-ws binds sub to workspace vault-ws; policy vault-ws-aws reads aws/creds/vault-ws and secret/data/demo"
"$RC" workspace create demo/vault-ws --auto-apply
# TFC_VAULT_ENCODED_CACERT: the agent logs in to the broker trusting only this
# CA, and the run's tools get it as VAULT_CACERT.
for kv in TFC_VAULT_PROVIDER_AUTH=true TFC_VAULT_ADDR=$RUNCRED_ADDR TFC_VAULT_RUN_ROLE=vault-ws \
	TFC_VAULT_ENCODED_CACERT=$(base64 -w0 "$CA") \
	TFC_VAULT_BACKED_AWS_AUTH=true TFC_VAULT_BACKED_AWS_AUTH_TYPE=assumed_role \
	TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE=vault-ws TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN=arn:aws:iam::123456789012:role/vault-ws; do
	"$RC" var set demo/vault-ws "${kv%%=*}" "${kv#*=}" --env >/dev/null
done
head -c 18 /dev/urandom | base64 | "$RC" var set demo/vault-ws db_password - --sensitive >/dev/null
config "$demo/vault-config" vault-ws-state
cat >>"$demo/vault-config/main.tf" <<'HCL'
# terraform-provider-vault takes VAULT_ADDR, VAULT_TOKEN and VAULT_CACERT from
# the run's environment: runcred's broker over HTTPS, trusted through the CA
# the workspace gave in TFC_VAULT_ENCODED_CACERT.
provider "vault" { skip_child_token = true }
data "vault_kv_secret_v2" "demo" {
  mount = "secret"
  name  = "demo"
}
output "greeting" { value = nonsensitive(data.vault_kv_secret_v2.demo.data["text"]) }
HCL
"$RC" run start demo/vault-ws "$demo/vault-config" -m "demo: vault-backed" | grep -E 'Run |Apply complete|Plan:|applied|errored|greeting'
"$MC" -q stat admin/vault-ws-state/terraform.tfstate >/dev/null
echo "s3://vault-ws-state/terraform.tfstate written with broker-issued keys"
leases=$(curl -sS --cacert "$CA" -X LIST -H "X-Vault-Token: $(cat "$RUNCRED_TOKEN_FILE")" "$RUNCRED_ADDR/v1/sys/leases/lookup/aws/sts/vault-ws")
echo "leases left under aws/sts/vault-ws after both phases: $leases"

step "The admin/operator setup (examples/admin-operator): admin → manager → operator, chained by run triggers"
# The platform team's bootstrap, as root: runs of the admin and manager
# workspaces log in to the broker with their workload identity.
for ws in admin manager; do
	policy=$ws; [ "$ws" = admin ] && policy=admin-runs
	vault POST "auth/jwt/role/$ws" "{\"role_type\":\"jwt\",\"user_claim\":\"terraform_full_workspace\",\"bound_audiences\":[\"vault.workload.identity\"],
 \"bound_claims_type\":\"glob\",\"bound_claims\":{\"sub\":\"organization:demo:project:Default Project:workspace:$ws:run_phase:*\"},
 \"token_policies\":[\"$policy\"],\"token_ttl\":\"20m\"}"
done
vault PUT sys/policies/acl/admin-runs '{"policy":"path \"sys/mounts\" { capabilities = [\"read\", \"list\"] }\npath \"sys/mounts/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }\npath \"sys/auth\" { capabilities = [\"read\", \"list\"] }\npath \"sys/auth/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }\npath \"sys/policies/acl/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }\npath \"auth/approle/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }\npath \"aws-operator/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }\npath \"secret-*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }\npath \"auth/token/create\" { capabilities = [\"update\"] }"}'
# The broker's AWS engine for the operator: a MinIO user on two buckets,
# which the operator's role narrows to one.
"$MC" -q mb admin/operator-bucket admin/other-bucket >/dev/null
cat >"$demo/engine-policy.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::operator-bucket","arn:aws:s3:::operator-bucket/*","arn:aws:s3:::other-bucket","arn:aws:s3:::other-bucket/*"]}]}
JSON
engine_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
"$MC" -q admin policy create admin operator-engine "$demo/engine-policy.json" >/dev/null
"$MC" -q admin user add admin operator-engine "$engine_pw" >/dev/null
"$MC" -q admin policy attach admin operator-engine --user operator-engine >/dev/null
ex=$root/examples/admin-operator
for ws in admin manager; do
	"$RC" workspace create "demo/$ws" >/dev/null
	for kv in TFC_VAULT_PROVIDER_AUTH=true TFC_VAULT_ADDR=$RUNCRED_ADDR TFC_VAULT_RUN_ROLE=$ws TFC_VAULT_ENCODED_CACERT=$(base64 -w0 "$CA"); do
		"$RC" var set "demo/$ws" "${kv%%=*}" "${kv#*=}" --env >/dev/null
	done
	mkdir -p "$demo/$ws" && cp "$ex/$ws/main.tf" "$demo/$ws/"
done
cp "$CA" "$demo/manager/ca.pem"
"$RC" var set demo/admin bucket operator-bucket >/dev/null
"$RC" var set demo/admin aws_mount aws-operator >/dev/null # aws/ is vault-ws's
"$RC" var set demo/admin aws_endpoint "http://127.0.0.1:$MINIO_PORT" >/dev/null
"$RC" var set demo/admin aws_access_key operator-engine >/dev/null
printf '%s' "$engine_pw" | "$RC" var set demo/admin aws_secret_key - --sensitive >/dev/null
for kv in hostname=${RUNCRED_ADDR#https://} organization=demo vault_addr=$RUNCRED_ADDR; do
	"$RC" var set demo/manager "${kv%%=*}" "${kv#*=}" >/dev/null
done
"$RC" var set demo/manager SSL_CERT_FILE ca.pem --env >/dev/null # the tfe provider trusts the demo's CA
ws_id() { curl -fsS --cacert "$CA" -H "Authorization: Bearer $(cat "$RUNCRED_TOKEN_FILE")" "$RUNCRED_ADDR/api/v2/organizations/demo/workspaces/$1" | grep -o '"id":"ws-[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4; }
api() { # METHOD PATH [JSON] -- an API call with the root token
	curl -fsS --cacert "$CA" -X "$1" -H "Authorization: Bearer $(cat "$RUNCRED_TOKEN_FILE")" -H "Content-Type: application/vnd.api+json" \
		"$RUNCRED_ADDR$2" ${3:+--data "$3"}
}
# The operator workspace goes in a project of its own. The manager stores no
# API token: its runs' own token (TFE_TOKEN in each phase) is granted the
# management of that project's workspaces and variables, and the admin shares
# its outputs with it.
project=$(api POST /api/v2/organizations/demo/projects '{"data":{"type":"projects","attributes":{"name":"operators"}}}' | grep -o '"id":"prj-[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4)
"$RC" var set demo/manager operator_project_id "$project" >/dev/null
api PATCH "/api/v2/workspaces/$(ws_id manager)/runcred-run-token-grants" \
	"{\"data\":{\"type\":\"runcred-run-token-grants\",\"attributes\":{\"grants\":[{\"project-id\":\"$project\",\"permission\":\"manage-workspaces-and-variables\"}]}}}" >/dev/null
api POST "/api/v2/workspaces/$(ws_id admin)/relationships/remote-state-consumers" "{\"data\":[{\"type\":\"workspaces\",\"id\":\"$(ws_id manager)\"}]}" >/dev/null
echo "project operators ($project): the manager's run tokens may manage its workspaces and variables"
# The run trigger admin → manager, through the run-triggers API.
curl -fsS --cacert "$CA" -o /dev/null -X POST -H "Authorization: Bearer $(cat "$RUNCRED_TOKEN_FILE")" -H "Content-Type: application/vnd.api+json" \
	"$RUNCRED_ADDR/api/v2/workspaces/$(ws_id manager)/run-triggers" \
	--data "{\"data\":{\"type\":\"run-triggers\",\"relationships\":{\"sourceable\":{\"data\":{\"type\":\"workspaces\",\"id\":\"$(ws_id admin)\"}}}}}"
# The manager's configuration, uploaded without a run (the API's
# auto-queue-runs false): the admin's apply queues its first run.
cv=$(curl -fsS --cacert "$CA" -X POST -H "Authorization: Bearer $(cat "$RUNCRED_TOKEN_FILE")" -H "Content-Type: application/vnd.api+json" \
	"$RUNCRED_ADDR/api/v2/workspaces/$(ws_id manager)/configuration-versions" \
	--data '{"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}}')
upload=$(printf '%s' "$cv" | sed -n 's/.*"upload-url":"\([^"]*\)".*/\1/p')
tar -czf - -C "$demo/manager" main.tf ca.pem | curl -fsS --cacert "$CA" -o /dev/null -X PUT -H "Content-Type: application/octet-stream" --data-binary @- "$upload"
"$RC" run start demo/admin "$demo/admin" -m "admin: provision the broker" | tee "$demo/admin-run.txt" | grep -E '^(Plan|Run )|planned|errored' || true
admin_run=$(grep -o 'run-[A-Za-z0-9]*' "$demo/admin-run.txt" | head -1)
"$RC" run apply "$admin_run" | grep -E 'Apply complete|applied|errored'
manager_run=$("$RC" run list demo/manager | awk 'NR==2 {print $1}')
"$RC" run list demo/manager | sed -n 2p | sed 's/^/  manager: /'
"$RC" run follow "$manager_run" >/dev/null 2>&1 || true
"$RC" run apply "$manager_run" | grep -E 'Apply complete|applied|errored'
"$RC" var list demo/operator
mkdir -p "$demo/operator" && cp "$ex/operator/main.tf" "$demo/operator/" && cp "$CA" "$demo/operator/ca.pem"
"$RC" var set demo/operator VAULT_CACERT ca.pem --env >/dev/null # the vault provider trusts the demo's CA
"$RC" run start demo/operator "$demo/operator" -m "operator: deploy with the AppRole" | tee "$demo/operator-run.txt" | grep -E '^Plan|planned|errored' || true
operator_run=$(grep -o 'run-[A-Za-z0-9]*' "$demo/operator-run.txt" | head -1)
"$RC" run apply "$operator_run" | grep -E 'Apply complete|bucket|applied|errored'
# The manager's writes are its run's: each operator variable names the
# manager as its manager, and that run as its last writer.
api GET "/api/v2/workspaces/$(ws_id operator)/vars" | grep -o '"key":"role_id"[^}]*' | grep -o '"\(managing-workspace-id\|written-by-kind\|written-by-id\)":"[^"]*"' | tr '\n' ' ' | sed 's/^/role_id: /'
echo

step "The operator team edits role_id: the protected-variables policy stops its run"
# The built-in protected-variables policy (hard-mandatory) on the operator
# workspace; the operator team has the classic operator permission: read and
# write variables, queue plans and applies; nothing in the broker.
mkdir -p "$demo/protected"
cp "$root/internal/policy/library/protected_variables.rego" "$demo/protected/"
cat >"$demo/protected/policies.hcl" <<'HCL'
policy "protected-variables" {
  query             = "data.terraform.policies.protected_variables.deny"
  enforcement_level = "hard-mandatory"
}
HCL
"$RC" policy push "$demo/protected" demo/managed-variables --workspace demo/operator | tail -n 1
team=$(api POST /api/v2/organizations/demo/teams '{"data":{"type":"teams","attributes":{"name":"operators"}}}' | grep -o '"id":"team-[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4)
api POST /api/v2/team-workspaces "{\"data\":{\"type\":\"team-workspaces\",\"attributes\":{\"access\":\"custom\",\"runs\":\"apply\",\"variables\":\"write\",\"state-versions\":\"none\"},
 \"relationships\":{\"team\":{\"data\":{\"type\":\"teams\",\"id\":\"$team\"}},\"workspace\":{\"data\":{\"type\":\"workspaces\",\"id\":\"$(ws_id operator)\"}}}}}" >/dev/null
api POST "/api/v2/teams/$team/authentication-token" '{"data":{"type":"authentication-token","attributes":{}}}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p' >"$demo/operator-team.token"
echo "team operators ($team): custom access to demo/operator: runs apply, variables write, state versions none"
# It points role_id and secret_id at another AppRole it got hold of, one that
# logs in as well: the plan succeeds, the policy check stops the run.
vault POST auth/approle/role/rogue '{"token_policies":["operator"]}'
vget() { curl -fsS --cacert "$CA" -X "$1" -H "X-Vault-Token: $(cat "$RUNCRED_TOKEN_FILE")" "$RUNCRED_ADDR/v1/$2" | sed -n "s/.*\"$3\":\"\([^\"]*\)\".*/\1/p"; }
vget GET auth/approle/role/rogue/role-id role_id | RUNCRED_TOKEN_FILE=$demo/operator-team.token "$RC" var set demo/operator role_id - --sensitive
vget POST auth/approle/role/rogue/secret-id secret_id | RUNCRED_TOKEN_FILE=$demo/operator-team.token "$RC" var set demo/operator secret_id - --sensitive
RUNCRED_TOKEN_FILE=$demo/operator-team.token "$RC" run start demo/operator "$demo/operator" -m "operator: my own role_id" >"$demo/edited-run.txt" 2>&1 || true
edited_run=$(grep -o 'run-[A-Za-z0-9]*' "$demo/edited-run.txt" | head -1)
"$RC" run show "$edited_run" >"$demo/edited-show.txt"
grep -E '^Status:|Policy check|policy set|FAILED|role_id' "$demo/edited-show.txt" | head -n 8
grep -q '^Status: *errored' "$demo/edited-show.txt" && grep -q 'protected-variables' "$demo/edited-show.txt" ||
	{ echo "demo: FAILED: the edited run was not stopped by protected-variables; see $demo/edited-run.txt" >&2; exit 1; }

step "The platform team restores what the manager manages: the manager's apply queues the operator's next run"
# Sensitive values are write-only, so the manager's plan cannot see the
# edit: a run with -replace writes both variables again, and its apply
# queues an operator run through the run trigger, which the policy passes.
"$RC" run start demo/manager "$demo/manager" -m "manager: restore the operator's AppRole" \
	--replace tfe_variable.role_id --replace tfe_variable.secret_id | tee "$demo/restore-run.txt" | grep -E '^Plan|planned|errored' || true
restore_run=$(grep -o 'run-[A-Za-z0-9]*' "$demo/restore-run.txt" | head -1)
"$RC" run apply "$restore_run" | grep -E 'Apply complete|applied|errored'
# awk reads the whole list: one that stops at its match would close the pipe
# on the writer, which pipefail turns into a failure.
triggered=$("$RC" run list demo/operator | awk -v src="$restore_run" '!found && index($0, "Triggered by run " src) {print $1; found = 1}')
[ -n "$triggered" ] || { echo "demo: FAILED: the manager's apply queued no operator run" >&2; exit 1; }
"$RC" run list demo/operator | grep "$triggered" | sed 's/^/  operator: /'
"$RC" run follow "$triggered" >/dev/null 2>&1 || true
"$RC" run apply "$triggered" | grep -E 'Apply complete|bucket|applied|errored'

step "Rotating the operator's KV mount (runcred mounts rotate): the new path flows to a new operator run"
old_mount=$("$RC" var list demo/operator | awk '$1 == "kv_mount" || $1 == "\"kv_mount\"" {print $4}' | tr -d '"')
[ -n "$old_mount" ] || { echo "demo: FAILED: the operator has no kv_mount variable" >&2; exit 1; }
"$RC" mounts rotate "$old_mount" | tee "$demo/rotation.txt"
rotation_run=$(sed -n 's/.*run queued in ws-[A-Za-z0-9]*: \(run-[A-Za-z0-9]*\).*/\1/p' "$demo/rotation.txt" | head -1)
[ -n "$rotation_run" ] || { echo "demo: FAILED: the rotation queued no operator run" >&2; exit 1; }
"$RC" run follow "$rotation_run" >/dev/null 2>&1 || true
"$RC" run apply "$rotation_run" | grep -E 'Apply complete|bucket|applied|errored'
new_mount=$("$RC" var list demo/operator | awk '$1 == "kv_mount" || $1 == "\"kv_mount\"" {print $4}' | tr -d '"')
echo "kv_mount: $old_mount -> $new_mount"
code=$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $(cat "$RUNCRED_TOKEN_FILE")" "$RUNCRED_ADDR/v1/$old_mount/data/config")
echo "the old path answers HTTP $code"
[ "$code" = 404 ] || { echo "demo: FAILED: the old mount still answers" >&2; exit 1; }

step "Key compromise (runcred identity rotate --force; runcred identity revoke-key)"
# Rotation is normally refused until the next key has been published for the
# publish lead (30s in dev); --force rotates at once, for a stolen key.
"$RC" identity rotate --force | tee "$demo/rotate.txt"
stolen=$(sed -n 's/^retired: \([^ ]*\).*/\1/p' "$demo/rotate.txt")
"$RC" identity revoke-key -- "$stolen"
kids=$(curl -fsS --cacert "$CA" "$RUNCRED_ADDR/.well-known/jwks" | grep -o '"kid":"[^"]*"' | tr '\n' ' ')
echo "JWKS now: $kids"
case "$kids" in *"$stolen"*) echo "demo: FAILED: the revoked key is still published" >&2; exit 1 ;; esac

step "Audit trail (runcred audit tail; runcred audit verify)"
"$RC" audit tail -n 400 | grep -E "identity.mint|broker.token.issue|broker.lease.revoke|broker.token.revoke|platform.run.claim" | grep -E "$run|vault-ws|job-" | tail -n 14 | cut -c1-260
"$RC" audit tail -n 400 | grep -E "identity.rotate|identity.revoke_key" | cut -c1-260
echo "-- the admin/operator story: grants, the manager run's variable writes, the rotation, the operator team's edit, the policy check"
"$RC" audit tail -n 1000 | grep -E "platform.workspace.run_token_grants|platform.variable.(create|update|rewrite)|broker.mount.rotate|platform.policy.check" | grep -E "operator|manager|rotat|policy" | tail -n 18 | cut -c1-260
"$RC" audit verify
echo
echo "demo: done. Logs in $demo/."
step "Web UI"
echo "open:    $RUNCRED_ADDR/app/  (the browser must trust $CA, or accept its warning)"
echo "sign in: paste the root token from $RUNCRED_TOKEN_FILE (or a team token)"
echo "runs:    $RUNCRED_ADDR/app/runs/$run  ·  audit: $RUNCRED_ADDR/app/audit?run=$run"
if [ "${KEEP:-}" = 1 ]; then
	echo "KEEP=1: the server keeps running with the demo's runs; Ctrl-C stops it."
	wait "${pids[0]}"
fi
