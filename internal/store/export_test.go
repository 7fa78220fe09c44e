package store

import "os"

// SetWALSync replaces the fsync with which DurableTx waits for the disk on
// SQLite (of the write-ahead log, and of its directory the first time).
func SetWALSync(db *DB, fn func(*os.File) error) { db.wal.sync = fn }

// WALWaiting is how many durable commits have asked for an fsync so far.
func WALWaiting(db *DB) uint64 {
	db.wal.mu.Lock()
	defer db.wal.mu.Unlock()
	return db.wal.committed
}
