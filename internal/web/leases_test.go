package web_test

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/minio"
)

const bucketRW = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::ws1-state","arn:aws:s3:::ws1-state/*"]}]}`

// TestLeaseRevokeFromPage: a live lease of AWS credentials that MinIO's STS
// issued through the broker is listed on the broker page (its id, never
// its keys) and revoked from there; on both databases.
func TestLeaseRevokeFromPage(t *testing.T) { daemontest.Each(t, testLeaseRevokeFromPage) }

func testLeaseRevokeFromPage(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": bucketRW}, Buckets: []string{"ws1-state"}})
	password := rand.Text()
	m.AddUser(t, "runcred-broker", password, "state-rw")
	root, err := vault.NewClient(&vault.Config{Address: srv.D.URL()})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(srv.Token)
	if err := root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"aws/config/root": {"access_key": "runcred-broker", "secret_key": password, "sts_endpoint": m.URL, "region": "us-east-1"},
		"aws/roles/ws1":   {"credential_type": "assumed_role", "role_arns": []string{"arn:aws:iam::123456789012:role/ws1"}},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := root.Logical().Read("aws/creds/ws1")
	if err != nil || creds.LeaseID == "" {
		t.Fatalf("creds: %v, %v", creds, err)
	}
	secretKey, _ := creds.Data["secret_key"].(string)
	sessionToken, _ := creds.Data["security_token"].(string)
	if secretKey == "" || sessionToken == "" {
		t.Fatalf("creds without keys: %v", creds.Data)
	}

	b := newBrowser(t, srv)
	b.signIn(srv.Token)
	page := b.get("/app/broker", http.StatusOK)
	if !strings.Contains(page, creds.LeaseID) || !strings.Contains(page, "Revoke") || !strings.Contains(page, "aws/") {
		t.Fatalf("the broker page lacks the lease or its revoke button:\n%s", page)
	}
	if resp, _ := b.do("POST", "/app/broker/leases/revoke", url.Values{"lease_id": {creds.LeaseID}}, b.origin); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a revoke without the CSRF token = %d", resp.StatusCode)
	}
	if _, err := root.Logical().Write("sys/leases/lookup", map[string]any{"lease_id": creds.LeaseID}); err != nil {
		t.Fatalf("the lease went without a valid request: %v", err)
	}
	resp, body := b.do("POST", "/app/broker/leases/revoke", url.Values{"lease_id": {creds.LeaseID}, "csrf": {csrfOf(t, page)}}, b.origin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d\n%s", resp.StatusCode, body)
	}
	if _, err := root.Logical().Write("sys/leases/lookup", map[string]any{"lease_id": creds.LeaseID}); err == nil {
		t.Error("the lease is still live after revoke from the page")
	}
	if strings.Contains(b.get("/app/broker", http.StatusOK), creds.LeaseID) {
		t.Error("the revoked lease is still listed")
	}
	b.scan(secretKey, sessionToken, password, srv.Token)
}
