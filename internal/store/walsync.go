package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// walSync makes SQLite commits durable in groups. A durable transaction
// commits like any other (synchronous=NORMAL: its frames are written to the
// write-ahead log, not yet fsynced) and then waits here for an fsync of the
// log that began after its commit. That fsync runs outside the write lock,
// so the next transactions commit while it is under way, and one fsync
// vouches for every commit before it: the group commit PostgreSQL does for
// its own commits.
//
// This is what synchronous=FULL does inside the commit: fsync the log after
// the commit's frames are written. A checkpoint (which copies the log into
// the database file and may then rewind the log) fsyncs the log first and
// the database file after, even under NORMAL, so a commit a checkpoint took
// along is on disk whether or not its own fsync came yet.
//
// An fsync that fails is final: Linux may forget the failure and drop the
// pages it could not write, so a later fsync that succeeds proves nothing
// about earlier commits. Every durable transaction fails from then on, until
// the server restarts (as PostgreSQL panics on a failed fsync).
type walSync struct {
	path string               // the database's -wal file
	sync func(*os.File) error // (*os.File).Sync; tests count and fail it

	mu        sync.Mutex
	cond      *sync.Cond
	committed uint64 // durable commits that returned, in order
	synced    uint64 // every one of them up to this is on disk
	running   bool   // an fsync is under way
	err       error  // the failed fsync, final
	dirIno    uint64 // the log file whose directory entry is on disk
}

func newWALSync(dbPath string) *walSync {
	w := &walSync{path: dbPath + "-wal", sync: (*os.File).Sync}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// wait returns once the commit that just returned is on disk, or with the
// error that keeps it from getting there.
func (w *walSync) wait() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.committed++
	mine := w.committed
	for w.synced < mine && w.err == nil {
		if w.running {
			w.cond.Wait()
			continue
		}
		// Nobody is syncing: this caller fsyncs for every commit counted
		// so far, each of which returned before the fsync begins.
		w.running = true
		target := w.committed
		w.mu.Unlock()
		err := w.syncLog()
		w.mu.Lock()
		w.running = false
		if err != nil {
			w.err = err
		} else {
			w.synced = target
		}
		w.cond.Broadcast()
	}
	return w.err
}

// syncLog fsyncs the log file and, the first time it sees this file (SQLite
// creates it on the first write after the last connection closed it), the
// directory holding its name.
func (w *walSync) syncLog() error {
	f, err := os.Open(w.path)
	if err != nil {
		return fmt.Errorf("store: sync write-ahead log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: sync write-ahead log: %w", err)
	}
	if err := w.sync(f); err != nil {
		return fmt.Errorf("store: sync write-ahead log: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Ino != w.dirIno {
		d, err := os.Open(filepath.Dir(w.path))
		if err != nil {
			return fmt.Errorf("store: sync database directory: %w", err)
		}
		defer d.Close()
		if err := w.sync(d); err != nil {
			return fmt.Errorf("store: sync database directory: %w", err)
		}
		if ok {
			w.dirIno = st.Ino // only the syncing caller touches it
		}
	}
	return nil
}
