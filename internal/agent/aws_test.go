package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/peers/tools"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/peers/minio"
)

// runsPolicy is the MinIO role every runcred token for org demo gets. MinIO
// derives one role from one audience, so the phases are told apart by the
// token's sub: any phase may read the state bucket, only an apply may write
// it — the plan role and the apply role of the issue, as MinIO expresses them.
const runsPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],
  "Resource":["arn:aws:s3:::tfstate","arn:aws:s3:::tfstate/*"],
  "Condition":{"StringLike":{"jwt:sub":["organization:demo:project:Default Project:workspace:*:run_phase:*"]}}},
 {"Effect":"Allow","Action":["s3:PutObject","s3:DeleteObject"],
  "Resource":["arn:aws:s3:::tfstate/*"],
  "Condition":{"StringLike":{"jwt:sub":["organization:demo:project:Default Project:workspace:*:run_phase:apply"]}}}]}`

// s3Backend keeps state in MinIO, reached with whatever AWS credentials
// the environment gives (toolchain.md's settings for OpenTofu 1.6.3).
func s3Backend(url, key string) string {
	return fmt.Sprintf(`terraform {
  backend "s3" {
    bucket                      = "tfstate"
    key                         = %q
    region                      = "us-east-1"
    endpoints                   = { s3 = %q, sts = %q }
    use_path_style              = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}
`, key, url, url)
}

// probeHook tries, with the phase's own credentials, to write a state
// object through the s3 backend at key (a shell word), and says whether it
// could. It acts only in workspaces that set PROBE_MINIO.
func probeHook(tofu, key string) string {
	return `#!/bin/sh
set -u
[ -n "${PROBE_MINIO:-}" ] || exit 0
probe() {
label=$1
key=$2
dir=$(mktemp -d "$HOME/probe.XXXXXX")
cd "$dir"
cat > main.tf <<EOF
terraform {
  backend "s3" {
    bucket = "${PROBE_BUCKET:-tfstate}"
    key = "$key"
    region = "us-east-1"
    endpoints = { s3 = "${PROBE_MINIO}", sts = "${PROBE_MINIO}" }
    use_path_style = true
    skip_credentials_validation = true
    skip_region_validation = true
    skip_requesting_account_id = true
    skip_metadata_api_check = true
    skip_s3_checksum = true
  }
}
resource "terraform_data" "p" {}
EOF
if ` + tofu + ` init -input=false -no-color >out.txt 2>&1 && ` + tofu + ` apply -auto-approve -input=false -no-color >>out.txt 2>&1; then
  echo "PROBE $label ${PROBE_PHASE}: WRITE ALLOWED"
else
  echo "PROBE $label ${PROBE_PHASE}: WRITE DENIED $(grep -o 'AccessDenied' out.txt | head -n 1)"
fi
cd / && rm -rf "$dir"
}
probe own ` + key + `
if [ -n "${PROBE_OTHER:-}" ]; then probe other "$PROBE_OTHER"; fi
`
}

func objectExists(ctx context.Context, t *testing.T, m *minio.Server, key string) bool {
	t.Helper()
	out, err := m.Admin().GetObject(ctx, &s3.GetObjectInput{Bucket: awssdk.String("tfstate"), Key: awssdk.String(key)})
	if err != nil {
		return false
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	return len(b) > 0
}

// TestAWSDirectS3Backend: a configuration whose s3 backend keeps its state
// in MinIO, reached only through the run's web-identity credentials. The
// plan phase can read but not write the bucket (its pre-plan hook tries and
// is refused), the apply phase writes the state.
func TestAWSDirectS3Backend(t *testing.T) {
	bin, _ := tools.OpenTofu(t)
	probe := probeHook(bin, `"probe/${TFC_RUN_ID}-${PROBE_PHASE}.tfstate"`)
	w := newWorld(t, map[string]string{"terraform-pre-plan": strings.ReplaceAll(probe, "${PROBE_PHASE}", "plan"),
		"terraform-pre-apply": strings.ReplaceAll(probe, "${PROBE_PHASE}", "apply")}, nil)
	ctx := ctxT(t)
	m := minio.Start(t, minio.Options{
		OpenID:   []minio.OpenID{{ConfigURL: w.srv.D.PublicURL() + "/.well-known/openid-configuration", ClientID: "aws.workload.identity", RolePolicy: "runs"}},
		Policies: map[string]string{"runs": runsPolicy}, Buckets: []string{"tfstate"},
	})
	// The agent's own AWS settings must play no part in a run.
	t.Setenv("AWS_ACCESS_KEY_ID", m.RootUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.RootPassword)

	arn := m.RoleARNs[""]
	ws := w.workspace(t, "aws", false, map[string]string{
		"env:TFC_AWS_PROVIDER_AUTH": "true", "env:TFC_AWS_PLAN_ROLE_ARN": arn, "env:TFC_AWS_APPLY_ROLE_ARN": arn,
		"env:PROBE_MINIO": m.URL,
	})
	w.upload(t, ws, map[string]string{"main.tf": s3Backend(m.URL, "aws/terraform.tfstate") + `resource "terraform_data" "x" { input = "hello" }` + "\n"})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	planLog := w.logs(t, run)
	if !strings.Contains(planLog, "PROBE own plan: WRITE DENIED AccessDenied") {
		t.Fatalf("the plan phase's credentials were not refused a write:\n%s", planLog)
	}
	if !strings.Contains(planLog, "Plan: 1 to add") {
		t.Fatalf("plan log:\n%s", planLog)
	}
	if objectExists(ctx, t, m, "aws/terraform.tfstate") || objectExists(ctx, t, m, "probe/"+run.ID+"-plan.tfstate") {
		t.Fatal("the plan phase wrote to the bucket")
	}

	if err := w.tfe.Runs.Apply(ctx, run.ID, tfe.RunApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	run = w.wait(t, run.ID, tfe.RunApplied)
	all := w.logs(t, run)
	if !strings.Contains(all, "PROBE own apply: WRITE ALLOWED") || !strings.Contains(all, "Apply complete! Resources: 1 added") {
		t.Fatalf("apply log:\n%s", all)
	}
	out, err := m.Admin().GetObject(ctx, &s3.GetObjectInput{Bucket: awssdk.String("tfstate"), Key: awssdk.String("aws/terraform.tfstate")})
	if err != nil {
		t.Fatalf("no state object after the apply: %v", err)
	}
	state, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Contains(state, []byte(`"terraform_data"`)) || !bytes.Contains(state, []byte(`"hello"`)) {
		t.Fatalf("state object:\n%s", state)
	}
}
