package run_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/configversion"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestSignedURLs: a signed URL is the credential for a configuration
// upload, a log read and a state download, so each must grant exactly one
// purpose on one object for SignedURLLifetime and nothing once altered.
func TestSignedURLs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		archive := tarGz(t, map[string]string{"main.tf": mainTF})
		pending := func() configversion.Version {
			cv, err := f.Svc.ConfigurationVersions.Create(ctx, f.Target.ID, configversion.Options{AutoQueueRuns: new(bool)})
			if err != nil {
				t.Fatal(err)
			}
			return cv
		}
		// signer signs as the service does, with its seal and clock, so a
		// token may name any purpose and object.
		signer := resource.Deps{Seal: f.Config.Seal, Now: f.Clock.Now}
		sign := func(purpose, id string) string {
			tok, err := signer.Sign(purpose, id)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		gone := func(what string, err error) {
			t.Helper()
			if !fail.Is(err, fail.NotFound) {
				t.Errorf("%s: %v, want not found", what, err)
			}
		}

		// Two runs, on two workspaces; only the first has a log.
		uploaded(t, f, f.Target, false)
		uploaded(t, f, f.Mgr, false)
		a, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		job := claim(t, f, jobapi.Plan, a.ID)
		if err := f.Svc.Runs.AppendLog(ctx, job.PhaseID, []byte("log of run a")); err != nil {
			t.Fatal(err)
		}
		b, err := f.Svc.Runs.Create(ctx, f.Mgr.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		logOf := func(r run.Run) string {
			pv, err := f.Svc.Runs.PlanOrApply(ctx, r.PlanID)
			if err != nil {
				t.Fatal(err)
			}
			return pv.LogToken
		}
		aLog, bLog := logOf(a), logOf(b)
		if c, err := f.Svc.Runs.ReadSigned(ctx, aLog); err != nil || string(c.Data) != "log of run a" {
			t.Fatalf("run a's log URL = %q, %v", c.Data, err)
		}
		if c, err := f.Svc.Runs.ReadSigned(ctx, bLog); err != nil || len(c.Data) != 0 {
			t.Fatalf("run b's log URL = %q, %v; want b's empty log", c.Data, err)
		}

		// Purpose: a token for one kind of object opens no other kind,
		// even when it names an object of that kind.
		cv := pending()
		gone("a log URL used to upload", f.Svc.ConfigurationVersions.Upload(ctx, aLog, archive))
		gone("a log token naming the version, used to upload", f.Svc.ConfigurationVersions.Upload(ctx, sign(resource.SignLog, cv.ID), archive))
		gone("a state token naming the version, used to upload", f.Svc.ConfigurationVersions.Upload(ctx, sign(resource.SignState, cv.ID), archive))
		_, err = f.Svc.Runs.ReadSigned(ctx, cv.UploadToken)
		gone("an upload URL used to read", err)
		_, err = f.Svc.Runs.ReadSigned(ctx, sign(resource.SignUpload, a.PlanID))
		gone("an upload token naming a plan, used to read its log", err)
		_, err = f.Svc.Runs.ReadSigned(ctx, sign("other", a.PlanID))
		gone("a token of an unknown purpose", err)

		// Tampering: any changed byte of the sealed grant is refused.
		raw, err := base64.RawURLEncoding.DecodeString(aLog)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, len(raw) / 2, len(raw) - 1} {
			altered := append([]byte(nil), raw...)
			altered[i] ^= 1
			_, err := f.Svc.Runs.ReadSigned(ctx, base64.RawURLEncoding.EncodeToString(altered))
			gone("a log URL with a changed byte", err)
		}
		// A value the same seal encrypted for another use is no grant.
		other, err := f.Config.Seal.Encrypt([]byte(resource.SignLog+"\n"+a.PlanID+"\n"+"9999999999"), "platform/variable")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Svc.Runs.ReadSigned(ctx, base64.RawURLEncoding.EncodeToString(other))
		gone("a value sealed for another use", err)
		if cur, err := f.Svc.ConfigurationVersions.Version(ctx, cv.ID); err != nil || cur.Status != configversion.Pending {
			t.Fatalf("after the refused uploads the version = %+v, %v; want pending", cur, err)
		}

		// Expiry: the URLs work for SignedURLLifetime, and not a second more.
		f.Clock.Add(resource.SignedURLLifetime)
		if _, err := f.Svc.Runs.ReadSigned(ctx, aLog); err != nil {
			t.Fatalf("a log URL at the end of its lifetime: %v", err)
		}
		f.Clock.Add(time.Second)
		_, err = f.Svc.Runs.ReadSigned(ctx, aLog)
		gone("an expired log URL", err)
		gone("an expired upload URL", f.Svc.ConfigurationVersions.Upload(ctx, cv.UploadToken, archive))
		// A fresh URL for the same version still uploads.
		if err := f.Svc.ConfigurationVersions.Upload(ctx, sign(resource.SignUpload, cv.ID), archive); err != nil {
			t.Fatalf("a fresh upload URL: %v", err)
		}
	})
}
