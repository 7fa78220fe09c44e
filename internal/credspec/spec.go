// Package credspec reads a run phase's credential settings from its
// workspace's TFC_* variables, by HCP Terraform's dynamic provider
// credentials grammar (tags, TFC_DEFAULT_ forms, PLAN/APPLY falling back to
// RUN): which workload-identity tokens the phase asks for, with which
// audiences, and where they go (AWS role ARNs, Vault addresses, auth paths
// and roles, …). The agent acts on the result; the server's credential
// guard checks it against the organization's allowlists before it mints a
// token. One grammar for both, so the guard checks exactly what the agent
// will do. The package reads only the variables it is given.
package credspec

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
	AWSAudience        = "aws.workload.identity"
	VaultAudience      = "vault.workload.identity"
	AzureAudience      = "api://AzureADTokenExchange"
	DefaultAuthPath    = "jwt"
	DefaultAppRolePath = "approle"
	defaultAWSMount    = "aws"
	MaxSleep           = 1500 * time.Second
	GCPAudiencePrefix  = "//iam.googleapis.com/"
)

// Vault login methods (TFC_VAULT_AUTH_TYPE), and the workspace variables
// an AppRole login reads when no setting names others: the names the
// classic configuration, which logs in from the vault provider, uses.
const (
	JWT              = "jwt"
	AppRole          = "approle"
	DefaultRoleIDVar = "role_id"
	DefaultSecretVar = "secret_id"
)

// Vault-backed AWS credential types (§2.4).
const (
	IAMUser         = "iam_user"
	AssumedRole     = "assumed_role"
	FederationToken = "federation_token"
)

// Spec is every credential a phase's variables ask for, checked as a whole
// before anything is minted, logged in to or written. Each list is sorted
// by tag, the default configuration ("") first. A From field names the
// variable that supplied the value next to it; for a default value, the
// configuration's enable flag (which is what asked for it).
type Spec struct {
	Manual   []Manual
	AWS      []AWS
	GCP      []GCP
	Azure    []Azure
	Vault    []Vault
	VaultAWS []VaultAWS
}

// Manual is a TFC_WORKLOAD_IDENTITY_AUDIENCE[_TAG] token (§1.8).
type Manual struct{ Tag, Audience, AudienceFrom string }

// AWS is direct OIDC federation (§2.1).
type AWS struct{ Tag, Audience, AudienceFrom, RoleARN, RoleARNFrom string }

// GCP is workload identity federation (§2.2).
type GCP struct{ Tag, Audience, AudienceFrom, ProviderName, ServiceAccount string }

// Azure is a federated credential (§2.6).
type Azure struct{ Tag, Audience, AudienceFrom, ClientID string }

// Vault is a login to a Vault (§2.3): with the phase's workload-identity
// token (AuthType JWT), or with an AppRole's role and secret ID read from
// two of the workspace's variables (AuthType AppRole, runcred's own
// extension). An AppRole login mints no token: Audience and Role are empty.
type Vault struct {
	Tag, Audience, AudienceFrom string
	Addr, AddrFrom              string // no trailing slash
	Namespace                   string
	AuthType, AuthTypeFrom      string // JWT or AppRole
	AuthPath, AuthPathFrom      string
	Role, RoleFrom              string
	CAPEM                       []byte // nil: the system roots
	// AppRole: the keys of the variables holding the role ID and the
	// secret ID, and the settings that named them.
	RoleIDVar, RoleIDVarFrom     string
	SecretIDVar, SecretIDVarFrom string
}

// VaultAWS is Vault-backed AWS (§2.4).
type VaultAWS struct {
	Tag, VaultTag, AuthType, Mount, Role string
	RoleARN, RoleARNFrom                 string
	Sleep                                time.Duration
}

// Audience is one token a phase asks for: its audience and the variable
// that chose it.
type Audience struct{ Audience, From string }

// Audiences lists every token the spec asks for, in minting order.
func (g *Spec) Audiences() []Audience {
	var out []Audience
	for _, c := range g.Manual {
		out = append(out, Audience{c.Audience, c.AudienceFrom})
	}
	for _, c := range g.AWS {
		out = append(out, Audience{c.Audience, c.AudienceFrom})
	}
	for _, c := range g.GCP {
		out = append(out, Audience{c.Audience, c.AudienceFrom})
	}
	for _, c := range g.Azure {
		out = append(out, Audience{c.Audience, c.AudienceFrom})
	}
	for _, c := range g.Vault {
		if c.AuthType != AppRole {
			out = append(out, Audience{c.Audience, c.AudienceFrom})
		}
	}
	return out
}

// NeedsTokens reports whether the phase asks for any workload-identity token.
func (g *Spec) NeedsTokens() bool { return len(g.Audiences()) > 0 }

// Parse reads a phase's workspace variables (env-category, by key) by the
// §2.0 grammar. It reads nothing else: no process environment, no files.
// An error names the variable at fault.
func Parse(env map[string]string, phase jobapi.Phase) (*Spec, error) {
	g := &Spec{}
	tags, err := manualTags(env)
	if err != nil {
		return nil, err
	}
	for _, tag := range tags {
		name := "TFC_WORKLOAD_IDENTITY_AUDIENCE"
		if tag != "" {
			name += "_" + tag
		}
		g.Manual = append(g.Manual, Manual{Tag: tag, Audience: env[name], AudienceFrom: name})
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
func (g *Spec) check() error {
	awsDefault := len(g.AWS) > 0 && g.AWS[0].Tag == ""
	backedDefault := len(g.VaultAWS) > 0 && g.VaultAWS[0].Tag == ""
	if awsDefault && backedDefault {
		return fmt.Errorf("TFC_AWS_PROVIDER_AUTH and TFC_VAULT_BACKED_AWS_AUTH are both true: the default AWS configuration can come from only one; tag one of them")
	}
	return nil
}

func (g *Spec) addAWS(s settings) error {
	arn, arnFrom := s.phased("ROLE_ARN")
	if arn == "" {
		return fmt.Errorf("%s is true but no role ARN is set: set %s (or %s and %s)", s.explicit("PROVIDER_AUTH"),
			s.runName("ROLE_ARN"), s.explicit("PLAN_ROLE_ARN"), s.explicit("APPLY_ROLE_ARN"))
	}
	if !strings.HasPrefix(arn, "arn:") || strings.ContainsAny(arn, " \t\r\n") {
		return fmt.Errorf("%s: %q is not a role ARN", arnFrom, arn)
	}
	aud, audFrom := s.orDefault("WORKLOAD_IDENTITY_AUDIENCE", AWSAudience, "PROVIDER_AUTH")
	g.AWS = append(g.AWS, AWS{Tag: s.tag, Audience: aud, AudienceFrom: audFrom, RoleARN: arn, RoleARNFrom: arnFrom})
	return nil
}

// gcpProviderName is a workload identity pool provider's resource name.
var gcpProviderName = regexp.MustCompile(`^projects/[^/]+/locations/global/workloadIdentityPools/[^/]+/providers/[^/]+$`)

// emailPattern is loose on purpose: it only keeps the address from
// changing the impersonation URL it is placed in.
var emailPattern = regexp.MustCompile(`^[^@/?#%\s]+@[^@/?#%\s]+$`)

func (g *Spec) addGCP(s settings) error {
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
	aud, audFrom := s.orDefault("WORKLOAD_IDENTITY_AUDIENCE", GCPAudiencePrefix+name, "PROVIDER_AUTH")
	g.GCP = append(g.GCP, GCP{Tag: s.tag, Audience: aud, AudienceFrom: audFrom, ProviderName: name, ServiceAccount: sa})
	return nil
}

func (g *Spec) addAzure(s settings) error {
	id, _ := s.phased("CLIENT_ID")
	if id == "" {
		return fmt.Errorf("%s is true but no client ID is set: set %s", s.explicit("PROVIDER_AUTH"), s.runName("CLIENT_ID"))
	}
	if strings.ContainsAny(id, "\r\n") {
		return fmt.Errorf("%s: the client ID may not contain a line break", s.runName("CLIENT_ID"))
	}
	aud, audFrom := s.orDefault("WORKLOAD_IDENTITY_AUDIENCE", AzureAudience, "PROVIDER_AUTH")
	g.Azure = append(g.Azure, Azure{Tag: s.tag, Audience: aud, AudienceFrom: audFrom, ClientID: id})
	return nil
}

func (g *Spec) addVault(s settings) error {
	addr, addrFrom := s.get("ADDR")
	if addr == "" {
		return fmt.Errorf("%s is true but %s is not set", s.explicit("PROVIDER_AUTH"), s.explicit("ADDR"))
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: %q is not an http(s) address", addrFrom, addr)
	}
	c := Vault{Tag: s.tag, Addr: strings.TrimRight(addr, "/"), AddrFrom: addrFrom}
	c.AuthType, c.AuthTypeFrom = s.get("AUTH_TYPE")
	defaultPath := DefaultAuthPath
	switch c.AuthType {
	case "":
		c.AuthType, c.AuthTypeFrom = JWT, s.explicit("PROVIDER_AUTH")
	case JWT:
	case AppRole:
		defaultPath = DefaultAppRolePath
	default:
		return fmt.Errorf("%s: %q is not jwt or approle", c.AuthTypeFrom, c.AuthType)
	}
	if c.AuthPath, c.AuthPathFrom = s.get("AUTH_PATH"); c.AuthPath == "" {
		c.AuthPath, c.AuthPathFrom = defaultPath, s.explicit("PROVIDER_AUTH")
	}
	if c.AuthPath, err = cleanPath(c.AuthPath); err != nil {
		return fmt.Errorf("%s: %w", c.AuthPathFrom, err)
	}
	if c.AuthType == AppRole {
		err = s.appRole(&c)
	} else {
		err = s.jwtLogin(&c)
	}
	if err != nil {
		return err
	}
	c.Namespace, _ = s.get("NAMESPACE")
	if enc, from := s.get("ENCODED_CACERT"); enc != "" {
		if c.CAPEM, err = decodeCACert(enc); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	}
	g.Vault = append(g.Vault, c)
	return nil
}

// jwtLogin reads a JWT login's role and audience, and refuses the AppRole
// settings, which would go unused.
func (s settings) jwtLogin(c *Vault) error {
	for _, name := range []string{"APPROLE_ROLE_ID_VARIABLE", "APPROLE_SECRET_ID_VARIABLE"} {
		if from := s.explicitPhased(name); from != "" {
			return fmt.Errorf("%s applies only to %s=approle", from, s.explicit("AUTH_TYPE"))
		}
	}
	if c.Role, c.RoleFrom = s.phased("ROLE"); c.Role == "" {
		return fmt.Errorf("%s is true but no Vault role is set: set %s (or %s and %s)", s.explicit("PROVIDER_AUTH"),
			s.runName("ROLE"), s.explicit("PLAN_ROLE"), s.explicit("APPLY_ROLE"))
	}
	c.Audience, c.AudienceFrom = s.orDefault("WORKLOAD_IDENTITY_AUDIENCE", VaultAudience, "PROVIDER_AUTH")
	return nil
}

// varName is what a variable key may be: a Terraform variable's name (an
// environment variable's is narrower).
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// appRole reads which variables hold an AppRole's role and secret ID, and
// refuses the JWT login's own settings (in their explicit forms: a
// TFC_DEFAULT_ value serves the configurations that log in with a JWT).
func (s settings) appRole(c *Vault) error {
	if from := s.explicitPhased("ROLE"); from != "" {
		return fmt.Errorf("%s applies only to %s=jwt: an AppRole login's role is the one its role ID names", from, s.explicit("AUTH_TYPE"))
	}
	if from := s.explicit("WORKLOAD_IDENTITY_AUDIENCE"); s.env[from] != "" {
		return fmt.Errorf("%s applies only to %s=jwt: an AppRole login uses no workload identity token", from, s.explicit("AUTH_TYPE"))
	}
	pick := func(name, def string) (string, string, error) {
		v, from := s.phased(name)
		if v == "" {
			return def, s.explicit("AUTH_TYPE"), nil
		}
		if !varName.MatchString(v) {
			return "", "", fmt.Errorf("%s: %q is not a variable name", from, v)
		}
		return v, from, nil
	}
	var err error
	if c.RoleIDVar, c.RoleIDVarFrom, err = pick("APPROLE_ROLE_ID_VARIABLE", DefaultRoleIDVar); err != nil {
		return err
	}
	if c.SecretIDVar, c.SecretIDVarFrom, err = pick("APPROLE_SECRET_ID_VARIABLE", DefaultSecretVar); err != nil {
		return err
	}
	if c.RoleIDVar == c.SecretIDVar {
		return fmt.Errorf("%s and %s both name variable %q: the role ID and the secret ID are two variables", c.RoleIDVarFrom, c.SecretIDVarFrom, c.RoleIDVar)
	}
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

func (g *Spec) addVaultAWS(s settings) error {
	flag := s.explicit("AUTH")
	c := VaultAWS{Tag: s.tag}
	var from string
	c.AuthType, from = s.get("AUTH_TYPE")
	switch c.AuthType {
	case IAMUser, AssumedRole, FederationToken:
	case "":
		return fmt.Errorf("%s is true but %s is not set (iam_user, assumed_role or federation_token)", flag, s.explicit("AUTH_TYPE"))
	default:
		return fmt.Errorf("%s: %q is not iam_user, assumed_role or federation_token", from, c.AuthType)
	}
	if c.Role, _ = s.phased("VAULT_ROLE"); c.Role == "" {
		return fmt.Errorf("%s is true but no Vault AWS role is set: set %s", flag, s.runName("VAULT_ROLE"))
	}
	if strings.ContainsAny(c.Role, "/?#") || c.Role == "." || c.Role == ".." {
		return fmt.Errorf("%s: %q is not a role name", s.runName("VAULT_ROLE"), c.Role)
	}
	c.RoleARN, c.RoleARNFrom = s.phased("ROLE_ARN")
	if c.RoleARN != "" && c.AuthType != AssumedRole {
		return fmt.Errorf("%s applies only to %s=assumed_role", c.RoleARNFrom, s.explicit("AUTH_TYPE"))
	}
	mount, from := s.get("MOUNT_PATH")
	if mount == "" {
		mount, from = defaultAWSMount, s.explicit("MOUNT_PATH")
	}
	var err error
	if c.Mount, err = cleanPath(mount); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if v, from := s.get("SLEEP_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > MaxSleep {
			return fmt.Errorf("%s: %q is not a whole number of seconds from 0 to %d", from, v, int(MaxSleep/time.Second))
		}
		c.Sleep = time.Duration(n) * time.Second
	}
	c.VaultTag, from = s.get("VAULT_CONFIG")
	if !g.hasVault(c.VaultTag) {
		if c.VaultTag == "" {
			return fmt.Errorf("%s is true but the default Vault configuration is not enabled: set TFC_VAULT_PROVIDER_AUTH=true (§2.3 settings) or name a tagged one in %s", flag, s.explicit("VAULT_CONFIG"))
		}
		return fmt.Errorf("%s names Vault configuration %q, which is not enabled: set TFC_VAULT_PROVIDER_AUTH_%s=true", from, c.VaultTag, c.VaultTag)
	}
	g.VaultAWS = append(g.VaultAWS, c)
	return nil
}

func (g *Spec) hasVault(tag string) bool {
	for _, v := range g.Vault {
		if v.Tag == tag {
			return true
		}
	}
	return false
}

// explicitPhased is the first of the explicit (not TFC_DEFAULT_) forms of
// per-phase setting name, for any phase, that holds a value; "" if none.
func (s settings) explicitPhased(name string) string {
	for _, p := range []string{"PLAN_", "APPLY_", "RUN_"} {
		if k := s.explicit(p + name); s.env[k] != "" {
			return k
		}
	}
	return ""
}

// orDefault is setting name and its variable, else def and the
// configuration's enable flag, which asked for the default.
func (s settings) orDefault(name, def, flag string) (value, from string) {
	if v, from := s.get(name); v != "" {
		return v, from
	}
	return def, s.explicit(flag)
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
