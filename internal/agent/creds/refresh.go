package creds

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/runcred/runcred/internal/secret"
)

// ExpiringMinter is a Minter that also says when each token expires. With
// one, the token files of a phase (AWS, GCP, Azure) are rewritten with a
// fresh token before the old one expires, for as long as the phase runs:
// the server mints short-lived tokens, so a token copied out of a run is
// useless soon after, while a long phase keeps working. The agent's job
// client is one.
type ExpiringMinter interface {
	MintExpiring(ctx context.Context, audience string) (token secret.Value, expires time.Time, err error)
}

// tokenFile is a token file the refresher keeps fresh.
type tokenFile struct {
	path, audience, by string
	expires, due       time.Time
}

// minted records a new token's expiry; the next one is fetched two thirds
// of the way there, leaving a third of the lifetime for retries.
func (f *tokenFile) minted(now, expires time.Time) {
	f.expires = expires
	f.due = now.Add(max(expires.Sub(now)*2/3, time.Second))
}

// refresh mints the file's next token and puts it in place of the old
// one. The new file is written beside the old and renamed over it, so a
// reader sees one token or the other, never half of one; nothing is
// written once the Result is closed.
func (r *Result) refresh(ctx context.Context, f *tokenFile, now time.Time) error {
	b := &builder{cfg: Config{Minter: r.minter}, res: &Result{}}
	tok, expires, err := b.mint(ctx, f.audience, f.by)
	if err != nil {
		return err
	}
	if expires.IsZero() {
		return fmt.Errorf("refreshing the token of %s: the server did not say when it expires", f.by)
	}
	if r.onSecret != nil {
		r.onSecret(tok) // before the token can reach any output
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.Secrets = append(r.Secrets, tok)
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("refreshing the token of %s: %w", f.by, err)
	}
	_, err = tmp.Write(tok.Reveal())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("refreshing the token of %s: %w", f.by, err)
	}
	f.minted(now, expires)
	return nil
}
