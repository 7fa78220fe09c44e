package creds

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
)

// Default audiences (§1.6) and Vault defaults (§2.3, §2.4).
const (
	awsAudience       = "aws.workload.identity"
	vaultAudience     = "vault.workload.identity"
	azureAudience     = "api://AzureADTokenExchange"
	defaultAuthPath   = "jwt"
	defaultAWSMount   = "aws"
	maxSleep          = 1500 * time.Second
	gcpAudiencePrefix = "//iam.googleapis.com/"
)

// Vault-backed AWS credential types (§2.4).
const (
	iamUser         = "iam_user"
	assumedRole     = "assumed_role"
	federationToken = "federation_token"
)

// grant is every credential a phase's variables ask for, checked as a whole
// before anything is minted, logged in to or written.
type grant struct {
	manual   []manualConf
	aws      []awsConf
	gcp      []gcpConf
	azure    []azureConf
	vault    []vaultConf
	vaultAWS []vaultAWSConf
}

type manualConf struct{ tag, audience string }

type awsConf struct{ tag, audience, roleARN string }

type gcpConf struct{ tag, audience, providerName, serviceAccount string }

type azureConf struct{ tag, audience, clientID string }

type vaultConf struct {
	tag, audience, addr, namespace, authPath, role string
	caPEM                                          []byte // nil: the system roots
}

type vaultAWSConf struct {
	tag, vaultTag, authType, mount, role, roleARN string
	sleep                                         time.Duration
}

// parse reads a phase's workspace variables. It reads nothing else: no
// process environment, no files.
func parse(env map[string]string, phase jobapi.Phase) (*grant, error) {
	g := &grant{}
	tags, err := manualTags(env)
	if err != nil {
		return nil, err
	}
	for _, tag := range tags {
		name := "TFC_WORKLOAD_IDENTITY_AUDIENCE"
		if tag != "" {
			name += "_" + tag
		}
		g.manual = append(g.manual, manualConf{tag: tag, audience: env[name]})
	}
	steps := []struct {
		provider, flag string
		each           func(settings) error
	}{
		{"AWS", "PROVIDER_AUTH", g.addAWS},
		{"GCP", "PROVIDER_AUTH", g.addGCP},
		{"AZURE", "PROVIDER_AUTH", g.addAzure},
		{"VAULT", "PROVIDER_AUTH", g.addVault},
		{"VAULT_BACKED_AWS", "AUTH", g.addVaultAWS},
	}
	for _, st := range steps {
		tags, err := enabledTags(env, st.provider, st.flag)
		if err != nil {
			return nil, err
		}
		for _, tag := range tags {
			if err := st.each(settings{env: env, provider: st.provider, tag: tag, phase: phase}); err != nil {
				return nil, err
			}
		}
	}
	return g, g.check()
}

// check refuses combinations that would hand the AWS SDK two answers.
func (g *grant) check() error {
	awsDefault := len(g.aws) > 0 && g.aws[0].tag == ""
	backedDefault := len(g.vaultAWS) > 0 && g.vaultAWS[0].tag == ""
	if awsDefault && backedDefault {
		return fmt.Errorf("TFC_AWS_PROVIDER_AUTH and TFC_VAULT_BACKED_AWS_AUTH are both true: the default AWS configuration can come from only one; tag one of them")
	}
	return nil
}

func (g *grant) addAWS(s settings) error {
	arn, _ := s.phased("ROLE_ARN")
	if arn == "" {
		return fmt.Errorf("%s is true but no role ARN is set: set %s (or %s and %s)", s.explicit("PROVIDER_AUTH"),
			s.runName("ROLE_ARN"), s.explicit("PLAN_ROLE_ARN"), s.explicit("APPLY_ROLE_ARN"))
	}
	if !strings.HasPrefix(arn, "arn:") || strings.ContainsAny(arn, " \t\r\n") {
		_, from := s.phased("ROLE_ARN")
		return fmt.Errorf("%s: %q is not a role ARN", from, arn)
	}
	aud := orDefault(s, "WORKLOAD_IDENTITY_AUDIENCE", awsAudience)
	g.aws = append(g.aws, awsConf{tag: s.tag, audience: aud, roleARN: arn})
	return nil
}

// gcpProviderName is a workload identity pool provider's resource name.
var gcpProviderName = regexp.MustCompile(`^projects/[^/]+/locations/global/workloadIdentityPools/[^/]+/providers/[^/]+$`)

// emailPattern is loose on purpose: it only keeps the address from
// changing the impersonation URL it is placed in.
var emailPattern = regexp.MustCompile(`^[^@/?#%\s]+@[^@/?#%\s]+$`)

func (g *grant) addGCP(s settings) error {
	sa, _ := s.phased("SERVICE_ACCOUNT_EMAIL")
	if sa == "" {
		return fmt.Errorf("%s is true but no service account is set: set %s", s.explicit("PROVIDER_AUTH"), s.runName("SERVICE_ACCOUNT_EMAIL"))
	}
	if !emailPattern.MatchString(sa) {
		_, from := s.phased("SERVICE_ACCOUNT_EMAIL")
		return fmt.Errorf("%s: %q is not a service account email", from, sa)
	}
	name, from := s.get("WORKLOAD_PROVIDER_NAME")
	if name == "" {
		num, _ := s.get("PROJECT_NUMBER")
		pool, _ := s.get("WORKLOAD_POOL_ID")
		prov, _ := s.get("WORKLOAD_PROVIDER_ID")
		if num == "" || pool == "" || prov == "" {
			return fmt.Errorf("%s is true but the workload identity provider is not set: set %s, or all of %s, %s and %s",
				s.explicit("PROVIDER_AUTH"), s.explicit("WORKLOAD_PROVIDER_NAME"), s.explicit("PROJECT_NUMBER"),
				s.explicit("WORKLOAD_POOL_ID"), s.explicit("WORKLOAD_PROVIDER_ID"))
		}
		name, from = "projects/"+num+"/locations/global/workloadIdentityPools/"+pool+"/providers/"+prov, s.explicit("PROJECT_NUMBER")
	}
	if !gcpProviderName.MatchString(name) {
		return fmt.Errorf("%s: %q is not projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>", from, name)
	}
	aud := orDefault(s, "WORKLOAD_IDENTITY_AUDIENCE", gcpAudiencePrefix+name)
	g.gcp = append(g.gcp, gcpConf{tag: s.tag, audience: aud, providerName: name, serviceAccount: sa})
	return nil
}

func (g *grant) addAzure(s settings) error {
	id, _ := s.phased("CLIENT_ID")
	if id == "" {
		return fmt.Errorf("%s is true but no client ID is set: set %s", s.explicit("PROVIDER_AUTH"), s.runName("CLIENT_ID"))
	}
	if strings.ContainsAny(id, "\r\n") {
		return fmt.Errorf("%s: the client ID may not contain a line break", s.runName("CLIENT_ID"))
	}
	g.azure = append(g.azure, azureConf{tag: s.tag, audience: orDefault(s, "WORKLOAD_IDENTITY_AUDIENCE", azureAudience), clientID: id})
	return nil
}

func (g *grant) addVault(s settings) error {
	addr, from := s.get("ADDR")
	if addr == "" {
		return fmt.Errorf("%s is true but %s is not set", s.explicit("PROVIDER_AUTH"), s.explicit("ADDR"))
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: %q is not an http(s) address", from, addr)
	}
	role, _ := s.phased("ROLE")
	if role == "" {
		return fmt.Errorf("%s is true but no Vault role is set: set %s (or %s and %s)", s.explicit("PROVIDER_AUTH"),
			s.runName("ROLE"), s.explicit("PLAN_ROLE"), s.explicit("APPLY_ROLE"))
	}
	authPath, from := s.get("AUTH_PATH")
	if authPath == "" {
		authPath, from = defaultAuthPath, s.explicit("AUTH_PATH")
	}
	if authPath, err = cleanPath(authPath); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	c := vaultConf{tag: s.tag, audience: orDefault(s, "WORKLOAD_IDENTITY_AUDIENCE", vaultAudience),
		addr: strings.TrimRight(addr, "/"), authPath: authPath, role: role}
	c.namespace, _ = s.get("NAMESPACE")
	if enc, from := s.get("ENCODED_CACERT"); enc != "" {
		if c.caPEM, err = decodeCACert(enc); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	}
	g.vault = append(g.vault, c)
	return nil
}

// decodeCACert checks that enc is base64 of PEM certificates Go can use.
func decodeCACert(enc string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if b, _ := pem.Decode(raw); b == nil {
		return nil, fmt.Errorf("not a base64-encoded PEM certificate")
	}
	if !x509.NewCertPool().AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("holds no usable PEM certificate")
	}
	return raw, nil
}

func (g *grant) addVaultAWS(s settings) error {
	flag := s.explicit("AUTH")
	c := vaultAWSConf{tag: s.tag}
	var from string
	c.authType, from = s.get("AUTH_TYPE")
	switch c.authType {
	case iamUser, assumedRole, federationToken:
	case "":
		return fmt.Errorf("%s is true but %s is not set (iam_user, assumed_role or federation_token)", flag, s.explicit("AUTH_TYPE"))
	default:
		return fmt.Errorf("%s: %q is not iam_user, assumed_role or federation_token", from, c.authType)
	}
	if c.role, _ = s.phased("VAULT_ROLE"); c.role == "" {
		return fmt.Errorf("%s is true but no Vault AWS role is set: set %s", flag, s.runName("VAULT_ROLE"))
	}
	if strings.ContainsAny(c.role, "/?#") || c.role == "." || c.role == ".." {
		return fmt.Errorf("%s: %q is not a role name", s.runName("VAULT_ROLE"), c.role)
	}
	c.roleARN, from = s.phased("ROLE_ARN")
	if c.roleARN != "" && c.authType != assumedRole {
		return fmt.Errorf("%s applies only to %s=assumed_role", from, s.explicit("AUTH_TYPE"))
	}
	mount, from := s.get("MOUNT_PATH")
	if mount == "" {
		mount, from = defaultAWSMount, s.explicit("MOUNT_PATH")
	}
	var err error
	if c.mount, err = cleanPath(mount); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if v, from := s.get("SLEEP_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxSleep {
			return fmt.Errorf("%s: %q is not a whole number of seconds from 0 to %d", from, v, int(maxSleep/time.Second))
		}
		c.sleep = time.Duration(n) * time.Second
	}
	c.vaultTag, from = s.get("VAULT_CONFIG")
	if !g.hasVault(c.vaultTag) {
		if c.vaultTag == "" {
			return fmt.Errorf("%s is true but the default Vault configuration is not enabled: set TFC_VAULT_PROVIDER_AUTH=true (§2.3 settings) or name a tagged one in %s", flag, s.explicit("VAULT_CONFIG"))
		}
		return fmt.Errorf("%s names Vault configuration %q, which is not enabled: set TFC_VAULT_PROVIDER_AUTH_%s=true", from, c.vaultTag, c.vaultTag)
	}
	g.vaultAWS = append(g.vaultAWS, c)
	return nil
}

func (g *grant) hasVault(tag string) bool {
	for _, v := range g.vault {
		if v.tag == tag {
			return true
		}
	}
	return false
}

// orDefault is setting name, else def.
func orDefault(s settings, name, def string) string {
	if v, _ := s.get(name); v != "" {
		return v
	}
	return def
}

// cleanPath checks a Vault mount path: slash-separated segments, none empty,
// "." or "..", so it cannot climb out of /v1/.
func cleanPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", fmt.Errorf("empty mount path")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "?#%\\") {
			return "", fmt.Errorf("%q is not a mount path", p)
		}
	}
	return p, nil
}
