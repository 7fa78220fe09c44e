package guard

import (
	"context"
	"encoding/json"

	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// db is all of the domain's SQL.
type db struct{ *store.DB }

// lists is an allowlist's stored body.
type lists struct {
	Audiences      []string `json:"audiences,omitempty"`
	VaultAddresses []string `json:"vault_addresses,omitempty"`
	VaultAuthPaths []string `json:"vault_auth_paths,omitempty"`
	VaultRoles     []string `json:"vault_roles,omitempty"`
	AWSRoleARNs    []string `json:"aws_role_arns,omitempty"`
}

// get returns the allowlist of scope (an organization's or a project's
// id); one never written is empty.
func (d db) get(ctx context.Context, scope string) (Allowlist, error) {
	var body, by string
	var at int64
	err := d.QueryRow(ctx, `SELECT body, updated_at, updated_by FROM credential_guards WHERE scope_id = ?`, scope).Scan(&body, &at, &by)
	if store.IsNotFound(err) {
		return Allowlist{}, nil
	}
	if err != nil {
		return Allowlist{}, err
	}
	var l lists
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		return Allowlist{}, err
	}
	a := Allowlist{Audiences: l.Audiences, VaultAddresses: l.VaultAddresses, VaultAuthPaths: l.VaultAuthPaths,
		VaultRoles: l.VaultRoles, AWSRoleARNs: l.AWSRoleARNs, UpdatedAt: store.Time(at)}
	if err := json.Unmarshal([]byte(by), &a.UpdatedBy); err != nil {
		return Allowlist{}, err
	}
	return a, nil
}

// put replaces the allowlist of scope.
func (d db) put(ctx context.Context, scope, orgID string, projectID *string, a Allowlist) error {
	body, err := json.Marshal(lists{a.Audiences, a.VaultAddresses, a.VaultAuthPaths, a.VaultRoles, a.AWSRoleARNs})
	if err != nil {
		return err
	}
	by, err := json.Marshal(a.UpdatedBy)
	if err != nil {
		return err
	}
	_, err = d.Exec(ctx, `INSERT INTO credential_guards (scope_id, org_id, project_id, body, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (scope_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		scope, orgID, projectID, string(body), store.Nanos(a.UpdatedAt), string(by))
	return resource.NotFound(err, "scope %q not found", scope)
}
