package agent

import (
	"net/url"
	"strings"

	"github.com/runcred/runcred/internal/secret"
)

// runTokenEnv is how a phase's code finds its run token: TFE_TOKEN and
// TFE_HOSTNAME for terraform-provider-tfe (which reads no TF_TOKEN_*), and
// TF_TOKEN_<host> for OpenTofu itself (remote state, the registry), named
// as OpenTofu reads it: '.' as '_', '-' as '__'. The host is the server's
// as the agent reaches it, which is where the run reaches it too. A host
// with a port other than 443 gives a name no environment variable may have
// (':'), so then only TFE_TOKEN is set. The workspace's own variables come
// after this layer: one that sets TFE_TOKEN (a team token, as before run
// tokens) keeps it.
func runTokenEnv(server string, tok secret.Value) map[string]string {
	if tok.Empty() {
		return nil
	}
	env := map[string]string{"TFE_TOKEN": tok.RevealString()}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return env
	}
	host := strings.ToLower(u.Host)
	if u.Scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	}
	env["TFE_HOSTNAME"] = host
	if !strings.Contains(host, ":") {
		env["TF_TOKEN_"+strings.NewReplacer("-", "__", ".", "_").Replace(host)] = tok.RevealString()
	}
	return env
}
