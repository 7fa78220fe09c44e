package store

// SetWALSync replaces the sync with which DurableTx waits for the disk on
// SQLite (of the write-ahead log, and of its directory the first time it
// sees the log file); fn gets the file's path and descriptor.
func SetWALSync(db *DB, fn func(path string, fd int) error) { db.wal.sync = fn }

// Datasync is what DurableTx syncs with by default.
func Datasync(path string, fd int) error { return datasync(path, fd) }

// WALWaiting is how many durable commits have asked for an fsync so far.
func WALWaiting(db *DB) uint64 {
	db.wal.mu.Lock()
	defer db.wal.mu.Unlock()
	return db.wal.committed
}
