package phase

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// Hook timeouts, as HCP Terraform agents have them: 60 s unless configured,
// never more than 10 minutes.
const (
	DefaultHookTimeout = 60 * time.Second
	MaxHookTimeout     = 10 * time.Minute
)

// hookName is the fixed file name of a hook, e.g. "terraform-pre-plan".
func hookName(when string, p jobapi.Phase) string { return "terraform-" + when + "-" + string(p) }

// hookTimeout reads the hook's timeout from env: TFC_AGENT_HOOK_<HOOK>_TIMEOUT
// wins over TFC_AGENT_HOOK_TIMEOUT, in whole seconds. <HOOK> is the hook name
// without "terraform-", upper-cased with '-' as '_' (PRE_PLAN), as the agent
// documents it; the full name (TERRAFORM_PRE_PLAN) is accepted too.
func hookTimeout(env map[string]string, name string) (time.Duration, error) {
	short := strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(name, "terraform-"), "-", "_"))
	for _, k := range []string{
		"TFC_AGENT_HOOK_" + short + "_TIMEOUT",
		"TFC_AGENT_HOOK_TERRAFORM_" + short + "_TIMEOUT",
		"TFC_AGENT_HOOK_TIMEOUT",
	} {
		v, ok := env[k]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s must be a positive number of seconds", k)
		}
		return min(time.Duration(n)*time.Second, MaxHookTimeout), nil
	}
	return DefaultHookTimeout, nil
}

// findHook returns the path of the named hook in dir, or "" if there is none.
// A hook that exists but cannot be run is an error rather than silently
// skipped: an operator who installs a hook relies on it running.
func findHook(dir, name string, box *Sandbox) (string, error) {
	if dir == "" {
		return "", nil
	}
	p := filepath.Join(dir, name)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("hook %s is not a regular file", name)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("hook %s is not executable", name)
	}
	if di, err := os.Stat(dir); err != nil || !box.usable(fi) || !box.usable(di) {
		return "", fmt.Errorf("hook %s and its directory must be readable and executable by the runs' user (uid %d): chmod o+rx", name, box.RunUser())
	}
	return p, nil
}

// hook runs the named hook, if installed, in the working directory with the
// phase environment and an empty $TFC_AGENT_ENV file. For a pre hook, the
// variables it appends there are kept for the phase's later OpenTofu
// commands (not for the post hook, as with HCP Terraform agents).
func (r *runner) hook(ctx context.Context, when string) error {
	name := hookName(when, r.spec.Phase)
	path, err := findHook(r.spec.HooksDir, name, r.spec.Sandbox)
	if err != nil || path == "" {
		return err
	}
	timeout, err := hookTimeout(r.spec.Env, name)
	if err != nil {
		return err
	}
	envFile := filepath.Join(r.dir, "agent-env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		return err
	}
	if err := r.spec.Sandbox.own(envFile); err != nil {
		return err
	}
	r.log(fmt.Sprintf("Executing %s-%s hook...", when, r.spec.Phase))
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := r.output()
	c := r.child(path, nil, environ(r.spec.Env, nil, r.own(map[string]string{"TFC_AGENT_ENV": envFile})), out)
	c.hook = true
	if c.box != nil {
		// Hooks run in the sandbox too: they are the administrator's code,
		// but they run in the run's directory with the workspace's
		// variables, both chosen by whoever queued the run.
		c.ro = append(c.ro, r.spec.HooksDir)
	}
	err = c.run(hctx)
	out.Flush()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case hctx.Err() != nil:
		return fmt.Errorf("hook %s timed out after %s", name, timeout)
	case err != nil:
		return fmt.Errorf("hook %s failed: %w", name, err)
	}
	if when != "pre" {
		return nil
	}
	vars, err := readAgentEnv(envFile, r.log)
	if err != nil {
		return fmt.Errorf("hook %s: %w", name, err)
	}
	// A pre hook typically exports credentials; treat every value long
	// enough to be one as a secret in the log.
	for k, v := range vars {
		if len(v) >= encodedMin {
			r.red.Add(secret.FromString(v))
		}
		r.hookEnv[k] = v
	}
	return nil
}
