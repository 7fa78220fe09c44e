package aws

import (
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/peers/stsfake"
)

// BenchmarkCredsSTSFake measures one creds/:name request end to end: role
// and config reads from storage, the cached client, a signed AssumeRole over
// loopback HTTP to the fake STS (which verifies the signature), and the
// response.
func BenchmarkCredsSTSFake(b *testing.B) {
	e := newEnv(b, stsfake.Options{})
	e.mustWrite("roles/deploy", map[string]any{"credential_type": "assumed_role", "role_arns": testRole,
		"policy_document": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`})
	tok := runToken("run-bench", "plan")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.do(engine.Read, "creds/deploy", nil, tok); err != nil {
			b.Fatal(err)
		}
	}
}
