package credspec

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/runcred/runcred/internal/jobapi"
)

// tagPattern is what a configuration tag may contain (§2.0): letters, digits
// and underscores. TYPE is reserved because TFC_VAULT_BACKED_AWS_AUTH_TYPE
// would otherwise read as the enable flag of a configuration tagged TYPE.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

const reservedTag = "TYPE"

// settings resolves one configuration's variables by the §2.0 grammar. The
// configuration is provider prefix P (AWS, VAULT, VAULT_BACKED_AWS, …) plus
// an optional tag; an empty tag is the default configuration.
type settings struct {
	env      map[string]string
	provider string
	tag      string
	phase    jobapi.Phase
}

// suffix is the tag as it appears at the end of a variable name.
func (s settings) suffix() string {
	if s.tag == "" {
		return ""
	}
	return "_" + s.tag
}

// explicit is the variable name for setting name in this configuration.
func (s settings) explicit(name string) string {
	return "TFC_" + s.provider + "_" + name + s.suffix()
}

// get returns TFC_<P>_<NAME>[_TAG], else TFC_DEFAULT_<P>_<NAME>, and the name
// of the variable that supplied it. An empty value counts as unset.
func (s settings) get(name string) (value, from string) {
	for _, k := range []string{s.explicit(name), "TFC_DEFAULT_" + s.provider + "_" + name} {
		if v := s.env[k]; v != "" {
			return v, k
		}
	}
	return "", ""
}

// phased resolves a per-phase setting: the phase's own value falls back to
// the RUN value. Between an explicit RUN value and a default phase value the
// docs are silent; OTF's order is followed: explicit phase, default phase,
// explicit run, default run.
func (s settings) phased(name string) (value, from string) {
	for _, k := range []string{
		s.explicit(strings.ToUpper(string(s.phase)) + "_" + name),
		"TFC_DEFAULT_" + s.provider + "_" + strings.ToUpper(string(s.phase)) + "_" + name,
		s.explicit("RUN_" + name),
		"TFC_DEFAULT_" + s.provider + "_RUN_" + name,
	} {
		if v := s.env[k]; v != "" {
			return v, k
		}
	}
	return "", ""
}

// runName is the variable an error should point at when a per-phase setting
// is missing: the RUN form, which serves both phases.
func (s settings) runName(name string) string { return s.explicit("RUN_" + name) }

// enabledTags returns the tags of every configuration whose enable flag
// (TFC_<P>_<flag>[_TAG]) is "true", sorted, the default configuration ("")
// first. A flag that is neither true nor false, a malformed tag, and the
// TFC_DEFAULT_ form of a flag (which does not exist) are errors, so a typo
// does not silently leave a run without the credentials it expects.
func enabledTags(env map[string]string, provider, flag string) ([]string, error) {
	base := "TFC_" + provider + "_" + flag
	if _, ok := env["TFC_DEFAULT_"+provider+"_"+flag]; ok {
		return nil, fmt.Errorf("TFC_DEFAULT_%s_%s is not supported: enable flags have no default form; set %s (or %s_<TAG>) to true", provider, flag, base, base)
	}
	var tags []string
	for k, v := range env {
		tag, ok := strings.CutPrefix(k, base)
		if !ok {
			continue
		}
		if tag != "" {
			if tag, ok = strings.CutPrefix(tag, "_"); !ok {
				continue // another setting that shares the prefix
			}
			if tag == reservedTag || strings.HasPrefix(tag, reservedTag+"_") {
				continue // TFC_VAULT_BACKED_AWS_AUTH_TYPE[_TAG]: a setting, not a flag
			}
			if !tagPattern.MatchString(tag) {
				return nil, fmt.Errorf("%s: tag %q may contain only letters, digits and underscores", k, tag)
			}
		}
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			tags = append(tags, tag)
		case "false", "":
		default:
			return nil, fmt.Errorf("%s must be true or false, not %q", k, v)
		}
	}
	sort.Strings(tags) // "" sorts first
	return tags, nil
}

// manualTags returns the tags of every TFC_WORKLOAD_IDENTITY_AUDIENCE[_TAG]
// with a value (§1.8), sorted, the untagged one ("") first.
func manualTags(env map[string]string) ([]string, error) {
	const base = "TFC_WORKLOAD_IDENTITY_AUDIENCE"
	var tags []string
	for k, v := range env {
		tag, ok := strings.CutPrefix(k, base)
		if !ok || v == "" {
			continue
		}
		if tag != "" {
			if tag, ok = strings.CutPrefix(tag, "_"); !ok {
				continue
			}
			if tag == reservedTag || !tagPattern.MatchString(tag) {
				return nil, fmt.Errorf("%s: tag %q may contain only letters, digits and underscores and may not be %s", k, tag, reservedTag)
			}
		}
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	return tags, nil
}
