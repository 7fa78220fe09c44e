package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// tgz is a configuration archive of one main.tf of body, then after
// (inside the gzip stream, after the tar's end).
func tgz(t *testing.T, body, after []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "main.tf", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	zw.Write(after)
	zw.Close()
	return buf.Bytes()
}

// TestConfigurationQuota: a workspace past its quota loses its oldest
// archives that no unfinished run needs (status archived), never its
// latest; when that is not enough the upload is refused with a 409 and
// nothing is stored. Zero bombs and data after the tar are refused (422).
func TestConfigurationQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
		if err != nil {
			t.Fatal(err)
		}
		e.svc.ConfigurationVersions.SetQuota(configversion.Quota{Versions: 3, Bytes: 1 << 20})
		upload := func(archive []byte) (*tfe.ConfigurationVersion, error) {
			t.Helper()
			cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
			if err != nil {
				t.Fatal(err)
			}
			return cv, c.ConfigurationVersions.UploadTarGzip(ctx, cv.UploadURL, bytes.NewReader(archive))
		}
		status := func(cv *tfe.ConfigurationVersion) tfe.ConfigurationStatus {
			t.Helper()
			got, err := c.ConfigurationVersions.Read(ctx, cv.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Status
		}
		var cvs []*tfe.ConfigurationVersion
		for i := range 3 {
			cv, err := upload(tgz(t, []byte(strings.Repeat("#", i+1)), nil))
			if err != nil {
				t.Fatal(err)
			}
			cvs = append(cvs, cv)
		}
		// The oldest is needed by an unfinished run.
		if _, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: cvs[0]}); err != nil {
			t.Fatal(err)
		}
		cv4, err := upload(tgz(t, []byte("four"), nil))
		if err != nil {
			t.Fatalf("fourth upload: %v", err)
		}
		for i, want := range []tfe.ConfigurationStatus{tfe.ConfigurationUploaded, tfe.ConfigurationArchived, tfe.ConfigurationUploaded} {
			if got := status(cvs[i]); got != want {
				t.Errorf("version %d is %s, want %s", i+1, got, want)
			}
		}
		if got := status(cv4); got != tfe.ConfigurationUploaded {
			t.Errorf("fourth version is %s", got)
		}

		// 600 KB that does not compress: pruning the third would leave the
		// first (needed) and the fourth (latest), and still too little
		// room, so nothing is pruned and the upload is refused.
		e.svc.ConfigurationVersions.SetQuota(configversion.Quota{Versions: 100, Bytes: 600 << 10})
		noise := make([]byte, 600<<10)
		rand.Read(noise)
		big, err := upload(tgz(t, noise, nil))
		if err == nil || !strings.Contains(err.Error(), "409") && !strings.Contains(strings.ToLower(err.Error()), "conflict") {
			t.Fatalf("upload past the quota: %v", err)
		}
		if got := status(big); got != tfe.ConfigurationPending {
			t.Errorf("refused version is %s, want pending", got)
		}
		for _, cv := range []*tfe.ConfigurationVersion{cvs[0], cvs[2], cv4} {
			if got := status(cv); got != tfe.ConfigurationUploaded {
				t.Errorf("version %s is %s after a refused upload", cv.ID, got)
			}
		}

		for name, a := range map[string][]byte{
			"zero bomb":          tgz(t, make([]byte, 100<<20), nil),
			"data after the tar": tgz(t, []byte("x"), []byte("smuggled")),
		} {
			cv, err := upload(a)
			if err == nil || !strings.Contains(err.Error(), "422") {
				t.Errorf("%s: %v, want 422", name, err)
			}
			if got := status(cv); got != tfe.ConfigurationPending {
				t.Errorf("%s: version is %s", name, got)
			}
		}
	})
}
