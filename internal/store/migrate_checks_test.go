package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// A database an older runcred left with workspace names that differ only
// by case is not migrated: the error lists each clashing group, and only
// those; once they are renamed, the migration runs, and from then on the
// database itself refuses such a name.
func TestMigrateWorkspaceNameClashes(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := b.NewURL(t)
			old, err := store.OpenAt(ctx, url, 9)
			if err != nil {
				t.Fatal(err)
			}
			exec := func(db *store.DB, q string, args ...any) error {
				_, err := db.Exec(ctx, q, args...)
				return err
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, org := range []string{"acme", "other"} {
				must(exec(old, `INSERT INTO organizations (id, name, email, created_at) VALUES (?, ?, '', 0)`, "org-"+org, org))
				must(exec(old, `INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES (?, ?, 'Default Project', '', 1, 0)`, "prj-"+org, "org-"+org))
			}
			ws := func(db *store.DB, id, org, name string) error {
				return exec(db, `INSERT INTO workspaces (id, org_id, project_id, name, description, auto_apply, execution_mode,
					working_directory, terraform_version, agent_pool_id, created_at, updated_at) VALUES (?, ?, ?, ?, '', 0, 'agent', '', '', '', 0, 0)`,
					id, "org-"+org, "prj-"+org, name)
			}
			for i, w := range [][2]string{{"acme", "WSA"}, {"acme", "wsa"}, {"acme", "wsA"}, {"acme", "web"}, {"acme", "Net"}, {"acme", "net"}, {"other", "wsa"}, {"other", "web"}} {
				must(ws(old, "ws-"+string(rune('a'+i)), w[0], w[1]))
			}
			old.Close()

			_, err = store.Open(ctx, url)
			if err == nil {
				t.Fatal("migrated a database with clashing workspace names")
			}
			msg := err.Error()
			for _, want := range []string{`organization "acme": "Net", "net"`, `organization "acme": "WSA", "wsA", "wsa"`, "unique ignoring case"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not say %s: %s", want, msg)
				}
			}
			for _, not := range []string{"other", `"web"`} {
				if strings.Contains(msg, not) {
					t.Errorf("error names %s, which does not clash: %s", not, msg)
				}
			}

			old, err = store.OpenAt(ctx, url, 9)
			if err != nil {
				t.Fatal(err)
			}
			must(exec(old, `UPDATE workspaces SET name = 'wsa-2' WHERE name = 'wsA'`))
			must(exec(old, `UPDATE workspaces SET name = 'wsa-3' WHERE name = 'WSA'`))
			must(exec(old, `DELETE FROM workspaces WHERE name = 'Net'`))
			old.Close()
			db := storetest.Open(t, url)
			if err := ws(db, "ws-z", "acme", "WEB"); !store.IsConflict(err) {
				t.Errorf("WEB beside web: %v, want a conflict", err)
			}
			if err := ws(db, "ws-y", "other", "NET"); err != nil {
				t.Errorf("NET in another organization: %v", err)
			}
		})
	}
}
