package aws

import (
	"crypto/rand"
	"strconv"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
)

// Token metadata a Terraform run's login sets (see the jwt auth method).
const (
	metaRunID    = "terraform_run_id"
	metaRunPhase = "terraform_run_phase"
)

// Length limits STS sets on RoleSessionName and on GetFederationToken's Name.
const (
	maxSessionName    = 64
	maxFederationName = 32
)

// defaultSessionName names an AssumeRole session when the caller did not.
// A run's session is runcred-<run id>-<phase>, so the cloud's audit log
// names the run; anything else gets Vault's default,
// vault-<display name>-<role>-<unix time>-<20 random>, with display name
// and role together cut to 42 characters. The caller normalizes and
// truncates the result.
func defaultSessionName(tok *engine.Token, roleName string, now time.Time) (string, error) {
	if run, phase := runOf(tok); run != "" && phase != "" {
		return "runcred-" + run + "-" + phase, nil
	}
	random, err := randomAlnum(20)
	if err != nil {
		return "", err
	}
	display := ""
	if tok != nil {
		display = tok.DisplayName
	}
	who := truncate(normalize(display)+"-"+normalize(roleName), 42)
	return "vault-" + who + "-" + strconv.FormatInt(now.Unix(), 10) + "-" + random, nil
}

// federationName is GetFederationToken's Name: runcred-<run id> for a run,
// else Vault's vault-<unix time>-<random>, at most 32 characters either way.
func federationName(tok *engine.Token, now time.Time) (string, error) {
	if run, _ := runOf(tok); run != "" {
		return truncate(normalize("runcred-"+run), maxFederationName), nil
	}
	random, err := randomAlnum(20)
	if err != nil {
		return "", err
	}
	return truncate("vault-"+strconv.FormatInt(now.Unix(), 10)+"-"+random, maxFederationName), nil
}

func runOf(tok *engine.Token) (run, phase string) {
	if tok == nil {
		return "", ""
	}
	return tok.Meta[metaRunID], tok.Meta[metaRunPhase]
}

// normalize replaces every character STS does not allow in a session name
// ([a-zA-Z0-9+=,.@_-]) with "_", as Vault does, one "_" per character. The
// result is ASCII, so its length in bytes is its length in characters.
func normalize(s string) string {
	b := make([]byte, 0, len(s))
	for _, c := range s {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '_' || c == '-'
		if !ok {
			c = '_'
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// truncate cuts s to n bytes; callers normalize first, so every byte is a
// character.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlnum returns n characters of [A-Za-z0-9] from crypto/rand, without
// modulo bias.
func randomAlnum(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			// 248 = 4*62: bytes at or above it would favour the first letters.
			if c < 248 && len(out) < n {
				out = append(out, alnum[c%62])
			}
		}
	}
	return string(out), nil
}
