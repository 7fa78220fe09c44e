package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Credential types, Vault's names.
const (
	assumedRole     = "assumed_role"
	federationToken = "federation_token"
	sessionToken    = "session_token"
	iamUser         = "iam_user"
)

const rolePrefix = "role/"

// role is a stored roles/:name.
type role struct {
	CredentialType         string            `json:"credential_type"`
	RoleARNs               []string          `json:"role_arns,omitempty"`
	PolicyARNs             []string          `json:"policy_arns,omitempty"`
	PolicyDocument         string            `json:"policy_document,omitempty"`
	IAMGroups              []string          `json:"iam_groups,omitempty"`
	IAMTags                map[string]string `json:"iam_tags,omitempty"`
	SessionTags            map[string]string `json:"session_tags,omitempty"`
	ExternalID             string            `json:"external_id,omitempty"`
	DefaultSTSTTL          time.Duration     `json:"default_sts_ttl,omitempty"`
	MaxSTSTTL              time.Duration     `json:"max_sts_ttl,omitempty"`
	UserPath               string            `json:"user_path,omitempty"`
	PermissionsBoundaryARN string            `json:"permissions_boundary_arn,omitempty"`
	MFASerialNumber        string            `json:"mfa_serial_number,omitempty"`
}

var roleFields = []string{"credential_type", "role_arns", "policy_arns", "policy_document", "iam_groups",
	"iam_tags", "session_tags", "external_id", "default_sts_ttl", "max_sts_ttl", "user_path",
	"permissions_boundary_arn", "mfa_serial_number"}

// writeRole creates or updates a role. As in Vault an update changes only
// the fields given, and the result is validated as a whole.
func (b *Backend) writeRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	if f.Has("policy") || f.Has("arn") {
		return nil, fail.Invalidf("the legacy policy and arn parameters are not supported by runcred; use credential_type with policy_document, policy_arns or role_arns")
	}
	var warnings []string
	err := req.Storage.Atomic(ctx, rolePrefix+name, func(st engine.Storage) error {
		r, err := loadRole(ctx, st, name)
		if err != nil {
			return err
		}
		if r == nil {
			r = &role{}
		}
		if err := r.update(f); err != nil {
			return err
		}
		if errs := r.validate(); len(errs) > 0 {
			return validationError(errs)
		}
		warnings = r.warnings()
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return st.Put(ctx, rolePrefix+name, raw)
	})
	if err != nil {
		return nil, err
	}
	return warningsOnly(append(unknownWarning(f, roleFields...), warnings...)), nil
}

// update applies the fields present in f.
func (r *role) update(f engine.Fields) error {
	if v, ok, err := f.String("credential_type"); err != nil {
		return err
	} else if ok {
		if v == iamUser {
			return fail.Invalidf("credential_type iam_user is not supported by runcred yet")
		}
		r.CredentialType = v
	}
	for _, l := range []struct {
		name string
		dst  *[]string
	}{{"role_arns", &r.RoleARNs}, {"policy_arns", &r.PolicyARNs}, {"iam_groups", &r.IAMGroups}} {
		if v, ok, err := f.Strings(l.name); err != nil {
			return err
		} else if ok {
			*l.dst = v
		}
	}
	if v, ok, err := f.String("policy_document"); err != nil {
		return err
	} else if ok {
		// Stored compacted, as Vault does; STS counts the packed size.
		var compact bytes.Buffer
		if v != "" {
			if err := json.Compact(&compact, []byte(v)); err != nil {
				return fail.Invalidf("cannot parse policy document: %q", v)
			}
		}
		r.PolicyDocument = compact.String()
	}
	for _, m := range []struct {
		name string
		dst  *map[string]string
	}{{"iam_tags", &r.IAMTags}, {"session_tags", &r.SessionTags}} {
		if v, ok, err := f.StringMap(m.name); err != nil {
			return err
		} else if ok {
			*m.dst = v
		}
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"external_id", &r.ExternalID}, {"user_path", &r.UserPath},
		{"permissions_boundary_arn", &r.PermissionsBoundaryARN}, {"mfa_serial_number", &r.MFASerialNumber}} {
		if v, ok, err := f.String(s.name); err != nil {
			return err
		} else if ok {
			*s.dst = v
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"default_sts_ttl", &r.DefaultSTSTTL}, {"max_sts_ttl", &r.MaxSTSTTL}} {
		if v, ok, err := f.Duration(d.name); err != nil {
			return err
		} else if ok {
			if v < 0 {
				return fail.Invalidf("%s must not be negative", d.name)
			}
			*d.dst = v
		}
	}
	return nil
}

// validate returns every rule the role breaks, in Vault's words where Vault
// has the rule.
func (r *role) validate() []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	t := r.CredentialType
	switch t {
	case "":
		add("did not supply credential_type")
	case assumedRole, federationToken, sessionToken:
	default:
		add("unrecognized credential type: %s", t)
	}
	if r.MaxSTSTTL > 0 && r.DefaultSTSTTL > 0 && r.DefaultSTSTTL > r.MaxSTSTTL {
		add(`"default_sts_ttl" value must be less than or equal to "max_sts_ttl" value`)
	}
	if r.UserPath != "" {
		add("user_path parameter only valid for %s credential type", iamUser)
	}
	if r.PermissionsBoundaryARN != "" {
		add("cannot supply permissions_boundary_arn when credential_type isn't %s", iamUser)
	}
	hasPolicy := r.PolicyDocument != "" || len(r.PolicyARNs) > 0
	if hasPolicy && t == sessionToken {
		add("cannot supply a policy or role when using credential_type %s", sessionToken)
	}
	if len(r.RoleARNs) > 0 && t != assumedRole {
		add("cannot supply role_arns when credential_type isn't %s", assumedRole)
	}
	if len(r.SessionTags) > 0 && t != assumedRole {
		add("cannot supply session_tags when credential_type isn't %s", assumedRole)
	}
	if r.ExternalID != "" && t != assumedRole {
		add("cannot supply external_id when credential_type isn't %s", assumedRole)
	}
	if r.MFASerialNumber != "" && t != sessionToken {
		add("cannot supply mfa_serial_number when credential_type isn't %s", sessionToken)
	}
	if t == assumedRole && len(r.RoleARNs) == 0 {
		add("role_arns is required when credential_type is %s", assumedRole)
	}
	for _, a := range append(append([]string(nil), r.RoleARNs...), r.PolicyARNs...) {
		if !strings.HasPrefix(a, "arn:") {
			add("%q is not an ARN", a)
		}
	}
	if t == federationToken && !hasPolicy {
		// Without a policy, GetFederationToken returns credentials as
		// powerful as the root credentials themselves.
		add("must specify at least one of policy_arns or policy_document with %s credential_type", federationToken)
	}
	if t == assumedRole && len(r.IAMGroups) > 0 && !hasPolicy {
		add("iam_groups without policy_document or policy_arns is not supported by runcred: the groups' policies are not applied, and the credentials would have all of the role's permissions")
	}
	return errs
}

func (r *role) warnings() []string {
	var w []string
	if len(r.IAMGroups) > 0 {
		w = append(w, "iam_groups is stored but not applied: runcred does not add the groups' policies to the session policy")
	}
	if len(r.IAMTags) > 0 {
		w = append(w, "iam_tags applies to iam_user credentials only and is ignored")
	}
	return w
}

// validationError renders errs the way Vault does (a quoted go-multierror
// list), so clients that match on it keep working.
func validationError(errs []string) error {
	var list string
	if len(errs) == 1 {
		list = fmt.Sprintf("1 error occurred:\n\t* %s\n\n", errs[0])
	} else {
		list = fmt.Sprintf("%d errors occurred:\n\t* %s\n\n", len(errs), strings.Join(errs, "\n\t* "))
	}
	return fail.Invalidf("error(s) validating supplied role data: %q", list)
}

func (b *Backend) readRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	r, err := loadRole(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	return &engine.Response{Data: map[string]any{
		"credential_type":          r.CredentialType,
		"credential_types":         []string{r.CredentialType},
		"role_arns":                nonNil(r.RoleARNs),
		"policy_arns":              nonNil(r.PolicyARNs),
		"policy_document":          r.PolicyDocument,
		"iam_groups":               nonNil(r.IAMGroups),
		"iam_tags":                 nonNilMap(r.IAMTags),
		"session_tags":             nonNilMap(r.SessionTags),
		"external_id":              r.ExternalID,
		"default_sts_ttl":          int64(r.DefaultSTSTTL / time.Second),
		"max_sts_ttl":              int64(r.MaxSTSTTL / time.Second),
		"user_path":                r.UserPath,
		"permissions_boundary_arn": r.PermissionsBoundaryARN,
		"mfa_serial_number":        r.MFASerialNumber,
	}}, nil
}

func (b *Backend) listRoles(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	keys, err := req.Storage.List(ctx, rolePrefix)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return &engine.Response{Data: map[string]any{"keys": keys}}, nil
}

// deleteRole removes a role; deleting a missing one succeeds, as in Vault.
// Credentials already issued under it stay valid until they expire.
func (b *Backend) deleteRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	return nil, req.Storage.Delete(ctx, rolePrefix+name)
}

func loadRole(ctx context.Context, st engine.Storage, name string) (*role, error) {
	raw, err := st.Get(ctx, rolePrefix+name)
	if err != nil || raw == nil {
		return nil, err
	}
	var r role
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("aws: decoding role %q: %w", name, err)
	}
	return &r, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
