package store

import "context"

// OpenAt opens dsn with migrations applied up to version only, as a runcred
// of that schema version left it.
func OpenAt(ctx context.Context, dsn string, version int) (*DB, error) {
	db, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, version); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
