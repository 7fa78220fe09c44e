// Package minio starts a real MinIO server for a test: S3, plus an STS that
// trusts OpenID providers, which is where runcred's tokens are exchanged for
// cloud credentials. It is imported only by _test.go files.
//
// What MinIO (the version pinned in scripts/tools.sh) was seen to do, and
// what Start does about it:
//
//   - A policy named by MINIO_IDENTITY_OPENID_ROLE_POLICY need not exist at
//     start. Until it does, STS answers a valid token with InvalidParameterValue
//     "None of the given policies (`x`) are defined". Start creates
//     Options.Policies through the admin API (PUT /minio/admin/v3/add-canned-policy,
//     what `mc admin policy create` calls), signed with the root credentials:
//     no mc binary, no mc config directory, no second start to pre-seed the
//     data directory.
//   - The role ARN is not random: MinIO derives it from the client ID,
//     arn:minio:iam:::role/<base64url(sha1(client id))> (empty region: none is
//     set), logs it as "IAM Roles: …" once IAM is up, and `mc idp openid ls`
//     shows it. Start computes it and checks it against STS. Two role-policy
//     configurations with one client ID would share an ARN: Start refuses them.
//   - /minio/health/ready answers 200 before IAM is up. While an OpenID
//     provider cannot be reached MinIO retries every few seconds ("Waiting for
//     OpenID to be initialized"), the admin API answers 503
//     XMinioServerNotInitialized and STS answers InvalidParameterValue
//     "RoleARN … is not defined". IAM comes up only after every provider's
//     discovery document and JWKS have been fetched, so once the admin API
//     answers, STS is usable. Start waits for that (up to a minute): the providers
//     must be serving when Start is called or soon after.
//   - The admin API answers as soon as the IAM store exists, before IAM's
//     first load from disk, and that load replaces the in-memory cache
//     whatever changed meanwhile: a policy created in between vanished again
//     (set-user-or-group-policy then answered 404 XMinioAdminNoSuchPolicy, on
//     a loaded machine). list-users waits for the first load, so Start waits
//     on it; and every policy or user the harness makes is waited for, by
//     reading it back, before Start or AddUser returns.
//   - Without a client secret MinIO accepts an HS256 token with kid=<client
//     id> signed with an empty key: the secret is the HMAC key for that kid.
//     Start always sets a random one and never reveals it.
//   - MinIO keeps one pool of verification keys, by kid, for all providers: a
//     token signed by provider B (under B's kid) and carrying A's client ID as
//     aud gets A's role. Tests of "another issuer's token is refused" need
//     separate servers; issuers sharing a kid make MinIO refetch JWKS on
//     every switch.
//   - Refusals are InvalidParameterValue with the reason as message, an
//     expired token included ("Token is expired"); the iss claim is not checked.
package minio

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/peers/tools"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// region is what the clients sign with; MinIO has none configured and
// accepts any.
const region = "us-east-1"

// waitTimeout bounds each wait for MinIO: Start's for the server and its
// OpenID providers, and every wait for IAM to show a change.
const waitTimeout = time.Minute

// OpenID is one OpenID provider configuration of the STS.
type OpenID struct {
	// Name suffixes each MINIO_IDENTITY_OPENID_* variable with _<Name>;
	// empty is MinIO's default configuration.
	Name string
	// ConfigURL is the discovery document,
	// http://127.0.0.1:port/.well-known/openid-configuration.
	ConfigURL string
	// ClientID must be the token's aud (or azp).
	ClientID string
	// RolePolicy is the MinIO policy every valid token gets, through the role
	// ARN in Server.RoleARNs. Empty: MinIO takes policy names from the token's
	// "policy" claim instead, and there is no role ARN (at most one such
	// configuration).
	RolePolicy string
}

// Options says what Start configures.
type Options struct {
	OpenID []OpenID
	// Policies maps MinIO IAM policy names to policy JSON; they exist before
	// Start returns.
	Policies map[string]string
	Buckets  []string
	// CAFiles are PEM CA certificates MinIO trusts for its own outgoing
	// connections, such as an OpenID provider's discovery document and
	// JWKS over https: Start copies them into the certs directory's CAs/.
	CAFiles []string
}

// Server is a running MinIO.
type Server struct {
	URL                    string
	RootUser, RootPassword string
	// RoleARNs maps OpenID.Name to the ARN to pass to AssumeRoleWithWebIdentity,
	// for configurations with a RolePolicy.
	RoleARNs map[string]string
}

// Binary returns the path of the minio binary: $RUNCRED_MINIO_BIN, else
// .tools/bin/minio in the repository.
func Binary(t testing.TB) string {
	t.Helper()
	if path := os.Getenv("RUNCRED_MINIO_BIN"); path != "" {
		if _, err := os.Stat(path); err != nil {
			// Not a skip: a missing peer must not turn the suite green.
			t.Fatalf("minio not found (%v): run scripts/tools.sh or set RUNCRED_MINIO_BIN", err)
		}
		return path
	}
	return tools.Path(t, "bin/minio")
}

// Start runs MinIO on free 127.0.0.1 ports with a fresh data directory and
// stops it when the test ends. Its log is shown if the test fails.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	// Temp directories first: cleanups run last-in first-out, so MinIO is
	// killed before its directories are removed.
	dataDir, certsDir, logDir := t.TempDir(), t.TempDir(), t.TempDir()

	s := &Server{
		RootUser:     "runcred-root",
		RootPassword: rand.Text(),
	}
	env := []string{
		"MINIO_ROOT_USER=" + s.RootUser,
		"MINIO_ROOT_PASSWORD=" + s.RootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	}
	openIDEnv, roleARNs := openID(t, opts.OpenID)
	env = append(env, openIDEnv...)
	s.RoleARNs = roleARNs

	if len(opts.CAFiles) > 0 {
		cas := filepath.Join(certsDir, "CAs")
		if err := os.Mkdir(cas, 0o700); err != nil {
			t.Fatal(err)
		}
		for i, f := range opts.CAFiles {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cas, fmt.Sprintf("ca-%d.crt", i)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	addr, consoleAddr := freeAddr(t), freeAddr(t)
	s.URL = "http://" + addr
	logPath := filepath.Join(logDir, "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// --certs-dir: the default, ~/.minio/certs, would switch MinIO to TLS if
	// a developer has certificates there.
	cmd := exec.Command(bin, "server", dataDir,
		"--address", addr, "--console-address", consoleAddr, "--certs-dir", certsDir)
	cmd.Env = append(inheritedEnv(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("minio: %v", err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			showLog(t, logPath)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel() // no point waiting for a server that is gone
		case <-ctx.Done():
		}
	}()
	// list-users answers only once IAM, with every OpenID provider, is
	// initialized and loaded from disk; health/ready comes earlier, and so
	// does list-canned-policies.
	if status, body, err := s.adminUntil(ctx, http.MethodGet, "list-users", nil, nil, ok); err != nil || status != http.StatusOK {
		select {
		case <-exited:
			t.Fatalf("minio exited during start: %v", waitErr)
		default:
		}
		t.Fatalf("minio not ready after %s (admin API: %d %s %v); are the OpenID providers up?", waitTimeout, status, body, err)
	}

	for name, doc := range opts.Policies {
		status, body, err := s.admin(ctx, http.MethodPut, "add-canned-policy", url.Values{"name": {name}}, []byte(doc))
		if err != nil || status != http.StatusOK {
			t.Fatalf("minio: creating policy %q: %d %s %v", name, status, body, err)
		}
		status, body, err = s.adminUntil(ctx, http.MethodGet, "info-canned-policy", url.Values{"name": {name}}, nil, ok)
		if err != nil || status != http.StatusOK {
			t.Fatalf("minio: policy %q created but not shown within %s: %d %s %v", name, waitTimeout, status, body, err)
		}
	}
	admin := s.Admin()
	for _, b := range opts.Buckets {
		if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("minio: creating bucket %q: %v", b, err)
		}
	}
	// A junk token must fail on the token, not on the role: this checks the
	// ARN derivation against the MinIO actually running.
	for name, arn := range s.RoleARNs {
		_, err := s.AssumeRoleWithWebIdentity(ctx, arn, "junk", 900)
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || !strings.Contains(apiErr.ErrorMessage(), "invalid number of segments") {
			t.Fatalf("minio: role ARN %s of OpenID configuration %q: STS answered %v", arn, name, err)
		}
	}
	return s
}

// openID returns the MINIO_IDENTITY_OPENID_* variables for configs and the
// role ARNs MinIO will give them.
func openID(t testing.TB, configs []OpenID) (env []string, roleARNs map[string]string) {
	t.Helper()
	roleARNs = map[string]string{}
	claimBased := 0
	arnOwner := map[string]string{}
	for _, o := range configs {
		suffix := ""
		if o.Name != "" {
			suffix = "_" + o.Name
		}
		env = append(env,
			"MINIO_IDENTITY_OPENID_CONFIG_URL"+suffix+"="+o.ConfigURL,
			"MINIO_IDENTITY_OPENID_CLIENT_ID"+suffix+"="+o.ClientID,
			"MINIO_IDENTITY_OPENID_CLIENT_SECRET"+suffix+"="+rand.Text(),
		)
		if o.RolePolicy == "" {
			if claimBased++; claimBased > 1 {
				t.Fatal("minio: at most one OpenID configuration without a RolePolicy")
			}
			continue
		}
		env = append(env, "MINIO_IDENTITY_OPENID_ROLE_POLICY"+suffix+"="+o.RolePolicy)
		arn := roleARN(o.ClientID)
		if other, dup := arnOwner[arn]; dup {
			t.Fatalf("minio: OpenID configurations %q and %q share client ID %q and so a role ARN", other, o.Name, o.ClientID)
		}
		arnOwner[arn] = o.Name
		roleARNs[o.Name] = arn
	}
	return env, roleARNs
}

// roleARN is MinIO's derivation of a role ARN from an OpenID client ID
// (internal/config/identity/openid/openid.go), stable across restarts.
func roleARN(clientID string) string {
	sum := sha1.Sum([]byte(clientID))
	return "arn:minio:iam:::role/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// AssumeRoleWithWebIdentity exchanges token for credentials at the STS.
// The call is unsigned, as at AWS.
func (s *Server) AssumeRoleWithWebIdentity(ctx context.Context, roleARN, token string, durationSeconds int32) (aws.Credentials, error) {
	client := sts.New(sts.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  aws.AnonymousCredentials{},
		// Tests assert on the first answer; retries would only slow them.
		Retryer: aws.NopRetryer{},
	})
	out, err := client.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(roleARN),
		RoleSessionName:  aws.String("runcred-test"), // required by the SDK, ignored by MinIO
		WebIdentityToken: aws.String(token),
		DurationSeconds:  aws.Int32(durationSeconds),
	})
	if err != nil {
		return aws.Credentials{}, err
	}
	c := out.Credentials
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Source:          "minio-sts",
		CanExpire:       true,
		Expires:         aws.ToTime(c.Expiration),
	}, nil
}

// S3 returns a client using creds.
func (s *Server) S3(creds aws.Credentials) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.URL),
		UsePathStyle: true, // MinIO on an IP address has no bucket subdomains
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
	})
}

// Admin returns an S3 client with the root credentials.
func (s *Server) Admin() *s3.Client {
	return s.S3(aws.Credentials{AccessKeyID: s.RootUser, SecretAccessKey: s.RootPassword})
}

// admin calls MinIO's admin API (/minio/admin/v3/<op>) with the root
// credentials. MinIO wants SigV4 for service "s3" and the payload hash.
func (s *Server) admin(ctx context.Context, method, op string, query url.Values, body []byte) (status int, answer []byte, err error) {
	u := s.URL + "/minio/admin/v3/" + op
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: s.RootUser, SecretAccessKey: s.RootPassword}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", region, time.Now()); err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, bytes.TrimSpace(answer), err
}

// adminUntil repeats an admin call every 50 ms until done accepts its
// answer or ctx ends, and returns the last answer: IAM changes are seen by
// reading them back, never by waiting a fixed time.
func (s *Server) adminUntil(ctx context.Context, method, op string, query url.Values, body []byte, done func(status int, answer []byte) bool) (status int, answer []byte, err error) {
	for {
		status, answer, err = s.admin(ctx, method, op, query, body)
		if err == nil && done(status, answer) {
			return status, answer, nil
		}
		select {
		case <-ctx.Done():
			return status, answer, errors.Join(err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ok accepts a 200.
func ok(status int, _ []byte) bool { return status == http.StatusOK }

// inheritedEnv is the test's environment without MINIO_* variables, which
// would reconfigure the server behind the test's back.
func inheritedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago. Another
// process may take it before MinIO binds it; Start then fails with the log.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func showLog(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("minio log: %v", err)
		return
	}
	t.Logf("minio log:\n%s", b)
}
