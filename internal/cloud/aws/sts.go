// Package aws is runcred's client for the AWS Security Token Service: the
// three STS calls the broker's AWS secrets engine makes (AssumeRole,
// GetFederationToken, GetSessionToken), signed with static credentials and
// sent to any STS-compatible endpoint (AWS, MinIO, a test fake).
//
// It owns the translation between the SDK and runcred: inputs without SDK
// pointers, credentials as secret.Value, and AWS errors turned into fail
// kinds with a message that is safe to show a client (the AWS error code and
// message, as Vault shows them).
package aws

import (
	"context"
	"net/http"
	"sort"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

// DefaultRegion is the signing region when none is configured.
const DefaultRegion = "us-east-1"

// Config says how to reach and sign for an STS.
type Config struct {
	AccessKey string
	SecretKey secret.Value
	// Region signs the requests; empty is DefaultRegion.
	Region string
	// STSEndpoint overrides the endpoint ("https://sts.eu-west-1.amazonaws.com",
	// a MinIO URL); empty is AWS's regional endpoint.
	STSEndpoint string
	// MaxRetries is how many times a failed call is retried: -1 is the SDK
	// default (2 retries), 0 none.
	MaxRetries int
	// HTTPClient carries the calls; nil is the SDK's default client.
	HTTPClient *http.Client
}

// Credentials are temporary AWS credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey secret.Value
	SessionToken    secret.Value
	Expiration      time.Time
	// ARN is the assumed-role or federated user; empty for a session token.
	ARN string
}

// AssumeRoleInput is sts:AssumeRole's input.
type AssumeRoleInput struct {
	RoleARN     string
	SessionName string
	Duration    time.Duration // 0: the STS default
	Policy      string        // session policy JSON; empty: none
	PolicyARNs  []string      // managed session policies
	ExternalID  string
	Tags        map[string]string // session tags
}

// FederationTokenInput is sts:GetFederationToken's input.
type FederationTokenInput struct {
	Name       string
	Duration   time.Duration
	Policy     string
	PolicyARNs []string
}

// SessionTokenInput is sts:GetSessionToken's input.
type SessionTokenInput struct {
	Duration time.Duration
	// SerialNumber and TokenCode identify an MFA device and its current code,
	// for users whose policies require MFA.
	SerialNumber string
	TokenCode    string
}

// STS calls one STS with one set of credentials. It is safe for concurrent
// use.
type STS struct {
	client *sts.Client
}

// NewSTS builds a client for cfg. It makes no call: bad credentials show up
// on the first request, as in Vault, where keys are not validated on write.
func NewSTS(cfg Config) *STS {
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	opts := sts.Options{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey.RevealString(), ""),
	}
	if cfg.STSEndpoint != "" {
		opts.BaseEndpoint = sdkaws.String(cfg.STSEndpoint)
	}
	if cfg.MaxRetries >= 0 {
		// The SDK counts attempts, Vault's max_retries counts retries.
		opts.RetryMaxAttempts = cfg.MaxRetries + 1
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	return &STS{client: sts.New(opts)}
}

// AssumeRole calls sts:AssumeRole.
func (s *STS) AssumeRole(ctx context.Context, in AssumeRoleInput) (Credentials, error) {
	req := &sts.AssumeRoleInput{
		RoleArn:         sdkaws.String(in.RoleARN),
		RoleSessionName: sdkaws.String(in.SessionName),
		DurationSeconds: seconds(in.Duration),
		Policy:          optional(in.Policy),
		PolicyArns:      policyARNs(in.PolicyARNs),
		ExternalId:      optional(in.ExternalID),
		Tags:            tags(in.Tags),
	}
	out, err := s.client.AssumeRole(ctx, req)
	if err != nil {
		return Credentials{}, classify(err)
	}
	c, err := credentialsOf(out.Credentials)
	if err != nil {
		return Credentials{}, err
	}
	if out.AssumedRoleUser != nil {
		c.ARN = sdkaws.ToString(out.AssumedRoleUser.Arn)
	}
	return c, nil
}

// GetFederationToken calls sts:GetFederationToken.
func (s *STS) GetFederationToken(ctx context.Context, in FederationTokenInput) (Credentials, error) {
	out, err := s.client.GetFederationToken(ctx, &sts.GetFederationTokenInput{
		Name:            sdkaws.String(in.Name),
		DurationSeconds: seconds(in.Duration),
		Policy:          optional(in.Policy),
		PolicyArns:      policyARNs(in.PolicyARNs),
	})
	if err != nil {
		return Credentials{}, classify(err)
	}
	c, err := credentialsOf(out.Credentials)
	if err != nil {
		return Credentials{}, err
	}
	if out.FederatedUser != nil {
		c.ARN = sdkaws.ToString(out.FederatedUser.Arn)
	}
	return c, nil
}

// GetSessionToken calls sts:GetSessionToken.
func (s *STS) GetSessionToken(ctx context.Context, in SessionTokenInput) (Credentials, error) {
	out, err := s.client.GetSessionToken(ctx, &sts.GetSessionTokenInput{
		DurationSeconds: seconds(in.Duration),
		SerialNumber:    optional(in.SerialNumber),
		TokenCode:       optional(in.TokenCode),
	})
	if err != nil {
		return Credentials{}, classify(err)
	}
	return credentialsOf(out.Credentials)
}

// credentialsOf copies the SDK's credentials into secret values. A success
// without credentials is the server's fault.
func credentialsOf(c *types.Credentials) (Credentials, error) {
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return Credentials{}, fail.Upstreamf("sts: response carries no credentials")
	}
	return Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: secret.FromString(*c.SecretAccessKey),
		SessionToken:    secret.FromString(*c.SessionToken),
		Expiration:      *c.Expiration,
	}, nil
}

// seconds is nil for 0 so STS applies its own default. Durations below a
// second round up rather than to 0, which STS would refuse as invalid
// anyway; the caller learns from STS's message.
func seconds(d time.Duration) *int32 {
	if d <= 0 {
		return nil
	}
	s := (d + time.Second - 1) / time.Second
	if s > 1<<31-1 {
		s = 1<<31 - 1
	}
	return sdkaws.Int32(int32(s))
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return sdkaws.String(s)
}

func policyARNs(arns []string) []types.PolicyDescriptorType {
	if len(arns) == 0 {
		return nil
	}
	out := make([]types.PolicyDescriptorType, len(arns))
	for i, a := range arns {
		out[i] = types.PolicyDescriptorType{Arn: sdkaws.String(a)}
	}
	return out
}

// tags are sent sorted by key so a request is the same for the same role
// (and CloudTrail entries compare).
func tags(m map[string]string) []types.Tag {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]types.Tag, len(keys))
	for i, k := range keys {
		out[i] = types.Tag{Key: sdkaws.String(k), Value: sdkaws.String(m[k])}
	}
	return out
}
