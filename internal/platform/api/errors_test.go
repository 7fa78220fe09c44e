package api_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGoTFEErrors checks that bad input and missing things reach go-tfe as
// the errors HCP Terraform would give.
func TestGoTFEErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("a@acme.test")}); err != nil {
			t.Fatal(err)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		other, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("other"), Email: tfe.String("o@o.test")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("k"), Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
			t.Fatal(err)
		}
		long := strings.Repeat("a", 91)
		cases := []struct {
			name string
			call func() error
			want string // substring of the error; "" with wantErr for sentinels
			is   error
		}{
			{"org name with dot", func() error {
				_, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("bad.name"), Email: tfe.String("a@b.c")})
				return err
			}, "may hold only letters", nil},
			{"org name too long", func() error {
				_, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String(long), Email: tfe.String("a@b.c")})
				return err
			}, "longer than 90", nil},
			{"org email invalid", func() error {
				_, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("ok"), Email: tfe.String("nope")})
				return err
			}, "email", nil},
			{"duplicate org", func() error {
				_, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("a@b.c")})
				return err
			}, `organization "acme" already exists`, nil},
			{"duplicate workspace", func() error {
				_, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
				return err
			}, `workspace "app" already exists`, nil},
			{"workspace in unknown org", func() error {
				_, err := c.Workspaces.Create(ctx, "nope", tfe.WorkspaceCreateOptions{Name: tfe.String("x")})
				return err
			}, "", tfe.ErrResourceNotFound},
			{"workspace name with colon", func() error {
				_, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("a:project:b")})
				return err
			}, "may hold only letters", nil},
			{"workspace execution mode unknown", func() error {
				_, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("x"), ExecutionMode: tfe.String("cloud")})
				return err
			}, "execution mode", nil},
			{"workspace working directory escapes", func() error {
				_, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("x"), WorkingDirectory: tfe.String("a/../../etc")})
				return err
			}, "working directory", nil},
			{"workspace in another org's project", func() error {
				_, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("x"), Project: &tfe.Project{ID: other.DefaultProject.ID}})
				return err
			}, "is not a project of organization", nil},
			{"unknown workspace id", func() error {
				_, err := c.Workspaces.ReadByID(ctx, "ws-doesnotexist0000")
				return err
			}, "", tfe.ErrResourceNotFound},
			{"malformed workspace id", func() error {
				_, err := c.Workspaces.ReadByID(ctx, "not-an-id!")
				return err
			}, "", tfe.ErrResourceNotFound},
			{"unknown project", func() error {
				_, err := c.Projects.Read(ctx, "prj-nothere")
				return err
			}, "", tfe.ErrResourceNotFound},
			{"bad env var key", func() error {
				_, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("A-B"), Category: tfe.Category(tfe.CategoryEnv)})
				return err
			}, "environment variable key", nil},
			{"bad category", func() error {
				_, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("a"), Category: tfe.Category("policy-set")})
				return err
			}, "category must be", nil},
			{"duplicate variable", func() error {
				_, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("k"), Category: tfe.Category(tfe.CategoryEnv)})
				return err
			}, `env variable "k" already exists`, nil},
			{"variable of unknown workspace", func() error {
				_, err := c.Variables.Create(ctx, "ws-nothere", tfe.VariableCreateOptions{Key: tfe.String("k"), Category: tfe.Category(tfe.CategoryEnv)})
				return err
			}, "", tfe.ErrResourceNotFound},
			{"unknown variable", func() error {
				_, err := c.Variables.Read(ctx, ws.ID, "var-nothere")
				return err
			}, "", tfe.ErrResourceNotFound},
		}
		for _, tc := range cases {
			err := tc.call()
			switch {
			case err == nil:
				t.Errorf("%s: no error", tc.name)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.is)
			case tc.is == nil && !strings.Contains(err.Error(), tc.want):
				t.Errorf("%s: error %q, want it to contain %q", tc.name, err, tc.want)
			}
		}
	})
}

// TestAuthorization: no caller is 401; a caller the authorizer denies gets
// 404 for everything, exactly as for things that do not exist.
func TestAuthorization(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)))
	ctx := ctxT(t)
	root := e.client(t, "root-token")
	if _, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("a@acme.test")}); err != nil {
		t.Fatal(err)
	}
	ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := root.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("k"), Value: tfe.String("v"), Category: tfe.Category(tfe.CategoryEnv)})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(c *tfe.Client) error{
		"list orgs": func(c *tfe.Client) error { _, err := c.Organizations.List(ctx, nil); return err },
		"create org": func(c *tfe.Client) error {
			_, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("x"), Email: tfe.String("a@b.c")})
			return err
		},
		"read org":   func(c *tfe.Client) error { _, err := c.Organizations.Read(ctx, "acme"); return err },
		"delete org": func(c *tfe.Client) error { return c.Organizations.Delete(ctx, "acme") },
		"list prj":   func(c *tfe.Client) error { _, err := c.Projects.List(ctx, "acme", nil); return err },
		"create ws": func(c *tfe.Client) error {
			_, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("x")})
			return err
		},
		"read ws": func(c *tfe.Client) error { _, err := c.Workspaces.ReadByID(ctx, ws.ID); return err },
		"update ws": func(c *tfe.Client) error {
			_, err := c.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{AutoApply: tfe.Bool(true)})
			return err
		},
		"delete ws": func(c *tfe.Client) error { return c.Workspaces.DeleteByID(ctx, ws.ID) },
		"list vars": func(c *tfe.Client) error { _, err := c.Variables.List(ctx, ws.ID, nil); return err },
		"read var":  func(c *tfe.Client) error { _, err := c.Variables.Read(ctx, ws.ID, v.ID); return err },
		"update var": func(c *tfe.Client) error {
			_, err := c.Variables.Update(ctx, ws.ID, v.ID, tfe.VariableUpdateOptions{Value: tfe.String("x")})
			return err
		},
		"delete var": func(c *tfe.Client) error { return c.Variables.Delete(ctx, ws.ID, v.ID) },
		"create var": func(c *tfe.Client) error {
			_, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("n"), Category: tfe.Category(tfe.CategoryEnv)})
			return err
		},
	}
	anon, user := e.client(t, "unknown-token"), e.client(t, "user-token")
	for name, call := range calls {
		if err := call(anon); !errors.Is(err, tfe.ErrUnauthorized) {
			t.Errorf("anonymous %s: %v, want ErrUnauthorized", name, err)
		}
		if err := call(user); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("denied %s: %v, want ErrResourceNotFound", name, err)
		}
	}
	// Nothing the denied caller tried took effect.
	if got, err := root.Variables.Read(ctx, ws.ID, v.ID); err != nil || got.Value != "v" {
		t.Errorf("variable after denied writes = %+v, %v", got, err)
	}
	if l, err := root.Workspaces.List(ctx, "acme", nil); err != nil || len(l.Items) != 1 {
		t.Errorf("workspaces after denied writes = %+v, %v", l, err)
	}

	// A denial's body is the body of a missing resource: nothing tells them apart.
	denied, missing := rawBody(t, e.url+"/api/v2/workspaces/"+ws.ID, "user-token"), rawBody(t, e.url+"/api/v2/workspaces/ws-nothere", "root-token")
	if !bytes.Equal(denied, missing) {
		t.Errorf("denied body %s differs from missing body %s", denied, missing)
	}
}

func rawBody(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s = %d, want 404", url, resp.StatusCode)
	}
	return b.Bytes()
}

// TestSensitiveValueSealedAtRest looks for a sensitive value in every byte
// SQLite wrote (database, WAL, shared memory): it must not be there.
func TestSensitiveValueSealedAtRest(t *testing.T) {
	path := storetest.SQLiteURL(t)
	e := newEnv(t, storetest.Open(t, path))
	ctx := ctxT(t)
	c := e.client(t, "root-token")
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("a@acme.test")}); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	const plain = "marker-not-secret-e5d1"
	const value = "aws-secret-0f9e8d7c6b5a4938"
	for key, v := range map[string]struct {
		value     string
		sensitive bool
	}{"plain": {plain, false}, "secret": {value, true}} {
		if _, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{
			Key: tfe.String(key), Value: tfe.String(v.value), Category: tfe.Category(tfe.CategoryTerraform), Sensitive: tfe.Bool(v.sensitive),
		}); err != nil {
			t.Fatal(err)
		}
	}
	var all []byte
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(files) == 0 || len(all) == 0 {
		t.Fatalf("no database files at %s", path)
	}
	if bytes.Contains(all, []byte("acme")) == false {
		t.Fatal("the scan does not see plain rows; it would miss a plain value too")
	}
	for _, s := range []string{value, plain} {
		if bytes.Contains(all, []byte(s)) {
			t.Errorf("value %q is stored in plain text", s)
		}
	}
}

// TestTrailingDataRefused: a body holding anything after its JSON:API
// document is malformed (400) and creates nothing, as a body that is not
// JSON at all is.
func TestTrailingDataRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		doc := `{"data":{"type":"workspaces","attributes":{"name":"app"}}}`
		for _, body := range []string{doc + `0`, doc + `{}`, doc + `x`} {
			code, b := sendRaw(t, "POST", e.url+"/api/v2/organizations/acme/workspaces", "root-token", body)
			if code != http.StatusBadRequest || !strings.Contains(b, "not a valid JSON:API document") {
				t.Errorf("body %q: %d %s, want 400 naming the malformed document", body, code, b)
			}
		}
		if l, err := c.Workspaces.List(ctx, "acme", nil); err != nil || len(l.Items) != 0 {
			t.Fatalf("workspaces after refused bodies = %+v, %v", l, err)
		}
		// The same document alone is accepted: the refusal is the trailing data's.
		if code, b := sendRaw(t, "POST", e.url+"/api/v2/organizations/acme/workspaces", "root-token", doc); code != http.StatusCreated {
			t.Fatalf("the document alone: %d %s", code, b)
		}
	})
}
