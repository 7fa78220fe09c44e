// Package tag owns tag bindings: key/value tags on projects and workspaces,
// as HCP Terraform has them. A workspace's effective bindings are its
// project's, with the workspace's own replacing a project binding of the
// same key.
package tag

import (
	"context"
	"regexp"
	"sort"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Binding is one tag.
type Binding struct {
	Key   string
	Value string
	// InheritedFrom is the project a workspace's effective binding comes
	// from, "" for the workspace's own.
	InheritedFrom string
}

// Limits as HCP Terraform documents them.
const (
	MaxKeyLen   = 128
	MaxValueLen = 256
	MaxBindings = 10
)

var keyRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// Valid checks a set of bindings: keys of letters, digits and "_.:-", each
// once, values printable UTF-8, within the limits.
func Valid(bs []Binding) error {
	if len(bs) > MaxBindings {
		return fail.Invalidf("at most %d tag bindings are allowed", MaxBindings)
	}
	seen := map[string]bool{}
	for _, b := range bs {
		switch {
		case b.Key == "" || len(b.Key) > MaxKeyLen || !keyRe.MatchString(b.Key):
			return fail.Invalidf("tag key %q must be 1 to %d letters, digits, '_', '.', ':' or '-'", fail.Clip(b.Key), MaxKeyLen)
		case seen[b.Key]:
			return fail.Invalidf("tag key %q is given twice", b.Key)
		case len(b.Value) > MaxValueLen || !utf8.ValidString(b.Value) || hasControl(b.Value):
			return fail.Invalidf("tag %q: the value must be printable UTF-8 of at most %d bytes", b.Key, MaxValueLen)
		}
		seen[b.Key] = true
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Service manages tag bindings. It is safe for concurrent use.
type Service struct {
	base resource.Deps
	db   db
	orgs organization.Directory
	ws   workspace.Directory
}

// New returns a Service.
func New(base resource.Deps, orgs organization.Directory, ws workspace.Directory) *Service {
	return &Service{base: base, db: db{base.DB}, orgs: orgs, ws: ws}
}

func (s *Service) project(ctx context.Context, id, capability string) (organization.Project, error) {
	p, err := s.orgs.Project(ctx, id)
	if err != nil {
		return p, err
	}
	return p, s.base.Authorize(ctx, resource.ProjectPath(p.Organization, p.Name), capability)
}

// Project returns project id's bindings, by key.
func (s *Service) Project(ctx context.Context, id string) ([]Binding, error) {
	if _, err := s.project(ctx, id, access.Read); err != nil {
		return nil, err
	}
	return s.db.bindings(ctx, projectTable, id)
}

// SetProject replaces project id's bindings with bs.
func (s *Service) SetProject(ctx context.Context, id string, bs []Binding) ([]Binding, error) {
	return s.writeProject(ctx, id, bs, false)
}

// AddProject adds bs to project id's bindings, replacing the value of a
// key it has.
func (s *Service) AddProject(ctx context.Context, id string, bs []Binding) ([]Binding, error) {
	return s.writeProject(ctx, id, bs, true)
}

func (s *Service) writeProject(ctx context.Context, id string, bs []Binding, merge bool) ([]Binding, error) {
	p, err := s.project(ctx, id, access.Update)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, projectTable, id, bs, merge, map[string]any{"organization": p.Organization, "project": p.Name, "id": id})
}

// write validates and stores bs for target; merge keeps the keys bs lacks.
// The result, not just bs, is held to the limits.
func (s *Service) write(ctx context.Context, t table, id string, bs []Binding, merge bool, audit map[string]any) ([]Binding, error) {
	if err := Valid(bs); err != nil {
		return nil, err
	}
	if merge {
		old, err := s.db.bindings(ctx, t, id)
		if err != nil {
			return nil, err
		}
		bs = union(old, bs)
		if err := Valid(bs); err != nil {
			return nil, err
		}
	}
	audit["tags"] = keys(bs)
	if err := s.base.Record(ctx, "platform."+t.kind+".tags", audit); err != nil {
		return nil, err
	}
	if err := s.db.replace(ctx, t, id, bs); err != nil {
		return nil, err
	}
	return s.db.bindings(ctx, t, id)
}

// union is old with add on top.
func union(old, add []Binding) []Binding {
	at := map[string]int{}
	out := append([]Binding(nil), old...)
	for i, b := range out {
		at[b.Key] = i
	}
	for _, b := range add {
		if i, ok := at[b.Key]; ok {
			out[i] = b
			continue
		}
		at[b.Key] = len(out)
		out = append(out, b)
	}
	return out
}

// Workspace returns workspace id's own bindings, by key.
func (s *Service) Workspace(ctx context.Context, id string) ([]Binding, error) {
	if _, err := s.ws.For(ctx, id, access.Read); err != nil {
		return nil, err
	}
	return s.db.bindings(ctx, workspaceTable, id)
}

// SetWorkspace replaces workspace id's own bindings with bs.
func (s *Service) SetWorkspace(ctx context.Context, id string, bs []Binding) ([]Binding, error) {
	return s.writeWorkspace(ctx, id, bs, false)
}

// AddWorkspace adds bs to workspace id's own bindings, replacing the value
// of a key it has.
func (s *Service) AddWorkspace(ctx context.Context, id string, bs []Binding) ([]Binding, error) {
	return s.writeWorkspace(ctx, id, bs, true)
}

func (s *Service) writeWorkspace(ctx context.Context, id string, bs []Binding, merge bool) ([]Binding, error) {
	w, err := s.ws.For(ctx, id, access.Update)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, workspaceTable, id, bs, merge, map[string]any{"organization": w.Organization, "workspace": w.Name, "id": id})
}

// EffectiveWorkspace is workspace id's own bindings and those it inherits
// from its project, by key.
func (s *Service) EffectiveWorkspace(ctx context.Context, id string) ([]Binding, error) {
	w, err := s.ws.For(ctx, id, access.Read)
	if err != nil {
		return nil, err
	}
	own, err := s.db.bindings(ctx, workspaceTable, id)
	if err != nil {
		return nil, err
	}
	inherited, err := s.db.bindings(ctx, projectTable, w.ProjectID)
	if err != nil {
		return nil, err
	}
	byKey := map[string]Binding{}
	for _, b := range inherited {
		b.InheritedFrom = w.ProjectID
		byKey[b.Key] = b
	}
	for _, b := range own {
		byKey[b.Key] = b
	}
	out := make([]Binding, 0, len(byKey))
	for _, b := range byKey {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// EffectiveProject is project id's bindings (a project inherits none).
func (s *Service) EffectiveProject(ctx context.Context, id string) ([]Binding, error) {
	return s.Project(ctx, id)
}

func keys(bs []Binding) []string {
	out := make([]string, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.Key)
	}
	return out
}

// db is all of the domain's SQL.
type db struct{ *store.DB }

type table struct{ kind, name, column string }

var (
	projectTable   = table{"project", "project_tag_bindings", "project_id"}
	workspaceTable = table{"workspace", "workspace_tag_bindings", "workspace_id"}
)

func (d db) bindings(ctx context.Context, t table, id string) ([]Binding, error) {
	rows, err := d.Query(ctx, `SELECT key, value FROM `+t.name+` WHERE `+t.column+` = ? ORDER BY key`, id)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, func(row interface{ Scan(...any) error }) (Binding, error) {
		var b Binding
		err := row.Scan(&b.Key, &b.Value)
		return b, err
	})
}

func (d db) replace(ctx context.Context, t table, id string, bs []Binding) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM `+t.name+` WHERE `+t.column+` = ?`, id); err != nil {
			return err
		}
		for _, b := range bs {
			if _, err := tx.Exec(ctx, `INSERT INTO `+t.name+` (`+t.column+`, key, value) VALUES (?, ?, ?)`, id, b.Key, b.Value); err != nil {
				return err
			}
		}
		return nil
	})
}
