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
	path string                          // the database's -wal file
	sync func(path string, fd int) error // fdatasync, of the directory too; tests count and fail it

	mu        sync.Mutex
	cond      *sync.Cond
	committed uint64 // durable commits that returned, in order
	synced    uint64 // every one of them up to this is on disk
	running   bool   // an fsync is under way
	err       error  // the failed fsync, final

	// Only the syncing caller touches these: the log file held open
	// (SQLite creates it anew on the first write after the last
	// connection closed it, so its inode is checked before each sync).
	fd  int
	ino uint64
}

func newWALSync(dbPath string) *walSync {
	w := &walSync{path: dbPath + "-wal", sync: datasync, fd: -1}
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
		// Nobody is syncing: this caller syncs for every commit counted
		// so far, each of which returned before the sync begins.
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

// syncLog syncs the log file and, the first time it sees this file, the
// directory holding its name.
func (w *walSync) syncLog() error {
	var st syscall.Stat_t
	if err := syscall.Stat(w.path, &st); err != nil {
		return syncErr("write-ahead log", "stat", w.path, err)
	}
	if w.fd < 0 || st.Ino != w.ino {
		if w.fd >= 0 {
			syscall.Close(w.fd)
			w.fd = -1
		}
		fd, err := syscall.Open(w.path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return syncErr("write-ahead log", "open", w.path, err)
		}
		if err := syscall.Fstat(fd, &st); err != nil {
			syscall.Close(fd)
			return syncErr("write-ahead log", "fstat", w.path, err)
		}
		dir := filepath.Dir(w.path)
		dfd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err == nil {
			err = w.sync(dir, dfd)
			syscall.Close(dfd)
		}
		if err != nil {
			syscall.Close(fd)
			return syncErr("database directory", "sync", dir, err)
		}
		w.fd, w.ino = fd, st.Ino
	}
	if err := w.sync(w.path, w.fd); err != nil {
		return syncErr("write-ahead log", "sync", w.path, err)
	}
	return nil
}

// syncErr is the error of syncing what (the log, or its directory) when op
// on path failed.
func syncErr(what, op, path string, err error) error {
	return fmt.Errorf("store: sync %s: %w", what, &os.PathError{Op: op, Path: path, Err: err})
}

// close releases the log file held open.
func (w *walSync) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.running {
		w.cond.Wait()
	}
	if w.fd >= 0 {
		syscall.Close(w.fd)
		w.fd = -1
	}
}

// datasync flushes a file's data and what reading it back needs (its
// size), not its times: fdatasync, as SQLite syncs its own files. For a
// directory, its entries.
func datasync(_ string, fd int) error {
	for {
		err := syscall.Fdatasync(fd)
		if err != syscall.EINTR {
			return err
		}
	}
}
