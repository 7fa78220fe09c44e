package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/runcred/runcred/internal/peers/tools"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/peers/minio"
)

// isoPolicy lets a web-identity principal write only under a prefix equal
// to its token's sub: organization, project, workspace and phase. Reading
// is allowed everywhere, so an intruder's probe gets as far as the write
// (a refused read would stop it at a HEAD request, whose 403 says nothing
// about writes).
const isoPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::iso"]},
 {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::iso/*"]},
 {"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::iso/${jwt:sub}/*"]}]}`

func sub(ws, phase string) string {
	return "organization:demo:project:Default Project:workspace:" + ws + ":run_phase:" + phase
}

// TestIsolation: 20 runs over 5 workspaces at once, each phase with AWS
// direct credentials from MinIO. Each phase writes an object with its own
// STS credentials under a key MinIO allows only to the principal whose sub
// names that workspace and phase; afterwards every run has exactly its two
// objects, under its own workspace, and nothing under another's. One
// workspace also tries another's prefix, and is refused.
func TestIsolation(t *testing.T) {
	bin, _ := tools.OpenTofu(t)
	probe := probeHook(bin, `"organization:demo:project:Default Project:workspace:${TFC_WORKSPACE_NAME}:run_phase:${PROBE_PHASE}/${TFC_RUN_ID}"`)
	w := newWorld(t, map[string]string{"terraform-pre-plan": strings.ReplaceAll(probe, "${PROBE_PHASE}", "plan"),
		"terraform-pre-apply": strings.ReplaceAll(probe, "${PROBE_PHASE}", "apply")}, func(c *agent.Config) { c.Concurrency = 5 })
	ctx := ctxT(t)
	m := minio.Start(t, minio.Options{
		OpenID:   []minio.OpenID{{ConfigURL: w.srv.D.PublicURL() + "/.well-known/openid-configuration", ClientID: "aws.workload.identity", RolePolicy: "iso"}},
		Policies: map[string]string{"iso": isoPolicy}, Buckets: []string{"iso"},
	})
	const workspaces, perWorkspace = 5, 4
	var all []*tfe.Run
	wsOf := map[string]string{}
	for i := range workspaces {
		name := fmt.Sprintf("iso%d", i)
		vars := map[string]string{"env:TFC_AWS_PROVIDER_AUTH": "true", "env:TFC_AWS_RUN_ROLE_ARN": m.RoleARNs[""],
			"env:PROBE_MINIO": m.URL, "env:PROBE_BUCKET": "iso"}
		if i == 0 {
			vars["env:PROBE_OTHER"] = sub("iso1", "plan") + "/intruder"
		}
		ws := w.workspace(t, name, true, vars)
		w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" { input = timestamp() }`})
		for range perWorkspace {
			r := w.start(t, ws)
			all = append(all, r)
			wsOf[r.ID] = name
		}
	}
	var wg sync.WaitGroup
	logs := make([]string, len(all))
	errs := make([]error, len(all))
	for i, r := range all {
		wg.Go(func() {
			r, err := w.await(t, r.ID, tfe.RunApplied)
			if err != nil {
				errs[i] = err
				return
			}
			logs[i] = w.logs(t, r)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	keys := listKeys(ctx, t, m, "iso")
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
	}
	for i, r := range all {
		ws := wsOf[r.ID]
		for _, phase := range []string{"plan", "apply"} {
			if !strings.Contains(logs[i], "PROBE own "+phase+": WRITE ALLOWED") {
				t.Errorf("run %s (%s) %s could not write under its own sub:\n%s", r.ID, ws, phase, logs[i])
			}
			if !seen[sub(ws, phase)+"/"+r.ID+"/"] && !seen[sub(ws, phase)+"/"+r.ID] {
				t.Errorf("no object of run %s's %s under %s", r.ID, phase, sub(ws, phase))
			}
		}
		// The intruder's writes fail for the one reason that counts: S3
		// refused them. Any other failure (a probe that could not reach
		// MinIO, a broken backend block) proves nothing.
		tries := 0
		if ws == "iso0" {
			tries = 2
			for _, phase := range []string{"plan", "apply"} {
				if !strings.Contains(logs[i], "PROBE other "+phase+": WRITE DENIED AccessDenied") {
					t.Errorf("run %s's %s was not refused (AccessDenied) a write under another workspace's prefix:\n%s", r.ID, phase, logs[i])
				}
			}
		}
		if n := strings.Count(logs[i], "PROBE other"); n != tries {
			t.Errorf("run %s tried another workspace's prefix %d times, want %d:\n%s", r.ID, n, tries, logs[i])
		}
	}
	// Every object is a run's own: its key's workspace is the run's.
	for _, k := range keys {
		prefix, runID, _ := strings.Cut(strings.TrimSuffix(k, "/"), "/")
		ws, ok := wsOf[strings.TrimSuffix(runID, "/")]
		if !ok || (prefix != sub(ws, "plan") && prefix != sub(ws, "apply")) {
			t.Errorf("object %q is not under its run's own workspace", k)
		}
	}
	if len(keys) != 2*len(all) {
		t.Errorf("%d objects for %d runs; want two per run: %q", len(keys), len(all), keys)
	}
}

func listKeys(ctx context.Context, t *testing.T, m *minio.Server, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(m.Admin(), &s3.ListObjectsV2Input{Bucket: awssdk.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}
