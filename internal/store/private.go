package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// privateMode is the mode of a SQLite database and its -wal and -shm files:
// they hold sealed secrets, token hashes and the audit log, so only the
// server's own user may read them.
const privateMode = 0o600

// makePrivate creates the database file owner-only before SQLite opens it,
// and tightens an existing one (and its -wal and -shm, which a server of an
// earlier version may have left 0644). SQLite creates -wal and -shm with
// the database file's own mode, so creating that one 0600 covers all
// three. The mode is set with chmod, not left to the umask, which can only
// take bits away from SQLite's default 0644.
func makePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, privateMode)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	err = f.Chmod(privateMode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: make %s private: %w", path, err)
	}
	for _, side := range []string{path + "-wal", path + "-shm"} {
		if err := os.Chmod(side, privateMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: make %s private: %w", side, err)
		}
	}
	return nil
}
