package aws

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/peers/minio"
)

// userPolicy is what the root user of the engine (a MinIO user) may do:
// read and write the state bucket, nothing else.
const userPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::state","arn:aws:s3:::state/*"]}]}`

// readOnlySession is a role's session policy: only reads of the state bucket.
const readOnlySession = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject"],"Resource":["arn:aws:s3:::state/*"]}]}`

// TestMinIOAssumedRole issues assumed_role credentials from a real MinIO STS
// with a MinIO user's keys and uses them on S3: they carry the user's
// permissions, and a role's policy_document narrows them further.
func TestMinIOAssumedRole(t *testing.T) {
	ctx := context.Background()
	m := minio.Start(t, minio.Options{
		Policies: map[string]string{"state-rw": userPolicy},
		Buckets:  []string{"state", "other"},
	})
	user, password := "runcred-engine", rand.Text()
	m.AddUser(t, user, password, "state-rw")

	b, err := New(engine.MountConfig{Path: "aws/", Type: "aws", MaxLeaseTTL: 768 * time.Hour}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := enginetest.NewStorage()
	call := func(op engine.Operation, path string, data map[string]any) *engine.Response {
		t.Helper()
		resp, err := enginetest.Call(t, b, st, op, path, data)
		if err != nil {
			t.Fatalf("%s %s: %v", op, path, err)
		}
		return resp
	}
	call(engine.Update, "config/root", map[string]any{
		"access_key": user, "secret_key": password, "sts_endpoint": m.URL, "max_retries": "0",
	})
	// MinIO ignores the role ARN: the credentials inherit the user's policy.
	call(engine.Update, "roles/state", map[string]any{"credential_type": "assumed_role", "role_arns": "arn:aws:iam::123456789012:role/state"})
	call(engine.Update, "roles/state-ro", map[string]any{"credential_type": "assumed_role", "role_arns": "arn:aws:iam::123456789012:role/state",
		"policy_document": readOnlySession})

	rw := s3For(m, call(engine.Read, "creds/state", map[string]any{"ttl": "900"}))
	if err := putObject(ctx, rw, "state"); err != nil {
		t.Fatalf("write within the user's policy: %s", apiCode(err))
	}
	if err := getObject(ctx, rw, "state"); err != nil {
		t.Fatalf("read within the user's policy: %s", apiCode(err))
	}
	if err := putObject(ctx, rw, "other"); apiCode(err) != "AccessDenied" {
		t.Fatalf("write outside the user's policy: %s, want AccessDenied", apiCode(err))
	}

	ro := s3For(m, call(engine.Read, "creds/state-ro", nil))
	if err := getObject(ctx, ro, "state"); err != nil {
		t.Fatalf("read within the session policy: %s", apiCode(err))
	}
	if err := putObject(ctx, ro, "state"); apiCode(err) != "AccessDenied" {
		t.Fatalf("write the user may do but the session policy does not allow: %s, want AccessDenied", apiCode(err))
	}
}

func s3For(m *minio.Server, resp *engine.Response) *s3.Client {
	return m.S3(sdkaws.Credentials{
		AccessKeyID:     resp.Data["access_key"].(string),
		SecretAccessKey: resp.Data["secret_key"].(string),
		SessionToken:    resp.Data["security_token"].(string),
	})
}

func putObject(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: sdkaws.String(bucket), Key: sdkaws.String("terraform.tfstate"),
		Body: bytes.NewReader([]byte("{}"))})
	return err
}

func getObject(ctx context.Context, c *s3.Client, bucket string) error {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: sdkaws.String(bucket), Key: sdkaws.String("terraform.tfstate")})
	if err == nil {
		out.Body.Close()
	}
	return err
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return "<nil>"
}
