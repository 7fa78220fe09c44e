package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/input-run.json")

// TestRunDocument holds input.run's shape to testdata/input-run.json, the
// example policy authors read (go test -run RunDocument -update rewrites
// it after a deliberate change).
func TestRunDocument(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	run := Run{
		ID: "run-abc123", CreatedAt: at, CreatedBy: "alice", Message: "Queued manually",
		CommitSHA: "", Speculative: false, IsDestroy: false, Refresh: true,
		ReplaceAddrs: []string{}, TargetAddrs: []string{},
		Organization: Organization{Name: "acme"},
		Project:      Project{ID: "prj-1", Name: "Default Project"},
		Workspace: Workspace{ID: "ws-1", Name: "app", CreatedAt: at, ExecutionMode: "agent",
			Tags: []string{"prod"}, WorkingDirectory: ""},
		Variables: []Variable{
			{Key: "vault_role_id", Category: CategoryTerraform, Sensitive: true, ManagedBy: "vault-admin",
				LastWriter: Writer{Kind: WriterRun, Name: "run-xyz", Workspace: "vault-admin"},
				ValueHMAC:  "3f0c…", ManagerValueHMAC: "3f0c…"},
			{Key: "TFC_AWS_PROVIDER_AUTH", Category: CategoryEnv, VariableSet: "varset-1",
				LastWriter: Writer{Kind: WriterTeamToken, Name: "platform"}, ValueHMAC: "a81d…"},
			{Key: "region", Category: CategoryTerraform, LastWriter: Writer{Kind: WriterUser, Name: "bob"}, ValueHMAC: "77e2…"},
		},
		Credentials: Credentials{
			Plan: PhaseCredentials{AWS: []AWSCredential{{RoleARN: "arn:aws:iam::111111111111:role/plan", Audience: "aws.workload.identity"}}},
			Apply: PhaseCredentials{
				AWS: []AWSCredential{{RoleARN: "arn:aws:iam::111111111111:role/apply", Audience: "aws.workload.identity"}},
				Vault: []VaultCredential{
					{Address: "https://vault.example.com", AuthType: "jwt", AuthPath: "jwt", Role: "app", Audience: "vault.workload.identity"},
					{Tag: "OPS", Address: "https://vault.example.com", AuthType: "approle", AuthPath: "approle", RoleIDVariable: "role_id", SecretIDVariable: "secret_id"},
				},
				VaultBackedAWS: []VaultBackedAWS{{MountPath: "aws", VaultRole: "deploy", AuthType: "assumed_role", RoleARN: "arn:aws:iam::111111111111:role/deploy"}},
			},
		},
	}
	b, err := runDocument(run)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	golden := filepath.Join("testdata", "input-run.json")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("input.run changed shape; if on purpose, go test -run RunDocument -update\n%s", out.String())
	}
}
