package api_test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

const outputsState = `{"version":4,"terraform_version":"1.6.3","serial":3,"lineage":"lin-1",
"outputs":{"region":{"value":"eu-west-1","type":"string"},"db_password":{"value":"hunter2","type":"string","sensitive":true},
"ports":{"value":[80,443],"type":["list","number"]}},
"resources":[{"mode":"managed","type":"terraform_data","name":"a","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[{"attributes":{}},{"attributes":{}}]},
{"mode":"data","type":"terraform_data","name":"d","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[{"attributes":{}}]}]}`

func stateOpts(s string) tfe.StateVersionCreateOptions {
	sum := md5.Sum([]byte(s))
	return tfe.StateVersionCreateOptions{Serial: tfe.Int64(3), Lineage: tfe.String("lin-1"), MD5: tfe.String(hex.EncodeToString(sum[:])),
		State: tfe.String(base64.StdEncoding.EncodeToString([]byte(s)))}
}

// TestGoTFEStateOutputs: state uploaded by the lock holder (the cloud
// backend of a local workspace) is stored; its outputs are read with the
// workspace (?include=outputs) and one by one, the resource count counts
// managed instances, and a workspace that manages resources is not
// safe-deleted. Upload without the lock, with a wrong md5 or serial stores
// nothing.
func TestGoTFEStateOutputs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net"), ExecutionMode: tfe.String("local")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.StateVersions.Create(ctx, ws.ID, stateOpts(outputsState)); err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("upload without the lock: %v", err)
		}
		if _, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); err != nil {
			t.Fatal(err)
		}
		bad := stateOpts(outputsState)
		bad.MD5 = tfe.String("00000000000000000000000000000000")
		if _, err := c.StateVersions.Create(ctx, ws.ID, bad); err == nil || !strings.Contains(err.Error(), "md5") {
			t.Errorf("wrong md5: %v", err)
		}
		bad = stateOpts(outputsState)
		bad.Serial = tfe.Int64(9)
		if _, err := c.StateVersions.Create(ctx, ws.ID, bad); err == nil || !strings.Contains(err.Error(), "serial") {
			t.Errorf("wrong serial: %v", err)
		}
		if _, err := c.StateVersions.ReadCurrent(ctx, ws.ID); err != tfe.ErrResourceNotFound {
			t.Fatalf("a refused upload stored state: %v", err)
		}
		sv, err := c.StateVersions.Create(ctx, ws.ID, stateOpts(outputsState))
		if err != nil || sv.Serial != 3 {
			t.Fatalf("upload: %+v, %v", sv, err)
		}
		if _, err := c.Workspaces.Unlock(ctx, ws.ID); err != nil {
			t.Fatal(err)
		}

		r, err := c.Workspaces.ReadWithOptions(ctx, "acme", "net", &tfe.WorkspaceReadOptions{Include: []tfe.WSIncludeOpt{tfe.WSOutputs}})
		if err != nil {
			t.Fatal(err)
		}
		if r.ResourceCount != 2 || r.Actions == nil || r.Actions.IsDestroyable {
			t.Errorf("resource count %d, actions %+v", r.ResourceCount, r.Actions)
		}
		got := map[string]*tfe.WorkspaceOutputs{}
		for _, o := range r.Outputs {
			got[o.Name] = o
		}
		if len(got) != 3 || got["region"].Value != "eu-west-1" || got["region"].Sensitive || !got["db_password"].Sensitive {
			t.Fatalf("outputs = %+v", r.Outputs)
		}
		if ports, ok := got["ports"].Value.([]any); !ok || len(ports) != 2 {
			t.Errorf("ports = %#v", got["ports"].Value)
		}
		secret, err := c.StateVersionOutputs.Read(ctx, got["db_password"].ID)
		if err != nil || secret.Value != "hunter2" || secret.Name != "db_password" {
			t.Fatalf("sensitive output for a caller who may read state: %+v, %v", secret, err)
		}
		current, err := c.StateVersionOutputs.ReadCurrent(ctx, ws.ID)
		if err != nil || len(current.Items) != 3 {
			t.Fatalf("current outputs = %+v, %v", current, err)
		}
		if _, err := c.StateVersionOutputs.Read(ctx, "wsout-bm90aGVyZQ"); err != tfe.ErrResourceNotFound {
			t.Errorf("unknown output: %v", err)
		}
		if _, err := e.client(t, "user-token").StateVersionOutputs.Read(ctx, got["db_password"].ID); err != tfe.ErrResourceNotFound {
			t.Errorf("output for a caller who may not read the workspace: %v", err)
		}
		if err := c.Workspaces.SafeDeleteByID(ctx, ws.ID); err == nil || !strings.Contains(err.Error(), "still managing resources") {
			t.Errorf("safe delete of a workspace that manages resources: %v", err)
		}
	})
}
