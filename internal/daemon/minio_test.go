package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/peers/minio"
)

const aud = "aws.workload.identity"

// ws1Policy lets only ws1's runs (either phase) use ws1's state bucket: the
// trust condition on sub, as an AWS role trust policy would state it.
const ws1Policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::ws1-state","arn:aws:s3:::ws1-state/*"],
 "Condition":{"StringLike":{"jwt:sub":["organization:demo:project:Default Project:workspace:ws1:run_phase:*"]}}}]}`

func startMinIO(t *testing.T, n *node) *minio.Server {
	return minio.Start(t, minio.Options{
		OpenID:   []minio.OpenID{{ConfigURL: n.d.PublicURL() + "/.well-known/openid-configuration", ClientID: aud, RolePolicy: "ws1"}},
		Policies: map[string]string{"ws1": ws1Policy},
		Buckets:  []string{"ws1-state", "other"},
	})
}

func put(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("terraform.tfstate"), Body: bytes.NewReader([]byte("{}"))})
	return err
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	if err != nil {
		return err.Error()
	}
	return "<nil>"
}

func TestMinIOAcceptsRuncredTokens(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, nil)
	m := startMinIO(t, n)
	role := m.RoleARNs[""]

	tok := n.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: aud})
	creds, err := m.AssumeRoleWithWebIdentity(ctx, role, tok.Token, 900)
	if err != nil {
		t.Fatalf("STS refused a valid runcred token: %s", code(err))
	}
	s := m.S3(creds)
	if err := put(ctx, s, "ws1-state"); err != nil {
		t.Fatalf("write within the role's policy: %s", code(err))
	}
	if _, err := s.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ws1-state"), Key: aws.String("terraform.tfstate")}); err != nil {
		t.Fatalf("read within the role's policy: %s", code(err))
	}
	if err := put(ctx, s, "other"); !strings.HasPrefix(code(err), "AccessDenied") {
		t.Fatalf("write outside the policy: %s, want AccessDenied", code(err))
	}

	// Another workspace's token gets credentials, but the sub condition keeps it out.
	ws2 := n.mint(t, mintArgs{Workspace: "ws2", Phase: "plan", Audience: aud})
	creds2, err := m.AssumeRoleWithWebIdentity(ctx, role, ws2.Token, 900)
	if err != nil {
		t.Fatalf("STS: %s", code(err))
	}
	if err := put(ctx, m.S3(creds2), "ws1-state"); !strings.HasPrefix(code(err), "AccessDenied") {
		t.Fatalf("ws2 on ws1's bucket: %s, want AccessDenied", code(err))
	}
}

func TestMinIORejectsBadTokens(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, nil)
	m := startMinIO(t, n)
	role := m.RoleARNs[""]
	good := n.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: aud}).Token
	parts := strings.Split(good, ".")

	// Signed by a key runcred never published, under runcred's kid.
	rogue, _ := rsa.GenerateKey(rand.Reader, 2048)
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	kid := strings.Split(strings.Split(string(hdr), `"kid":"`)[1], `"`)[0]
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: rogue, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	jws, _ := signer.Sign(payload)
	forged, _ := jws.CompactSerialize()

	sig := []byte(parts[2])
	sig[10] ^= 'A' ^ 'B'
	if sig[10] == parts[2][10] {
		sig[10] = 'C'
	}
	altered := parts[0] + "." + parts[1] + "." + string(sig)

	expiring := n.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: aud, TTL: "1"})
	cases := map[string]struct{ token, want string }{
		"other audience":    {n.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: "someone.else"}).Token, "Client ID"},
		"unpublished key":   {forged, "verification error"},
		"altered signature": {altered, "InvalidParameterValue"},
		"expired":           {expiring.Token, "expired"},
	}
	// exp is a whole second; a second past it, the token has expired.
	time.Sleep(time.Until(time.Unix(expiring.ExpiresAt+1, 0)))
	for name, c := range cases {
		_, err := m.AssumeRoleWithWebIdentity(ctx, role, c.token, 900)
		if err == nil || !strings.Contains(code(err), c.want) {
			t.Errorf("%s: got %s, want an error containing %q", name, code(err), c.want)
		}
	}
}

func TestMinIOAcrossRotation(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, func(c *daemon.Config) {
		c.Identity = identity.DefaultPolicy()
		c.Identity.PublishLead = 2 * time.Second
		c.Refresh = 500 * time.Millisecond
	})
	m := startMinIO(t, n)
	role := m.RoleARNs[""]
	before := n.mint(t, mintArgs{Workspace: "ws1", Phase: "apply", Audience: aud})
	if _, err := m.AssumeRoleWithWebIdentity(ctx, role, before.Token, 900); err != nil {
		t.Fatalf("before rotation: %s", code(err))
	}
	// Until the next key has been published for the lead, rotation is
	// refused with 409, changing nothing: ask until it is done.
	var res identity.RotateResult
	deadline := time.Now().Add(time.Minute)
	for {
		c := n.call(t, "POST", "/api/runcred/v1/identity/rotate", nil, &res)
		if c != http.StatusConflict || time.Now().After(deadline) {
			if c != http.StatusOK || res.Retired != before.KeyID {
				t.Fatalf("rotate: HTTP %d %+v", c, res)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := n.mint(t, mintArgs{Workspace: "ws1", Phase: "apply", Audience: aud})
	if after.KeyID == before.KeyID {
		t.Fatal("new token still signed by the retired key")
	}
	for name, tok := range map[string]string{"token from before rotation": before.Token, "token from after rotation": after.Token} {
		creds, err := m.AssumeRoleWithWebIdentity(ctx, role, tok, 900)
		if err != nil {
			t.Fatalf("%s: %s", name, code(err))
		}
		if err := put(ctx, m.S3(creds), "ws1-state"); err != nil {
			t.Fatalf("%s: credentials do not work: %s", name, code(err))
		}
	}
}

// TestMinIOKeyCompromiseOverHTTPS: runcred serves HTTPS and MinIO trusts
// its CA for the discovery fetch. Right after start a forced rotation
// replaces a compromised key and revoke-key unpublishes it: a MinIO that
// fetches the JWKS afterwards refuses the stolen token, and tokens of the
// new key work on both. A MinIO that fetched the JWKS before keeps the key
// it cached, which is what the documentation warns of.
func TestMinIOKeyCompromiseOverHTTPS(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, daemontest.TLS(t))
	if !strings.HasPrefix(n.d.PublicURL(), "https://") {
		t.Fatalf("issuer %s", n.d.PublicURL())
	}
	start := func() *minio.Server {
		return minio.Start(t, minio.Options{
			OpenID:   []minio.OpenID{{ConfigURL: n.d.PublicURL() + "/.well-known/openid-configuration", ClientID: aud, RolePolicy: "ws1"}},
			Policies: map[string]string{"ws1": ws1Policy},
			Buckets:  []string{"ws1-state"},
			CAFiles:  []string{filepath.Join(n.dir, "tls", "ca.pem")},
		})
	}
	early := start()
	stolen := n.mint(t, mintArgs{Workspace: "ws1", Phase: "apply", Audience: aud})
	if _, err := early.AssumeRoleWithWebIdentity(ctx, early.RoleARNs[""], stolen.Token, 900); err != nil {
		t.Fatalf("before the compromise: %s", code(err))
	}

	var rot identity.RotateResult
	if c := n.call(t, "POST", "/api/runcred/v1/identity/rotate", map[string]any{"force": true}, &rot); c != http.StatusOK || rot.Retired != stolen.KeyID || !rot.Early {
		t.Fatalf("forced rotation: HTTP %d %+v", c, rot)
	}
	var rev identity.RevokeResult
	if c := n.call(t, "POST", "/api/runcred/v1/identity/keys/"+stolen.KeyID+"/revoke", nil, &rev); c != http.StatusOK || rev.State != identity.Retired {
		t.Fatalf("revoke: HTTP %d %+v", c, rev)
	}
	fresh := n.mint(t, mintArgs{Workspace: "ws1", Phase: "apply", Audience: aud})
	if fresh.KeyID != rot.Current {
		t.Fatalf("signed by %s, want %s", fresh.KeyID, rot.Current)
	}

	late := start()
	if _, err := late.AssumeRoleWithWebIdentity(ctx, late.RoleARNs[""], stolen.Token, 900); !strings.HasPrefix(code(err), "InvalidParameterValue") {
		t.Fatalf("the revoked key's token: %s, want InvalidParameterValue", code(err))
	}
	for name, m := range map[string]*minio.Server{"MinIO started before": early, "MinIO started after": late} {
		creds, err := m.AssumeRoleWithWebIdentity(ctx, m.RoleARNs[""], fresh.Token, 900)
		if err != nil {
			t.Fatalf("%s, the new key's token: %s", name, code(err))
		}
		if err := put(ctx, m.S3(creds), "ws1-state"); err != nil {
			t.Fatalf("%s: credentials do not work: %s", name, code(err))
		}
	}
	if _, err := early.AssumeRoleWithWebIdentity(ctx, early.RoleARNs[""], stolen.Token, 900); err != nil {
		t.Fatalf("MinIO with the key cached: %s (the documented caveat no longer holds; update the README)", code(err))
	}
}
