#!/usr/bin/env bash
# make demo: runcred dev + MinIO. A plan-phase token for workspace demo-ws is
# exchanged at MinIO's STS (AssumeRoleWithWebIdentity) for credentials that
# can write the workspace's state bucket and are refused another bucket; then
# the audit trail. Everything runs on 127.0.0.1 and stops when the script ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RC=$root/bin/runcred MINIO=$root/.tools/bin/minio MC=$root/.tools/bin/mc
RC_PORT=${DEMO_RUNCRED_PORT:-18200} MINIO_PORT=${DEMO_MINIO_PORT:-19000}
demo=$root/.demo
rm -rf "$demo" && mkdir -p "$demo" && chmod 700 "$demo"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { # URL, what
	for _ in $(seq 1 150); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
	echo "demo: $2 did not come up; see $demo/*.log" >&2; exit 1
}
b64url_decode() { local s=${1//-/+}; s=${s//_//}; while (( ${#s} % 4 )); do s+="="; done; printf '%s' "$s" | base64 -d; }

step "Starting runcred dev (data in $demo/runcred)"
"$RC" dev --data-dir "$demo/runcred" --addr "127.0.0.1:$RC_PORT" >"$demo/runcred.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$RC_PORT/readyz" runcred
export RUNCRED_ADDR=http://127.0.0.1:$RC_PORT RUNCRED_TOKEN_FILE=$demo/runcred/root-token
echo "issuer: $RUNCRED_ADDR  (discovery: $RUNCRED_ADDR/.well-known/openid-configuration)"

step "Starting MinIO as the cloud: it trusts runcred's issuer for audience aws.workload.identity"
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
"$MC" -q mb admin/demo-ws-state admin/other-team-state >/dev/null
# The role's policy: what an AWS trust policy + permissions would say. Only
# runs of organization demo / workspace demo-ws may use the state bucket.
cat >"$demo/policy.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::demo-ws-state","arn:aws:s3:::demo-ws-state/*"],
 "Condition":{"StringLike":{"jwt:sub":["organization:demo:project:Default Project:workspace:demo-ws:run_phase:*"]}}}]}
JSON
"$MC" -q admin policy create admin demo-ws-state "$demo/policy.json" >/dev/null
role=$(grep -o 'arn:minio:iam:::role/[A-Za-z0-9_-]*' "$demo/minio.log" | head -1)
[ -n "$role" ] || { echo "demo: MinIO did not log its role ARN; see $demo/minio.log" >&2; exit 1; }
echo "role: $role"
cat "$demo/policy.json"

step "Minting the plan-phase token for demo/Default Project/demo-ws (runcred identity mint)"
minted=$("$RC" identity mint --org demo --project "Default Project" --workspace demo-ws \
	--run run-demo0001 --phase plan --audience aws.workload.identity --ttl 15m --json)
token=$(printf '%s' "$minted" | sed -E 's/.*"token":"([^"]+)".*/\1/')
echo "header:  $(b64url_decode "$(cut -d. -f1 <<<"$token")")"
echo "claims:  $(b64url_decode "$(cut -d. -f2 <<<"$token")")"

step "Exchanging it at MinIO's STS: AssumeRoleWithWebIdentity (unsigned, the token is the credential)"
resp=$(curl -fsS -X POST "http://127.0.0.1:$MINIO_PORT/" --data-urlencode "Action=AssumeRoleWithWebIdentity" \
	--data-urlencode "Version=2011-06-15" --data-urlencode "DurationSeconds=900" \
	--data-urlencode "RoleArn=$role" --data-urlencode "WebIdentityToken=$token")
xml() { printf '%s' "$resp" | sed -n "s:.*<$1>\([^<]*\)</$1>.*:\1:p"; }
ak=$(xml AccessKeyId) sk=$(xml SecretAccessKey) st=$(xml SessionToken)
echo "AccessKeyId: $ak   Expiration: $(xml Expiration)   (secret key and session token not shown)"
export MC_HOST_run=http://$ak:$sk:$st@127.0.0.1:$MINIO_PORT

step "Using the run's credentials"
echo '{"version":4,"serial":1}' >"$demo/terraform.tfstate"
"$MC" -q cp "$demo/terraform.tfstate" run/demo-ws-state/terraform.tfstate >/dev/null
echo "write s3://demo-ws-state/terraform.tfstate    -> allowed"
if "$MC" -q cp "$demo/terraform.tfstate" run/other-team-state/terraform.tfstate >/dev/null 2>"$demo/denied.txt"; then
	echo "demo: FAILED: the credentials could write another team's bucket" >&2; exit 1
fi
grep -q 'Insufficient permissions\|Access Denied' "$demo/denied.txt" || { cat "$demo/denied.txt" >&2; exit 1; }
echo "write s3://other-team-state/terraform.tfstate -> refused (AccessDenied)"

step "A token for another workspace cannot touch demo-ws's state"
other=$("$RC" identity mint --org demo --workspace other-ws --run run-demo0002 --phase plan --audience aws.workload.identity)
resp=$(curl -fsS -X POST "http://127.0.0.1:$MINIO_PORT/" --data-urlencode "Action=AssumeRoleWithWebIdentity" \
	--data-urlencode "Version=2011-06-15" --data-urlencode "DurationSeconds=900" \
	--data-urlencode "RoleArn=$role" --data-urlencode "WebIdentityToken=$other")
export MC_HOST_other=http://$(xml AccessKeyId):$(xml SecretAccessKey):$(xml SessionToken)@127.0.0.1:$MINIO_PORT
if "$MC" -q cat other/demo-ws-state/terraform.tfstate >/dev/null 2>&1; then
	echo "demo: FAILED: other-ws read demo-ws's state" >&2; exit 1
fi
echo "read s3://demo-ws-state/terraform.tfstate as other-ws -> refused"

step "The Vault-backed path: the same kind of token logs in to runcred's broker (Vault API under /v1/)"
vault() { # METHOD PATH [JSON] -- a Vault API call with the root token
	curl -fsS -o /dev/null -X "$1" -H "X-Vault-Token: $(cat "$RUNCRED_TOKEN_FILE")" "$RUNCRED_ADDR/v1/$2" ${3:+--data "$3"}
}
broker_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# The broker's own MinIO user (its config/root keys): the state bucket, nothing else.
cat >"$demo/broker-policy.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::demo-ws-state","arn:aws:s3:::demo-ws-state/*"]}]}
JSON
"$MC" -q admin policy create admin broker-state "$demo/broker-policy.json" >/dev/null
"$MC" -q admin user add admin runcred-broker "$broker_pw" >/dev/null
"$MC" -q admin policy attach admin broker-state --user runcred-broker >/dev/null
vault POST sys/mounts/aws '{"type":"aws"}'
vault POST aws/config/root "{\"access_key\":\"runcred-broker\",\"secret_key\":\"$broker_pw\",\"sts_endpoint\":\"http://127.0.0.1:$MINIO_PORT\"}"
vault POST aws/roles/demo-ws '{"credential_type":"assumed_role","role_arns":["arn:aws:iam::123456789012:role/demo-ws"],"default_sts_ttl":"900"}'
vault POST sys/auth/jwt '{"type":"jwt"}'
vault POST auth/jwt/config "{\"oidc_discovery_url\":\"$RUNCRED_ADDR\",\"bound_issuer\":\"$RUNCRED_ADDR\"}"
vault POST auth/jwt/role/demo-ws-plan '{"role_type":"jwt","user_claim":"terraform_full_workspace","bound_audiences":["vault.workload.identity"],
 "bound_claims":{"sub":"organization:demo:project:Default Project:workspace:demo-ws:run_phase:plan"},"token_policies":["demo-ws-aws"],"token_ttl":"20m"}'
vault PUT sys/policies/acl/demo-ws-aws '{"policy":"path \"aws/creds/demo-ws\" { capabilities = [\"read\"] }"}'
echo "mounted aws/ and auth/jwt/; role demo-ws-plan binds sub to demo-ws's plan phase; policy demo-ws-aws reads aws/creds/demo-ws"
vt=$("$RC" identity mint --org demo --project "Default Project" --workspace demo-ws --run run-demo0003 --phase plan --audience vault.workload.identity)
login=$(curl -fsS -X POST "$RUNCRED_ADDR/v1/auth/jwt/login" --data "{\"role\":\"demo-ws-plan\",\"jwt\":\"$vt\"}")
vtok=$(printf '%s' "$login" | sed -E 's/.*"client_token":"([^"]+)".*/\1/')
echo "login: policies $(printf '%s' "$login" | sed -E 's/.*"token_policies":(\[[^]]*\]).*/\1/'), metadata $(printf '%s' "$login" | sed -E 's/.*"metadata":(\{[^}]*\}).*/\1/')"
creds=$(curl -fsS -H "X-Vault-Token: $vtok" "$RUNCRED_ADDR/v1/aws/creds/demo-ws")
field() { printf '%s' "$creds" | sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }
lease=$(field lease_id)
echo "aws/creds/demo-ws -> access key $(field access_key), lease $lease"
export MC_HOST_vault=http://$(field access_key):$(field secret_key):$(field security_token)@127.0.0.1:$MINIO_PORT
"$MC" -q cat vault/demo-ws-state/terraform.tfstate >/dev/null
echo "read s3://demo-ws-state/terraform.tfstate with broker-issued keys -> allowed"
curl -fsS -X PUT -H "X-Vault-Token: $vtok" "$RUNCRED_ADDR/v1/auth/token/revoke-self"
if curl -fsS -o /dev/null -X PUT -H "X-Vault-Token: $(cat "$RUNCRED_TOKEN_FILE")" "$RUNCRED_ADDR/v1/sys/leases/lookup" --data "{\"lease_id\":\"$lease\"}" 2>/dev/null; then
	echo "demo: FAILED: the lease outlived revoke-self" >&2; exit 1
fi
echo "end of phase: revoke-self -> the token and lease $lease are gone"

step "Audit trail (runcred audit tail; runcred audit verify)"
"$RC" audit tail -n 10
"$RC" audit verify
echo
echo "demo: done. Logs in $demo/."
